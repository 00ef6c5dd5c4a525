"""Evidence images: the object sharp, everything else blurred, zone and box drawn.

Privacy by construction: rather than trusting a person or face detector to find every
person (and no model is available offline), the whole frame is blurred except the found
object's own box, so people and faces anywhere else are unrecognisable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import cv2
import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]
Point = tuple[float, float]
ZONE_COLOUR = (0, 200, 255)  # amber, BGR
BOX_COLOUR = (0, 0, 255)


def evidence_jpeg(frame: npt.NDArray[np.uint8], box: Box, zone: Sequence[Point], at: datetime,
                  label: str, *, quality: int = 80) -> bytes:
    h, w = frame.shape[:2]
    x1, y1 = int(box[0] * w), int(box[1] * h)
    x2, y2 = max(x1 + 1, int(box[2] * w)), max(y1 + 1, int(box[3] * h))
    kernel = max(15, (w // 20) | 1)
    image = np.asarray(cv2.GaussianBlur(frame, (kernel, kernel), 0), dtype=np.uint8)
    image[y1:y2, x1:x2] = frame[y1:y2, x1:x2]
    polygon = np.array([[int(x * w), int(y * h)] for x, y in zone], np.int32)
    cv2.polylines(image, [polygon], isClosed=True, color=ZONE_COLOUR, thickness=2)
    cv2.rectangle(image, (x1, y1), (x2, y2), BOX_COLOUR, 2)
    stamp = f"{at.strftime('%Y-%m-%d %H:%M:%S %Z')}  {label}"
    cv2.putText(image, stamp, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3)
    cv2.putText(image, stamp, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(jpeg.tobytes())

