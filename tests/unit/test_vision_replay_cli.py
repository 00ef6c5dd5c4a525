"""`sunlight vision replay VIDEO --camera ID --jsonl` on an MP4 from the scene generator."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edge.scenes import render_scene
from services.cli import app


def test_replay_prints_a_json_line_per_finding_start(tmp_path: Path) -> None:
    scene = render_scene(tmp_path, kind="corridor", seconds=200.0, fps=2.0, seed=1)
    blocked = next(c for c in scene.truth_data["conditions"]
                   if c["rule"] == "blocked_fire_exit")
    result = CliRunner().invoke(app, ["vision", "replay", str(scene.video),
                                      "--camera", "cam-b3-stairwell", "--jsonl"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    starts = [r for r in lines if r["phase"] == "start"]
    assert [(r["rule"], r["zone"]) for r in starts] == [("blocked_fire_exit", "exit")]
    assert blocked["alarm_s"] - 3 <= starts[0]["video_s"] <= blocked["alarm_s"] + 10


def test_replay_names_an_unknown_camera(tmp_path: Path) -> None:
    scene = render_scene(tmp_path, kind="corridor", seconds=5.0, fps=2.0, seed=1)
    result = CliRunner().invoke(app, ["vision", "replay", str(scene.video),
                                      "--camera", "cam-nowhere"])
    assert result.exit_code == 2 and "cam-nowhere" in result.output
