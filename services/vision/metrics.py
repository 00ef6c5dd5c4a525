"""Prometheus metrics of the vision service (served on /metrics with the others).

`sunlight_vision_detector_info` is the health line that says what the service runs on:
the OpenCV static-object detector alone, or with a YOLO model (which file, which runtime).
Every frame received is accounted for: analysed, dropped unanalysed (the backlog was
full, oldest first), or unusable (bad frames).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, Info

DETECTOR = Info("sunlight_vision_detector", "What the vision pipeline detects with")
RECEIVED = Counter("sunlight_vision_frames_received_total", "Camera frame messages received")
FRAMES = Counter("sunlight_vision_frames_total", "Camera frames analysed")
DROPPED = Counter("sunlight_vision_frames_dropped_total",
                  "Frames dropped unanalysed because the backlog was full (oldest first)")
LAG = Histogram("sunlight_vision_frame_lag_seconds",
                "From the frame's capture time to the end of its analysis",
                buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
STAGE_RUNS = Counter("sunlight_vision_stage_runs_total",
                     "Frames that ran a pipeline stage (the rest were gated off)", ["stage"])
FINDINGS = Counter("sunlight_vision_findings_total", "Finding events published", ["phase"])
BAD_FRAMES = Counter("sunlight_vision_bad_frames_total", "Frame messages that could not be used")
