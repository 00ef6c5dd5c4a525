"""Static objects that no model needs to know: a long-term and a short-term background.

The short-term background absorbs anything that stops moving within seconds; the
long-term one keeps the empty scene for many minutes. A pixel that differs from the
long-term background but not from the short-term one belongs to something that arrived
and stayed: a box, a bicycle, a bag. People walking differ from both and never count.
Evidence builds per pixel while that holds and fades fast when it does not, so a passing
person who stops for a few seconds is forgotten. Global brightness is compensated before
comparing, so lights switching or dimming do not look like new objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in 0..1


@dataclass(frozen=True)
class StaticBlob:
    box: Box
    area: float  # share of the frame


@dataclass(frozen=True)
class StaticParams:
    width: int = 320  # analysis width: enough for a bottle at 640x360, cheap per frame
    difference: float = 18.0  # grey levels (after gain compensation) that count as changed
    short_term_s: float = 3.0  # time constant of the short-term background
    long_term_s: float = 200.0  # of the long-term one, where nothing is in front of it
    evidence_s: float = 10.0  # how long a pixel must look static before it counts
    min_area: float = 0.0002  # smallest blob kept, as a share of the frame


def _level(image: npt.NDArray[np.float32]) -> float:
    """The scene's brightness: a median (robust to objects), on a sparse grid for speed."""
    return float(np.median(image[::4, ::4]))


class StaticObjectDetector:
    def __init__(self, fps: float, params: StaticParams = StaticParams()) -> None:
        self._params = params
        self._period = 1.0 / fps  # the gap assumed when frames come without times
        self._needed = params.evidence_s
        self._last_s: float | None = None
        self._long: npt.NDArray[np.float32] | None = None
        self._short: npt.NDArray[np.float32] | None = None
        self._evidence: npt.NDArray[np.float32] | None = None
        self._kernel = np.ones((5, 5), np.uint8)

    def update(self, frame: npt.NDArray[np.uint8], at_s: float | None = None) \
            -> list[StaticBlob]:
        """Feed the next frame (BGR), taken at `at_s` seconds on any clock; returns what has
        stood still long enough. Times matter when frames come irregularly (the edge sends
        frames on motion and a keyframe now and then): evidence and learning go by time."""
        dt = self._period
        if at_s is not None:
            if self._last_s is not None:
                dt = max(0.0, at_s - self._last_s)
            self._last_s = at_s
        alpha_short = 1.0 - math.exp(-dt / self._params.short_term_s)
        alpha_long = 1.0 - math.exp(-dt / self._params.long_term_s)
        image = self._prepare(frame)
        if self._long is None or self._short is None or self._evidence is None:
            self._long, self._short = image.copy(), image.copy()
            self._evidence = np.zeros(image.shape[:2], np.float32)
            return []
        level = _level(image)
        for_long = image * (_level(self._long) / max(level, 1.0))
        for_short = image * (_level(self._short) / max(level, 1.0))
        threshold = self._params.difference
        # colour, not grey: a green bottle on a grey floor can have the floor's brightness
        differs_long = np.abs(for_long - self._long).max(axis=2) > threshold
        differs_short = np.abs(for_short - self._short).max(axis=2) > threshold
        static = differs_long & ~differs_short
        # capped, so that evidence fades within seconds once the object is gone
        self._evidence = np.where(
            static,
            np.minimum(self._evidence + dt, self._needed * 1.5),
            np.maximum(self._evidence - 3 * dt, 0),
        )
        cv2.accumulateWeighted(for_short, self._short, alpha_short)
        # the long-term background learns only where nothing stands in front of it
        cv2.accumulateWeighted(
            for_long, self._long, alpha_long, mask=(~differs_long).astype(np.uint8)
        )
        return self._blobs(self._evidence >= self._needed)

    def _prepare(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        h, w = frame.shape[:2]
        width = self._params.width
        small = cv2.resize(frame, (width, max(1, h * width // w)), interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.GaussianBlur(small.astype(np.float32), (3, 3), 0), dtype=np.float32)

    def _blobs(self, mask: npt.NDArray[np.bool_]) -> list[StaticBlob]:
        closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, self._kernel)
        count, _, stats, _ = cv2.connectedComponentsWithStats(closed)
        h, w = closed.shape
        blobs = []
        for x, y, bw, bh, area in stats[1:count]:
            share = float(area) / (w * h)
            if share >= self._params.min_area:
                blobs.append(StaticBlob((x / w, y / h, (x + bw) / w, (y + bh) / h), share))
        return blobs
