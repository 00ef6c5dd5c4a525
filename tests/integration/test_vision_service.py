"""Frames over MQTT → the vision service → findings → ingest → one camera ticket, with a
privacy-blurred evidence image, and the clearing recorded when the exit is free again."""

from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
from psycopg_pool import ConnectionPool

from edge.scenes import iter_frames, plan_truth, render_scene
from services.config import load_config
from services.contract import Frame, Kind, encode, topic
from services.ingest.processor import Processor
from services.ingest.service import IngestOptions, IngestService
from services.stack import start_broker
from services.store.tickets import TicketStore
from services.tickets import Source, State
from services.vision.service import VisionService
from tests.support.mqtt import Publisher, wait_until

ROOT = Path(__file__).parents[2]
CAMERA = "cam-b3-stairwell"
SECONDS, FPS = 330.0, 2.0  # seed 1: a bicycle blocks the exit from 25.5 s to 291.5 s


def test_a_blocked_exit_becomes_one_camera_ticket(pool: ConnectionPool, tmp_path: Path) -> None:
    truth = plan_truth(kind="corridor", seconds=SECONDS, fps=FPS, seed=1)
    bicycle = truth["conditions"][0]
    assert bicycle["rule"] == "blocked_fire_exit" and bicycle["end_s"] < SECONDS - 20
    estate = load_config(ROOT / "deploy" / "estate.example.yaml")
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    stop = threading.Event()
    vision = VisionService(estate, broker.url, client_id="test-vision")
    ingest = IngestService(Processor(pool, estate, tmp_path), broker.url,
                           IngestOptions(client_id="test-vision-ingest"))
    threads = [threading.Thread(target=s.run, args=(stop,), daemon=True)
               for s in (vision, ingest)]
    publisher = Publisher(broker.url)
    try:
        for t in threads:
            t.start()
        assert vision.connected.wait(10) and ingest.connected.wait(10)
        t0 = datetime.now(UTC) - timedelta(seconds=SECONDS)  # the scene played until now
        name = topic(estate.site.id, CAMERA, Kind.FRAME)
        for k, (seconds, frame) in enumerate(iter_frames(kind="corridor", seconds=SECONDS,
                                                         fps=FPS, seed=1)):
            ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
            assert ok
            body = encode(message_id=f"frame-test-{k:06d}", device_id=CAMERA,
                          sent_at=t0 + timedelta(seconds=seconds), seq=k,
                          payload=Frame(jpeg_b64=base64.b64encode(jpeg.tobytes()).decode(),
                                        width=640, height=360, motion=True))
            publisher.publish(name, body, qos=0)
            time.sleep(0.02)  # faster than real time, slower than the service drops frames
        assert wait_until(lambda: vision.frames >= SECONDS * FPS * 0.98, timeout=60)
        store = TicketStore(pool)

        def camera_tickets() -> list[int]:
            with pool.connection() as conn:
                # this run's only: other tests leave camera tickets of this camera too
                return [r[0] for r in conn.execute(
                    "SELECT id FROM tickets WHERE source = 'camera' AND finding_key LIKE %s"
                    " AND opened_at >= %s", (f"camera/{CAMERA}.exit.%", t0))]

        assert wait_until(lambda: len(camera_tickets()) == 1, timeout=30)
        ticket = store.get(camera_tickets()[0])
        assert ticket.source is Source.CAMERA and ticket.state is State.PENDING_CONFIRMATION
        assert ticket.category == "fire_exit" and ticket.area == "stairwell"
        detected = (ticket.opened_at - t0).total_seconds()
        assert bicycle["start_s"] - 3 <= detected <= bicycle["start_s"] + 10
        assert wait_until(lambda: any("zone clear" in h.note
                                      for h in store.history(ticket.id or 0)), timeout=30)
        photos = [h.data["photos"] for h in store.history(ticket.id or 0) if "photos" in h.data]
        assert len(photos) >= 2  # the blocked exit, and the exit clear again
        evidence = cv2.imread(str(tmp_path / photos[0]))
        assert evidence is not None and evidence.shape == (360, 640, 3)
        # the object's crop is kept with the ticket, for learning from the staff's verdict
        with pool.connection() as conn:
            crop_path, box = conn.execute(
                "SELECT e.crop_path, e.box FROM vision_examples e JOIN tickets t"
                " ON t.finding_key = e.finding_key WHERE t.id = %s", (ticket.id,)).fetchone()
        crop = cv2.imread(str(tmp_path / crop_path))
        assert crop is not None and crop.shape[0] < 360 and crop.shape[1] < 640
        assert 0 < box[0] < box[2] < 1 and 0 < box[1] < box[3] <= 1
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        publisher.close()
        broker.stop()


def test_a_camera_watched_directly_feeds_its_pipeline(tmp_path: Path) -> None:
    """`--source CAMERA=URL`: frames read from a video file (as from an RTSP URL), timed by
    the clock and thinned to the source rate, reach the camera's pipeline."""
    estate = load_config(ROOT / "deploy" / "estate.example.yaml")
    video = render_scene(tmp_path, kind="corridor", seconds=4.0, fps=10.0, seed=1).video
    with pytest.raises(ValueError, match="cam-nowhere"):
        VisionService(estate, "mqtt://127.0.0.1:1", sources={"cam-nowhere": str(video)})
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    vision = VisionService(estate, broker.url, client_id="test-vision-direct",
                           sources={CAMERA: str(video)}, source_fps=5.0)
    stop = threading.Event()
    thread = threading.Thread(target=vision.run, args=(stop,), daemon=True)
    started = time.monotonic()
    try:
        thread.start()
        # 4 s of video played at its own pace, 5 of its 10 frames a second analysed
        assert wait_until(lambda: vision.frames >= 18, timeout=20)
        assert time.monotonic() - started >= 3.0
        time.sleep(1.0)
        assert vision.frames <= 22
    finally:
        stop.set()
        thread.join(10)
        broker.stop()
