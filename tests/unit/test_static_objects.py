"""The static-object detector on generated scenes, judged against their ground truth."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from edge.scenes import iter_frames, plan_truth
from services.vision.static_objects import Box, StaticObjectDetector

FPS = 2.0
SETTLE_S = 15.0  # evidence (10 s) plus a margin: when a left object must be reported


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


@functools.cache
def run(kind: str, seconds: float, seed: int) \
        -> tuple[dict[str, Any], list[tuple[float, list[Box]]]]:
    """Ground truth and the detector's blobs per frame (cached: two tests read one run)."""
    truth = plan_truth(kind=kind, seconds=seconds, fps=FPS, seed=seed)
    detector = StaticObjectDetector(FPS)
    seen = [(t, [b.box for b in detector.update(frame)])
            for t, frame in iter_frames(kind=kind, seconds=seconds, fps=FPS, seed=seed)]
    return truth, seen


@pytest.mark.parametrize(("kind", "seed"), [("corridor", 1), ("corridor", 2),
                                            ("waste_station", 3)])
def test_left_objects_are_found_and_nothing_else(kind: str, seed: int) -> None:
    truth, seen = run(kind, 600.0, seed)
    conditions = truth["conditions"]
    assert conditions
    hits = checked = false_frames = 0
    for t, boxes in seen:
        ongoing = [c for c in conditions if c["start_s"] <= t < c["end_s"]]
        for c in ongoing:
            if c["start_s"] + SETTLE_S <= t:
                checked += 1
                hits += any(iou(b, tuple(c["box"])) >= 0.5 for b in boxes)
        # a blob that is not an object standing there now (or leaving a trace of it
        # for the few seconds the evidence takes to fade) is a false alarm
        recent = [c for c in conditions if c["start_s"] <= t < c["end_s"] + 10]
        if any(all(iou(b, tuple(c["box"])) < 0.2 for c in recent) for b in boxes):
            false_frames += 1
    recall = hits / checked
    assert recall >= 0.95, f"{kind}/{seed}: found in {recall:.0%} of frames"
    assert false_frames / len(seen) <= 0.02, f"{kind}/{seed}: {false_frames} frames"


def test_a_removed_object_is_forgotten() -> None:
    truth, seen = run("corridor", 600.0, 1)
    for c in truth["conditions"]:
        after = [boxes for t, boxes in seen if c["end_s"] + SETTLE_S <= t < c["end_s"] + 60]
        assert not any(iou(b, tuple(c["box"])) >= 0.5 for boxes in after for b in boxes)
