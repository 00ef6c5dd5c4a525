"""Prometheus metrics of the vision service (served on /metrics with the others).

`sunlight_vision_detector_info` is the health line that says what the service runs on:
the OpenCV static-object detector alone, or with a YOLO model (which file, which runtime).
"""

from __future__ import annotations

from prometheus_client import Counter, Info

DETECTOR = Info("sunlight_vision_detector", "What the vision pipeline detects with")
FRAMES = Counter("sunlight_vision_frames_total", "Camera frames analysed")
STAGE_RUNS = Counter("sunlight_vision_stage_runs_total",
                     "Frames that ran a pipeline stage (the rest were gated off)", ["stage"])
FINDINGS = Counter("sunlight_vision_findings_total", "Finding events published", ["phase"])
BAD_FRAMES = Counter("sunlight_vision_bad_frames_total", "Frame messages that could not be used")
