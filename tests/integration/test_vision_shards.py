"""Vision workers sharded by camera (`sunlight vision --cameras … --client-id …`): each
worker subscribes to its own cameras' frames only, so two shards on one real Mosquitto
split the estate without either seeing the other's frames."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.config import load_config
from services.contract import Frame, Kind, encode, topic
from services.stack import find_mosquitto, start_broker
from services.vision.service import VisionService
from tests.support.mqtt import Publisher, wait_until

ROOT = Path(__file__).parents[2]
ESTATE = load_config(ROOT / "deploy" / "estate.example.yaml")


def _frame(camera: str, seq: int) -> tuple[str, bytes]:
    image = np.full((90, 160, 3), 128, np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    body = encode(message_id=f"shard-{camera}-{seq}", device_id=camera,
                  sent_at=datetime.now(UTC), seq=seq,
                  payload=Frame(jpeg_b64=base64.b64encode(jpeg.tobytes()).decode(),
                                width=160, height=90, motion=True))
    return topic(ESTATE.site.id, camera, Kind.FRAME), body


@pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed")
def test_each_shard_receives_only_its_cameras(tmp_path: Path) -> None:
    first, second = (c.id for c in ESTATE.cameras[:2])
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    stop = threading.Event()
    shards = [VisionService(ESTATE, broker.url, f"test-shard-{i}", cameras=[camera])
              for i, camera in enumerate((first, second))]
    received: list[list[str]] = [[], []]
    for shard, seen in zip(shards, received, strict=True):
        handler = shard._client.on_message

        def record(client: Any, userdata: Any, msg: Any, seen: list[str] = seen,
                   handler: Any = handler) -> None:
            seen.append(msg.topic)
            handler(client, userdata, msg)

        shard._client.on_message = record
    threads = [threading.Thread(target=s.run, args=(stop,), daemon=True) for s in shards]
    publisher = Publisher(broker.url)
    try:
        for t in threads:
            t.start()
        assert all(s.connected.wait(10) for s in shards)
        # three frames of the first camera, one of the second
        frames = [_frame(first, k) for k in range(3)] + [_frame(second, 0)]
        assert publisher.publish_all(frames) == 4
        assert wait_until(lambda: (shards[0].frames, shards[1].frames) == (3, 1), timeout=20)
        stop.wait(1.0)  # nothing else arrives later
        assert (shards[0].frames, shards[1].frames) == (3, 1)
        # the broker never sent a shard the other shard's frames (its subscription)
        assert received == [[frames[0][0]] * 3, [frames[3][0]]]
    finally:
        stop.set()
        publisher.close()
        for t in threads:
            t.join(10)
        broker.stop()


def test_a_shard_of_unknown_or_no_cameras_is_refused() -> None:
    with pytest.raises(ValueError, match="no camera cam-nowhere in the estate config"):
        VisionService(ESTATE, "mqtt://127.0.0.1:1", cameras=["cam-nowhere"])
    with pytest.raises(ValueError, match="no camera given"):
        VisionService(ESTATE, "mqtt://127.0.0.1:1", cameras=[])
    with pytest.raises(ValueError, match="among --cameras"):
        VisionService(ESTATE, "mqtt://127.0.0.1:1", cameras=[ESTATE.cameras[0].id],
                      sources={ESTATE.cameras[1].id: "video.mp4"})


def test_the_command_names_an_unknown_camera(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_URL", "mqtt://127.0.0.1:1")
    result = CliRunner().invoke(app, ["vision", "--cameras", f"{ESTATE.cameras[0].id},nope",
                                      "--client-id", "shard-x", "--metrics-port", "0"])
    assert result.exit_code == 2
    assert "no camera nope in the estate config" in result.output
