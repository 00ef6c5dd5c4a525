"""python -m edge.scenes OUT_DIR [--seconds 600] [--fps 5] [--seed 1] [--size 640x360]
[--kind corridor|waste_station]: render a scene to OUT_DIR/<name>.mp4 and <name>.truth.json."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from edge.scenes.generator import render_scene
from edge.scenes.geometry import KINDS


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size {text!r}: write WIDTHxHEIGHT, e.g. 640x360"
        ) from None
    if w < 32 or h < 18:
        raise argparse.ArgumentTypeError(f"size {text!r}: at least 32x18")
    return w, h


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge.scenes",
        description="Render a synthetic camera scene (MP4) with its ground truth (JSON).",
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=_size, default=(640, 360), help="WIDTHxHEIGHT")
    parser.add_argument("--kind", choices=KINDS, default="corridor")
    parser.add_argument("--name", help="file name stem (default: from the parameters)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.fps <= 0:
        parser.error("--seconds and --fps must be positive")
    started = time.perf_counter()
    files = render_scene(
        args.out_dir,
        kind=args.kind,
        seconds=args.seconds,
        fps=args.fps,
        seed=args.seed,
        size=args.size,
        name=args.name,
    )
    took = time.perf_counter() - started
    truth = files.truth_data
    print(
        f"{files.video}  ({truth['frames']} frames, {truth['size'][0]}x{truth['size'][1]} "
        f"at {truth['fps']:g} fps, rendered in {took:.1f} s)"
    )
    print(f"{files.truth}")
    print(f"conditions: {len(truth['conditions'])}")
    for c in truth["conditions"]:
        alarm = f"alarm at {c['alarm_s']:.1f} s" if c["alarm_s"] is not None else "no alarm"
        print(
            f"  {c['rule']:<18} {c['object']:<8} {c['start_s']:8.1f} s .. {c['end_s']:8.1f} s"
            f"  ({c['end_s'] - c['start_s']:.1f} s, dwell {c['dwell_s']:g} s: {alarm})"
        )
    roles: dict[str, int] = {}
    for p in truth["people"]:
        roles[p["role"]] = roles.get(p["role"], 0) + 1
    print(
        f"people: {len(truth['people'])} ("
        + ", ".join(f"{n} {r}" for r, n in sorted(roles.items()))
        + ")"
    )
    if truth["vehicles"]:
        print(f"vehicles: {len(truth['vehicles'])}")
    print(
        "lighting: "
        + ", ".join(
            f"{e['kind']} at {e['at_s']:.1f} s {e['from']:.2f}->{e['to']:.2f}"
            for e in truth["lighting"]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
