"""Frames of a video file, timed by the video itself (frame index / its frame rate)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt


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
