"""A camera through OpenCV and the real broker: motion frames sent, still ones not."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.camera import CameraStats, MotionGate, run_camera
from edge.config import CameraSource
from edge.link import DeviceLink
from edge.outbox import Outbox
from services.contract import Frame, Kind, decode
from services.stack import start_broker
from tests.support.mqtt import wait_until

SITE = "yangguang-garden"


def write_video(path: Path, frames: int = 60) -> None:
    """A still grey scene; a bright square moves through frames 20–39 only."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    rng = np.random.default_rng(1)
    for i in range(frames):
        frame = np.full((240, 320, 3), 90, np.uint8)
        frame += rng.integers(0, 4, frame.shape, dtype=np.uint8)  # sensor noise
        if 20 <= i < 40:
            x = 20 + (i - 20) * 12
            frame[100:160, x:x + 50] = 230
        writer.write(frame)
    writer.release()


def test_motion_gate_ignores_noise_and_sees_movement() -> None:
    gate = MotionGate(threshold=0.002)
    rng = np.random.default_rng(2)
    still = np.full((240, 320, 3), 90, np.uint8)
    assert gate.moved(still)  # the first frame is always news
    assert not any(gate.moved(still + rng.integers(0, 4, still.shape, dtype=np.uint8))
                   for _ in range(10))
    moved = still.copy()
    moved[100:160, 100:150] = 230
    assert gate.moved(moved)


def test_camera_publishes_motion_frames_and_keyframes(tmp_path: Path) -> None:
    video = tmp_path / "scene.mp4"
    write_video(video)
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    got: queue.Queue[bytes] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.put(m.payload)
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe(f"sunlight/v1/{SITE}/cam-test/frame", qos=1)
    sub.loop_start()
    link = DeviceLink(site=SITE, device="cam-test", url=broker.url,
                      outbox=Outbox(tmp_path / "q.sqlite"))
    link.start()
    try:
        assert link.connected.wait(10)
        camera = CameraSource(device="cam-test", source=str(video), fps=10, loop=False,
                              realtime=False, keyframe_every=3600, max_width=160)
        stop = threading.Event()
        stats = CameraStats()
        # a file that does not loop ends: run until all its frames were read
        runner = threading.Thread(target=run_camera, args=(camera, link, stop, stats))
        runner.start()
        while stats.read < 60 and runner.is_alive():
            runner.join(0.1)
        stop.set()
        runner.join(10)
        # frames go at QoS 0 as they are taken: let the last ones arrive
        assert wait_until(lambda: got.qsize() >= stats.sent, timeout=10)
        frames = []
        while not got.empty():
            frames.append(decode(Kind.FRAME, got.get()).payload)
        assert stats.read >= 60
        assert 15 <= stats.sent <= 25, stats  # the first frame and the moving square
        assert stats.skipped_still >= 35
        assert all(isinstance(f, Frame) and f.width == 160 and f.height == 120
                   for f in frames)
        assert frames and frames[0].keyframe and sum(f.motion for f in frames) >= 15
        jpeg = cv2.imdecode(np.frombuffer(frames[-1].jpeg(), np.uint8), cv2.IMREAD_COLOR)
        assert jpeg.shape == (120, 160, 3)
    finally:
        link.stop()
        sub.loop_stop()
        broker.stop()
