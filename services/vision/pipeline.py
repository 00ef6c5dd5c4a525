"""One camera's frames to findings: static-object detection, then the zone rules.

This first pipeline runs on the OpenCV detector alone (no model weights exist offline):
every static blob is an object of unknown kind. The YOLO stage that names objects and
finds people to ignore and blur comes on top of it (issue 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from services.config import Camera
from services.vision.rules import CameraRules, Detection, FindingEvent, RuleSettings
from services.vision.static_objects import StaticObjectDetector, StaticParams


class CameraPipeline:
    def __init__(self, camera: Camera, fps: float, params: StaticParams | None = None,
                 settings: RuleSettings | None = None) -> None:
        self.params = params or StaticParams()
        self._detector = StaticObjectDetector(fps, self.params)
        self._rules = CameraRules.for_camera(camera, settings)
        # a blob is reported once it has looked static for `evidence_s`
        self._static_for = timedelta(seconds=self.params.evidence_s)

    def step(self, t: datetime, frame: npt.NDArray[np.uint8]) -> list[FindingEvent]:
        blobs = self._detector.update(frame, t.timestamp())
        detections = [Detection(box=b.box, label="object", score=1.0, static=True,
                                static_for=self._static_for) for b in blobs]
        return self._rules.step(t, detections)


def replay(camera: Camera, frames: Iterator[tuple[float, npt.NDArray[np.uint8]]], fps: float,
           start: datetime) -> Iterator[tuple[float, FindingEvent]]:
    """Findings of a video, timed by the video itself: (seconds into it, event)."""
    pipeline = CameraPipeline(camera, fps)
    for seconds, frame in frames:
        for event in pipeline.step(start + timedelta(seconds=seconds), frame):
            yield seconds, event
