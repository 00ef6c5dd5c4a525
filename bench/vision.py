"""Vision benchmark: frames per second per core of the OpenCV pipeline, and how well it
finds blocked exits and litter on generated scenes (precision, recall, delay).

Run: .venv/bin/python -m bench.vision [--seeds 4] [--seconds 900]

Frames are rendered first and kept in memory, so only the pipeline is timed (one
process, one thread). YOLO figures come with the YOLO stage (issue 5).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.scenes import iter_frames, plan_truth
from services.config import load_config
from services.contract import Phase
from services.vision.pipeline import CameraPipeline

T0 = datetime(2026, 1, 5, tzinfo=UTC)
CAMERAS = {"corridor": "cam-b3-stairwell", "waste_station": "cam-waste-station"}


def run(kind: str, seed: int, seconds: float, fps: float, people: bool = True) \
        -> tuple[float, list[tuple[float, Any]], dict[str, Any]]:
    estate = load_config("deploy/estate.example.yaml")
    frames = list(iter_frames(kind=kind, seconds=seconds, fps=fps, seed=seed, people=people))
    pipeline = CameraPipeline(estate.camera(CAMERAS[kind]), fps)
    events = []
    started = time.process_time()
    for s, frame in frames:
        for event in pipeline.step(T0 + timedelta(seconds=s), frame):
            events.append((s, event))
    rate = len(frames) / (time.process_time() - started)
    return rate, events, plan_truth(kind=kind, seconds=seconds, fps=fps, seed=seed)


def score(events: list[tuple[float, Any]], truth: dict[str, Any]) \
        -> tuple[int, int, int, list[float]]:
    """(true positives, false positives, missed, delays after the dwell in seconds)."""
    starts = [(s, e) for s, e in events if e.phase is Phase.START]
    expected = [c for c in truth["conditions"] if c["alarm_s"] is not None]
    used, delays = set(), []
    for c in expected:
        hit = next(((s, e) for s, e in starts if e.finding_id not in used
                    and e.rule.value == c["rule"] and e.zone_id == c["zone_id"]
                    and c["alarm_s"] - 3 <= s <= c["alarm_s"] + 30), None)
        if hit:
            used.add(hit[1].finding_id)
            delays.append(hit[0] - c["alarm_s"])
    tp = len(used)
    return tp, len(starts) - tp, len(expected) - tp, delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--fps", type=float, default=2.0)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; scenes: {args.seconds:.0f} s at {args.fps:g} fps, 640x360")
    quiet, _, _ = run("corridor", 1, 120.0, args.fps, people=False)
    busy, _, _ = run("corridor", 1, 120.0, args.fps)
    print(f"speed    static scene: {quiet:,.0f} frames/s per core;"
          f" busy scene (people): {busy:,.0f} frames/s per core")
    totals = [0, 0, 0]
    delays: list[float] = []
    for kind in ("corridor", "waste_station"):
        for seed in range(1, args.seeds + 1):
            seconds = args.seconds if kind == "corridor" else max(args.seconds, 1500.0)
            _, events, truth = run(kind, seed, seconds, args.fps)
            tp, fp, missed, d = score(events, truth)
            totals = [totals[0] + tp, totals[1] + fp, totals[2] + missed]
            delays += d
            print(f"  {kind:13s} seed {seed}: {tp} found, {fp} false alarms, {missed} missed")
    tp, fp, missed = totals
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + missed) if tp + missed else 1.0
    delays.sort()
    print(f"quality  precision {precision:.2f}, recall {recall:.2f} ({tp} conditions);"
          f" start after the dwell: median {delays[len(delays) // 2]:+.1f} s,"
          f" worst {delays[-1]:+.1f} s")


if __name__ == "__main__":
    main()
