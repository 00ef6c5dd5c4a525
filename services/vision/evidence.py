"""Evidence images: the object sharp, everything else blurred, zone and box drawn.

Privacy by construction: rather than trusting a person or face detector to find every
person, the whole frame is blurred except the found object's own box, so people and
faces anywhere else are unrecognisable. Where YOLO saw people, their boxes are blurred
too, even where they overlap the object's box.
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
                  label: str, *, people: Sequence[Box] = (), quality: int = 80) -> bytes:
    h, w = frame.shape[:2]
    x1, y1 = int(box[0] * w), int(box[1] * h)
    x2, y2 = max(x1 + 1, int(box[2] * w)), max(y1 + 1, int(box[3] * h))
    kernel = max(15, (w // 20) | 1)
    image = np.asarray(cv2.GaussianBlur(frame, (kernel, kernel), 0), dtype=np.uint8)
    sharp = frame[y1:y2, x1:x2].copy()
    for px1, py1, px2, py2 in people:  # a person overlapping the object stays blurred
        ax1, ay1 = max(int(px1 * w), x1) - x1, max(int(py1 * h), y1) - y1
        ax2, ay2 = min(int(px2 * w) + 1, x2) - x1, min(int(py2 * h) + 1, y2) - y1
        if ax1 < ax2 and ay1 < ay2:
            sharp[ay1:ay2, ax1:ax2] = image[y1 + ay1:y1 + ay2, x1 + ax1:x1 + ax2]
    image[y1:y2, x1:x2] = sharp
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



def training_crop(frame: npt.NDArray[np.uint8], box: Box, *, people: Sequence[Box] = (),
                  margin: float = 0.5, quality: int = 90) -> tuple[bytes, Box]:
    """The object with `margin` times its size of context on each side, not annotated,
    with the people the detector saw blurred: a training example. Returns the JPEG and
    the object's box inside it (normalised)."""
    h, w = frame.shape[:2]
    bw, bh = (box[2] - box[0]) * w, (box[3] - box[1]) * h
    cx1, cy1 = max(0, int(box[0] * w - margin * bw)), max(0, int(box[1] * h - margin * bh))
    cx2 = min(w, max(cx1 + 1, int(box[2] * w + margin * bw + 1)))
    cy2 = min(h, max(cy1 + 1, int(box[3] * h + margin * bh + 1)))
    crop = frame[cy1:cy2, cx1:cx2].copy()
    ch, cw = crop.shape[:2]
    kernel = max(15, (w // 20) | 1)
    for px1, py1, px2, py2 in people:
        ax1, ay1 = max(int(px1 * w) - cx1, 0), max(int(py1 * h) - cy1, 0)
        ax2, ay2 = min(int(px2 * w) + 1 - cx1, cw), min(int(py2 * h) + 1 - cy1, ch)
        if ax1 < ax2 and ay1 < ay2:
            crop[ay1:ay2, ax1:ax2] = cv2.GaussianBlur(crop[ay1:ay2, ax1:ax2], (kernel, kernel), 0)
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    inside = ((box[0] * w - cx1) / cw, (box[1] * h - cy1) / ch,
              (box[2] * w - cx1) / cw, (box[3] * h - cy1) / ch)
    x1, y1, x2, y2 = (min(1.0, max(0.0, v)) for v in inside)
    return bytes(jpeg.tobytes()), (x1, y1, x2, y2)
