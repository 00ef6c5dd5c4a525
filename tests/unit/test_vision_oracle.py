"""The whole pipeline with a detector that sees exactly what the scene drew.

No trained model exists offline, so the YOLO stage is scripted here from the scene's own
labels (people, what they carry, what lies still, with stable track ids): this checks
motion gating, the merge and the rules on real frames, as a perfect model would drive
them. People standing still must never count; every condition is still found in time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge.scenes import Scene
from edge.scenes.labels import frame_labels
from services.config import load_config
from services.contract import Phase
from services.vision.pipeline import CameraPipeline
from services.vision.yolo import Sighting

T0 = datetime(2026, 1, 5, tzinfo=UTC)
ESTATE = load_config("deploy/estate.example.yaml")
CAMERAS = {"corridor": "cam-b3-stairwell", "waste_station": "cam-waste-station"}


@pytest.mark.parametrize(("kind", "seed", "seconds"),
                         [("corridor", 2, 900.0), ("waste_station", 1, 1500.0)])
def test_pipeline_with_a_perfect_detector_finds_every_condition(
        kind: str, seed: int, seconds: float) -> None:
    scene = Scene(kind, seconds, 2.0, seed)
    current = {"k": 0}

    def oracle(frame: np.ndarray) -> list[Sighting]:
        return [Sighting(lb.box, lb.name, 0.9, track_id=lb.ident)
                for lb in frame_labels(scene.plan, current["k"])]

    pipeline = CameraPipeline(ESTATE.camera(CAMERAS[kind]), scene.fps, detector=oracle)
    starts = []
    for k in range(scene.n_frames):
        current["k"] = k
        for event in pipeline.step(T0 + timedelta(seconds=k / scene.fps), scene.frame(k)):
            if event.phase is Phase.START:
                starts.append((k / scene.fps, event))
    expected = [c for c in scene.truth()["conditions"] if c["alarm_s"] is not None]
    assert expected
    for c in expected:
        hits = [e for s, e in starts if e.rule.value == c["rule"] and e.zone_id == c["zone_id"]
                and c["alarm_s"] - 3 <= s <= c["alarm_s"] + 10]
        assert len(hits) == 1, f"{c['rule']} at {c['start_s']} s: found {hits}"
    assert len(starts) == len(expected), [e for _, e in starts]
    # motion gating: YOLO ran on a fraction of the frames only
    assert 0 < pipeline.counts.yolo_runs < scene.n_frames
