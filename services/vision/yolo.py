"""Ultralytics YOLO behind a small adapter: frames in, tracked sightings out.

Ultralytics (and torch) are imported only when a model is loaded, so the vision service
and everything else run without them. The model file picks the runtime: `.pt` runs on
PyTorch, `.onnx` on ONNX Runtime, a `*_openvino_model/` folder on OpenVINO; all three
track with ByteTrack (`persist=True` keeps track ids from frame to frame).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

Box = tuple[float, float, float, float]
# ByteTrack (needs `lap`, installed up front). Its thresholds follow the detector's
# confidence, so that every sighting the service accepts can be tracked; the buffer keeps
# a lost track for 30 frames (an occlusion by a passer-by). Matching goes by box overlap
# alone (no score fusion): what matters here stands still, and a faint object near the
# confidence floor must keep its id as well as a clear one.
TRACKER: dict[str, Any] = {
    "tracker_type": "bytetrack",
    "track_low_thresh": 0.1,
    "track_buffer": 30,
    "match_thresh": 0.8,
    "fuse_score": False,
}


@dataclass(frozen=True, slots=True)
class Sighting:
    """One object the model saw in one frame."""

    box: Box  # x1, y1, x2, y2 normalised 0..1
    label: str
    score: float
    track_id: int | None


class ModelError(RuntimeError):
    """The model file cannot be used (missing, unreadable, or Ultralytics not installed)."""


def runtime_of(path: Path) -> str:
    if path.suffix == ".onnx":
        return "onnxruntime"
    if path.name.endswith("_openvino_model"):
        return "openvino"
    return "pytorch"


class YoloDetector:
    def __init__(self, model_path: Path, *, imgsz: int = 640, confidence: float = 0.25,
                 track: bool = True) -> None:
        if not model_path.exists():
            raise ModelError(f"model {model_path} does not exist")
        os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach for the network
        try:
            from ultralytics import YOLO  # type: ignore[attr-defined]
        except ImportError as exc:
            raise ModelError("the YOLO stage needs the vision extra: "
                             "pip install 'sunlight[vision]'") from exc
        self.path = model_path
        self.runtime = runtime_of(model_path)
        self.imgsz = imgsz
        self.confidence = confidence
        self._track = track
        try:
            self._model: Any = YOLO(str(model_path), task="detect")
            # the runtime loads the network on first use: do it now, so that a bad file
            # fails at start and the first real frame is not slow
            self._model.predict(np.zeros((imgsz, imgsz, 3), np.uint8), imgsz=imgsz,
                                verbose=False)
        except Exception as exc:  # Ultralytics raises many kinds for a bad file
            raise ModelError(f"cannot load model {model_path}: {exc}") from exc
        self.names: dict[int, str] = {int(k): str(v) for k, v in self._model.names.items()}
        self._tracker_dir = tempfile.TemporaryDirectory(prefix="sunlight-tracker-")
        self._tracker = Path(self._tracker_dir.name) / "bytetrack.yaml"
        self._tracker.write_text(yaml.safe_dump({
            **TRACKER, "track_high_thresh": confidence, "new_track_thresh": confidence,
            "track_low_thresh": min(TRACKER["track_low_thresh"], confidence)}))

    def __call__(self, frame: npt.NDArray[np.uint8]) -> list[Sighting]:
        """The sightings in one BGR frame; track ids persist across calls."""
        options: dict[str, Any] = {"imgsz": self.imgsz, "conf": self.confidence,
                                   "verbose": False}
        if self._track:
            results = self._model.track(frame, persist=True, tracker=str(self._tracker),
                                        **options)
        else:
            results = self._model.predict(frame, **options)
        boxes = results[0].boxes
        if boxes is None or len(boxes) == 0:
            return []
        xyxyn = boxes.xyxyn.cpu().numpy()
        classes = boxes.cls.cpu().numpy().astype(int)
        scores = boxes.conf.cpu().numpy()
        ids = boxes.id.cpu().numpy().astype(int) if boxes.id is not None else None
        return [
            Sighting(
                box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                label=self.names.get(int(c), str(c)),
                score=float(s),
                track_id=int(ids[i]) if ids is not None else None,
            )
            for i, (b, c, s) in enumerate(zip(xyxyn, classes, scores, strict=True))
        ]

    def describe(self) -> str:
        return f"yolo:{self.runtime}:{self.path.name}@{self.imgsz}"
