"""Frames from a video file, timed by the video itself (replay), or from a camera URL or
file as they come, timed by the clock (the service watching a camera directly)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)


def video_frames(path: Path, fps: float | None = None) \
        -> tuple[float, Iterator[tuple[float, npt.NDArray[np.uint8]]]]:
    """(the rate frames are taken at, (seconds, BGR frame) pairs); `fps` thins them out."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise OSError(f"cannot read video {path}")
    native = capture.get(cv2.CAP_PROP_FPS) or 25.0
    step = max(1, round(native / fps)) if fps else 1

    def frames() -> Iterator[tuple[float, npt.NDArray[np.uint8]]]:
        index = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                if index % step == 0:
                    yield index / native, np.asarray(frame, dtype=np.uint8)
                index += 1
        finally:
            capture.release()

    return native / step, frames()


def live_frames(source: str, fps: float, stop: threading.Event, *, retry_s: float = 5.0) \
        -> Iterator[tuple[datetime, npt.NDArray[np.uint8]]]:
    """Frames of a camera URL (RTSP, HTTP), a device number or a video file, as they come,
    at most `fps` a second, timed by the clock. A stream that breaks is reopened after
    `retry_s`; a file is played once, at its own pace."""
    is_file = Path(source).is_file()
    period = 1.0 / fps
    while not stop.is_set():
        capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
        if not capture.isOpened():
            log.warning("event=camera_unreachable source=%r retry_s=%g", source, retry_s)
            stop.wait(retry_s)
            continue
        native = capture.get(cv2.CAP_PROP_FPS) or 25.0
        next_at = 0.0
        try:
            while not stop.is_set():
                ok, frame = capture.read()
                if not ok:
                    break
                if is_file:
                    stop.wait(1.0 / native)  # a file plays at its own pace, like a camera
                now = time.monotonic()
                if now >= next_at:
                    next_at = max(next_at + period, now)
                    yield datetime.now(UTC), np.asarray(frame, dtype=np.uint8)
        finally:
            capture.release()
        if is_file:
            log.info("event=video_ended source=%r", source)
            return
        log.warning("event=camera_stream_broken source=%r retry_s=%g", source, retry_s)
        stop.wait(retry_s)
