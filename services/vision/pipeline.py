"""One camera's frames to findings: motion gating, static objects, YOLO, then the rules.

Per frame:

1. Motion gating (`motion`): a cheap look at a small grey frame.
2. Static-object detection (`static_objects`) with a long-term and a short-term
   background: it finds anything that arrived and stayed, known to a model or not. It
   runs on frames with motion and, when nothing moves, once per `keyframe_every` (its
   evidence and learning go by time, so skipped frames lose nothing but latency).
3. YOLO with tracking (`yolo`), when a model is configured: people (never counted,
   blurred in evidence) and names for objects. It runs on frames with motion, when the
   static objects change, and once per `yolo_every` otherwise; between runs the last
   sightings stand (nothing moved).
4. The merge (`fusion`) and the zone rules (`rules`).

Without a model the pipeline runs on the OpenCV static detector alone: objects are of
unknown kind, and people are kept out by the static test itself (a walking person is
never static; one standing still is forgotten within seconds of leaving).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from services.config import Camera
from services.vision.fusion import FusionSettings, Stillness, fuse
from services.vision.motion import MotionDetector
from services.vision.rules import CameraRules, FindingEvent, RuleSettings
from services.vision.static_objects import StaticBlob, StaticObjectDetector, StaticParams
from services.vision.yolo import Box, Sighting

Image = npt.NDArray[np.uint8]
Detector = Callable[[Image], list[Sighting]]


@dataclass(frozen=True)
class GateSettings:
    enabled: bool = True
    keyframe_every: timedelta = timedelta(seconds=2)  # static stage when nothing moves
    yolo_every: timedelta = timedelta(seconds=5)  # YOLO stage when nothing moves


@dataclass
class StageCounts:
    frames: int = 0
    moving: int = 0
    static_runs: int = 0
    yolo_runs: int = 0


class CameraPipeline:
    def __init__(self, camera: Camera, fps: float, params: StaticParams | None = None,
                 settings: RuleSettings | None = None, *, detector: Detector | None = None,
                 gate: GateSettings | None = None, fusion: FusionSettings | None = None) \
            -> None:
        self.params = params or StaticParams()
        self.gate = gate or GateSettings()
        self._fusion = fusion or FusionSettings()
        self._motion = MotionDetector()
        self._static = StaticObjectDetector(fps, self.params)
        self._detector = detector
        self._stillness = Stillness(self._fusion)
        self._rules = CameraRules.for_camera(camera, settings)
        # a blob is reported once it has looked static for `evidence_s`
        self._evidence = timedelta(seconds=self.params.evidence_s)
        self._blobs: list[StaticBlob] = []
        self._sightings: list[Sighting] = []
        self._still_for: dict[int, timedelta] = {}
        self._last_static: datetime | None = None
        self._last_yolo: datetime | None = None
        self.counts = StageCounts()

    @property
    def people(self) -> list[Box]:
        """The people YOLO saw in the latest analysed frame (to blur in evidence)."""
        return [s.box for s in self._sightings if s.label in self._fusion.person_labels]

    def step(self, t: datetime, frame: Image) -> list[FindingEvent]:
        self.counts.frames += 1
        moving = bool(self._motion.update(frame)) if self.gate.enabled else True
        self.counts.moving += moving
        blobs_changed = False
        if moving or self._due(self._last_static, t, self.gate.keyframe_every):
            blobs = self._static.update(frame, t.timestamp())
            blobs_changed = _boxes(blobs) != _boxes(self._blobs)
            self._blobs, self._last_static = blobs, t
            self.counts.static_runs += 1
        if self._detector is not None and (
            moving or blobs_changed or self._due(self._last_yolo, t, self.gate.yolo_every)
        ):
            self._sightings = self._detector(frame)
            self._still_for = self._stillness.update(t, self._sightings)
            self._last_yolo = t
            self.counts.yolo_runs += 1
        detections = fuse(self._blobs, self._sightings, self._still_for, self._evidence,
                          self._fusion)
        return self._rules.step(t, detections)

    def _due(self, last: datetime | None, t: datetime, every: timedelta) -> bool:
        return not self.gate.enabled or last is None or t - last >= every


def _boxes(blobs: Sequence[StaticBlob]) -> list[Box]:
    return [b.box for b in blobs]


def replay(camera: Camera, frames: Iterator[tuple[float, Image]], fps: float,
           start: datetime, detector: Detector | None = None) \
        -> Iterator[tuple[float, FindingEvent]]:
    """Findings of a video, timed by the video itself: (seconds into it, event)."""
    pipeline = CameraPipeline(camera, fps, detector=detector)
    for seconds, frame in frames:
        for event in pipeline.step(start + timedelta(seconds=seconds), frame):
            yield seconds, event
