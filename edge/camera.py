"""Cameras through OpenCV: read frames, gate them on motion, publish JPEGs.

Only frames with motion are sent (plus a keyframe every N seconds, so that the vision
service also sees a scene go back to normal), downscaled and JPEG-encoded here: the edge
spends a little CPU so that the network and the vision service spend much less.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

from edge.config import CameraSource, seconds
from edge.link import DeviceLink
from services.contract import MAX_BYTES, Frame, Kind, encode, topic

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]


class MotionGate:
    """Changed-pixel share against a slowly adapting background (ignores noise and slow light)."""

    def __init__(self, threshold: float, width: int = 160) -> None:
        self._threshold = threshold
        self._width = width
        self._background: npt.NDArray[np.float32] | None = None

    def moved(self, frame: Image) -> bool:
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (self._width, max(1, h * self._width // w)))
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        if self._background is None:
            self._background = gray.astype(np.float32)
            return True
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self._background))
        cv2.accumulateWeighted(gray, self._background, 0.05)
        changed = float(np.count_nonzero(diff > 25)) / diff.size
        return changed >= self._threshold


def open_capture(source: str) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise OSError(f"cannot open camera source {source!r}")
    return capture


def frames(camera: CameraSource, stop: threading.Event) -> Iterator[Image]:
    """Frames at the configured rate; a file loops, a stream is reopened when it breaks."""
    capture = open_capture(camera.source)
    period = 1.0 / camera.fps
    source_fps = capture.get(cv2.CAP_PROP_FPS) or camera.fps
    skip = max(1, round(source_fps / camera.fps))
    next_at = time.monotonic()
    n = 0
    try:
        while not stop.is_set():
            ok, frame = capture.read()
            if not ok:
                if not camera.source.startswith(("rtsp:", "http:", "https:")):
                    if not camera.loop:
                        return  # the end of a file
                    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                log.warning("event=camera_reopen device=%s", camera.device)
                capture.release()
                stop.wait(2)
                capture = open_capture(camera.source)
                continue
            n += 1
            if n % skip:
                continue
            if camera.realtime:
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    stop.wait(delay)
                else:
                    next_at = time.monotonic()
            yield np.asarray(frame, dtype=np.uint8)
    finally:
        capture.release()


@dataclass
class CameraStats:
    read: int = 0
    sent: int = 0
    skipped_still: int = 0
    dropped_offline: int = 0


def encode_frame(frame: Image, camera: CameraSource, *, keyframe: bool, motion: bool) -> Frame:
    h, w = frame.shape[:2]
    if w > camera.max_width:
        frame = np.asarray(cv2.resize(frame, (camera.max_width, h * camera.max_width // w),
                                      interpolation=cv2.INTER_AREA), dtype=np.uint8)
        h, w = frame.shape[:2]
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return Frame(jpeg_b64=base64.b64encode(jpeg.tobytes()).decode(), width=w, height=h,
                 keyframe=keyframe, motion=motion)


def run_camera(camera: CameraSource, link: DeviceLink, stop: threading.Event,
               stats: CameraStats | None = None) -> CameraStats:
    stats = stats or CameraStats()
    gate = MotionGate(camera.motion_threshold)
    keyframe_every = timedelta(seconds=seconds(camera.keyframe_every))
    last_sent: datetime | None = None
    name = topic(link.site, link.device, Kind.FRAME)
    for frame in frames(camera, stop):
        stats.read += 1
        now = datetime.now(UTC)
        motion = gate.moved(frame)
        keyframe = last_sent is None or now - last_sent >= keyframe_every
        if not (motion or keyframe):
            stats.skipped_still += 1
            continue
        seq = link.next_seq()
        body = encode(message_id=link.message_id(seq), device_id=link.device, sent_at=now,
                      seq=seq, payload=encode_frame(frame, camera, keyframe=keyframe,
                                                    motion=motion))
        if len(body) > MAX_BYTES[Kind.FRAME]:
            log.warning("event=frame_too_big device=%s bytes=%d", link.device, len(body))
            continue
        if link.publish_now(name, body):
            stats.sent += 1
            last_sent = now
        else:
            stats.dropped_offline += 1
    return stats
