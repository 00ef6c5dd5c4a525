"""Motion gating, as Frigate does it: a cheap look at a small grey frame decides whether
the expensive stages run at all.

Each frame is compared with a running average of the last few frames; pixels that
differ by more than `threshold` grey levels are motion, and their connected regions are
returned. The average adapts within about a second, so noise and slow lighting changes
make no regions; a gain step (lights switched) makes one frame of motion everywhere,
which only costs one analysed frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class MotionParams:
    width: int = 160  # analysis width in pixels
    threshold: int = 20  # grey levels
    alpha: float = 0.3  # weight of the newest frame in the running average
    min_area: float = 0.0004  # smallest region kept, as a share of the frame


class MotionDetector:
    def __init__(self, params: MotionParams = MotionParams()) -> None:
        self._params = params
        self._average: npt.NDArray[np.float32] | None = None
        self._kernel = np.ones((3, 3), np.uint8)

    def update(self, frame: npt.NDArray[np.uint8]) -> list[Box]:
        """The moving regions of this BGR frame (normalised boxes); the first frame moves
        everywhere, since nothing is known yet."""
        h, w = frame.shape[:2]
        width = self._params.width
        small = cv2.resize(frame, (width, max(1, h * width // w)), interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        if self._average is None:
            self._average = grey.astype(np.float32)
            return [(0.0, 0.0, 1.0, 1.0)]
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(self._average))
        cv2.accumulateWeighted(grey, self._average, self._params.alpha)
        mask = cv2.dilate((diff > self._params.threshold).astype(np.uint8), self._kernel)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        gh, gw = mask.shape
        regions: list[Box] = []
        for x, y, bw, bh, area in stats[1:count]:
            if area / (gw * gh) >= self._params.min_area:
                regions.append((x / gw, y / gh, (x + bw) / gw, (y + bh) / gh))
        return regions
