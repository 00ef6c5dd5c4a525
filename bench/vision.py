"""Vision benchmark: frames per second per core of the whole pipeline, YOLO inference
time per runtime, and how well the pipeline finds blocked exits and litter on generated
scenes (precision, recall, delay).

Run: .venv/bin/python -m bench.vision [--seeds 4] [--seconds 900] [--no-yolo]

Frames are rendered first and kept in memory, so only the pipeline is timed (one
process; frames/s per core is frames over CPU time). YOLO times are for a yolo11n
network built from `yolo11n.yaml` (no weights exist offline; the time does not depend on
the weights), exported to ONNX and OpenVINO at each size, median of 30 frames after a
warm-up, on all cores of this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.scenes import iter_frames, plan_truth
from services.config import load_config
from services.contract import Phase
from services.vision.pipeline import CameraPipeline, Detector, GateSettings

T0 = datetime(2026, 1, 5, tzinfo=UTC)
CAMERAS = {"corridor": "cam-b3-stairwell", "waste_station": "cam-waste-station"}
ESTATE = load_config("deploy/estate.example.yaml")


def run(kind: str, seed: int, seconds: float, fps: float, *, people: bool = True,
        gate: bool = True, detector: Detector | None = None) \
        -> tuple[float, list[tuple[float, Any]], dict[str, Any], CameraPipeline]:
    frames = list(iter_frames(kind=kind, seconds=seconds, fps=fps, seed=seed, people=people))
    pipeline = CameraPipeline(ESTATE.camera(CAMERAS[kind]), fps, detector=detector,
                              gate=GateSettings(enabled=gate))
    events = []
    started = time.process_time()
    for s, frame in frames:
        for event in pipeline.step(T0 + timedelta(seconds=s), frame):
            events.append((s, event))
    cpu = time.process_time() - started
    return len(frames) / cpu, events, plan_truth(kind=kind, seconds=seconds, fps=fps,
                                                 seed=seed), pipeline


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


def speed(fps: float) -> None:
    print("pipeline speed, OpenCV stages (frames/s per core, 640x360):")
    for gate in (True, False):
        quiet, *_ = run("corridor", 1, 120.0, fps, people=False, gate=gate)
        busy, _, _, p = run("corridor", 1, 120.0, fps, gate=gate)
        label = "with motion gating   " if gate else "without motion gating"
        print(f"  {label}: static scene {quiet:6,.0f}   busy scene (people) {busy:6,.0f}"
              f"   (busy: static stage on {p.counts.static_runs / p.counts.frames:.0%}"
              " of frames)")


def yolo_models(root: Path) -> dict[tuple[str, int], Path]:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO  # type: ignore[attr-defined]

    weights = root / "yolo11n.pt"
    YOLO("yolo11n.yaml").save(str(weights))
    models: dict[tuple[str, int], Path] = {}
    for size in (320, 640):
        models["pytorch", size] = weights
        for fmt in ("onnx", "openvino"):
            target = root / f"{fmt}-{size}"
            target.mkdir()
            (target / "yolo11n.pt").symlink_to(weights)
            try:
                exported = YOLO(str(target / "yolo11n.pt")).export(format=fmt, imgsz=size)
            except Exception as exc:  # the runtime is not installable here
                print(f"  {fmt} at {size}: not available ({exc})")
                continue
            models["onnxruntime" if fmt == "onnx" else fmt, size] = Path(exported)
    return models


def yolo(fps: float) -> None:
    from services.vision.yolo import YoloDetector

    frames = [f for _, f in iter_frames(kind="corridor", seconds=20.0, fps=fps, seed=1)]
    print("YOLO inference, yolo11n, ms per frame (median of 30, all cores):")
    with tempfile.TemporaryDirectory() as tmp:
        models = yolo_models(Path(tmp))
        for size in (320, 640):
            row = []
            for runtime in ("pytorch", "onnxruntime", "openvino"):
                path = models.get((runtime, size))
                if path is None:
                    row.append(f"{runtime} n/a")
                    continue
                detector = YoloDetector(path, imgsz=size, track=False)
                times = []
                for i in range(35):
                    started = time.perf_counter()
                    detector(frames[i % len(frames)])
                    times.append(time.perf_counter() - started)
                row.append(f"{runtime} {1000 * statistics.median(times[5:]):6.1f}")
            print(f"  imgsz {size}: " + "   ".join(row))
        onnx = models.get(("onnxruntime", 320))
        if onnx is not None:
            for people in (False, True):
                rate, _, _, p = run("corridor", 1, 120.0, fps, people=people,
                                    detector=YoloDetector(onnx, imgsz=320))
                print(f"  whole pipeline with YOLO (ONNX Runtime, 320, tracking), "
                      f"{'busy' if people else 'static'} scene: {rate:,.1f} frames/s per core"
                      f" (YOLO on {p.counts.yolo_runs / p.counts.frames:.0%} of frames)")


def quality(seeds: int, seconds: float, fps: float) -> None:
    totals = [0, 0, 0]
    delays: list[float] = []
    for kind in ("corridor", "waste_station"):
        for seed in range(1, seeds + 1):
            length = seconds if kind == "corridor" else max(seconds, 1500.0)
            _, events, truth, _ = run(kind, seed, length, fps)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--no-yolo", action="store_true", help="skip the YOLO timings")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; scenes: {args.seconds:.0f} s at {args.fps:g} fps, 640x360")
    speed(args.fps)
    if not args.no_yolo:
        yolo(args.fps)
    quality(args.seeds, args.seconds, args.fps)


if __name__ == "__main__":
    main()
