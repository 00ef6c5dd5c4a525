"""The YOLO path with a tiny model trained here, from `yolo11n.yaml`, on generated frames.

One epoch on a handful of frames teaches the model nothing useful, and that is not what
is tested: it is a real YOLO model with our class names, so the adapter, tracking, the
ONNX Runtime export, the pipeline and the command line are exercised end to end without
downloading weights. What a perfect detector does to the rules is tested with scripted
sightings in test_vision_oracle.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge.scenes import Scene, render_scene
from edge.scenes.labels import CLASSES, frame_labels, write_yolo_dataset
from services.cli import app
from services.config import load_config
from services.contract import Phase
from services.vision.learning import train
from services.vision.pipeline import CameraPipeline
from services.vision.yolo import ModelError, YoloDetector, runtime_of

IMGSZ = 96
T0 = datetime(2026, 1, 5, tzinfo=UTC)
ESTATE = load_config("deploy/estate.example.yaml")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("yolo")
    data = write_yolo_dataset(root / "dataset", [Scene("corridor", 120.0, 2.0, seed=1)],
                              frames_per_scene=10)
    model = train(data, root / "runs", epochs=1, imgsz=IMGSZ, batch=4)
    return model.weights, model.onnx


def test_generated_labels_are_yolo_lines_for_what_the_frame_shows(tmp_path: Path) -> None:
    scene = Scene("corridor", 120.0, 2.0, seed=1)
    busy = next(k for k in range(scene.n_frames) if frame_labels(scene.plan, k))
    for label in frame_labels(scene.plan, busy):
        x1, y1, x2, y2 = label.box
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1 and label.name in CLASSES
    data = write_yolo_dataset(tmp_path, [scene], frames_per_scene=4)
    assert "names:\n  0: person" in data.read_text()
    lines = [line for f in tmp_path.glob("labels/*/*.txt") for line in f.read_text().split("\n")
             if line]
    assert lines and all(len(line.split()) == 5 for line in lines)


def test_tiny_model_loads_on_pytorch_and_onnx_runtime_with_our_class_names(
        tiny_model: tuple[Path, Path]) -> None:
    weights, onnx = tiny_model
    torch_detector = YoloDetector(weights, imgsz=IMGSZ, confidence=0.0001, track=False)
    onnx_detector = YoloDetector(onnx, imgsz=IMGSZ, confidence=0.0001, track=False)
    assert (torch_detector.runtime, onnx_detector.runtime) == ("pytorch", "onnxruntime")
    assert torch_detector.names == onnx_detector.names == dict(enumerate(CLASSES))
    frame = Scene("corridor", 60.0, 2.0, seed=1).frame(40)
    a, b = torch_detector(frame), onnx_detector(frame)
    assert a and b
    for s in a + b:
        assert s.label in CLASSES and 0 <= s.box[0] <= s.box[2] <= 1 and s.track_id is None
    # the same network on two runtimes: the same best sighting
    best_a, best_b = max(a, key=lambda s: s.score), max(b, key=lambda s: s.score)
    assert best_a.score == pytest.approx(best_b.score, abs=1e-3)
    assert np.allclose(best_a.box, best_b.box, atol=0.02)


def test_tracking_persists_across_frames(tiny_model: tuple[Path, Path]) -> None:
    _, onnx = tiny_model
    detector = YoloDetector(onnx, imgsz=IMGSZ, confidence=0.0001)
    scene = Scene("corridor", 60.0, 2.0, seed=1)
    seen = [detector(scene.frame(k)) for k in range(6)]
    # ByteTrack keeps its state between calls (persist=True): ids carry on
    first = {s.track_id for s in seen[0]}
    assert seen[0] and None not in first
    for later in seen[1:]:
        assert later and {s.track_id for s in later} & first


def test_pipeline_with_the_model_still_finds_the_blocked_exit(
        tiny_model: tuple[Path, Path]) -> None:
    _, onnx = tiny_model
    scene = Scene("corridor", 200.0, 2.0, seed=1)
    blocked = next(c for c in scene.truth()["conditions"] if c["rule"] == "blocked_fire_exit")
    pipeline = CameraPipeline(ESTATE.camera("cam-b3-stairwell"), scene.fps,
                              detector=YoloDetector(onnx, imgsz=IMGSZ))
    starts = [k / scene.fps for k in range(scene.n_frames)
              for e in pipeline.step(T0 + timedelta(seconds=k / scene.fps), scene.frame(k))
              if e.phase is Phase.START]
    assert len(starts) == 1 and blocked["alarm_s"] - 3 <= starts[0] <= blocked["alarm_s"] + 10
    assert 0 < pipeline.counts.yolo_runs < scene.n_frames  # gated by motion


def test_replay_command_takes_the_model(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    _, onnx = tiny_model
    video = render_scene(tmp_path, kind="corridor", seconds=200.0, fps=2.0, seed=1).video
    result = CliRunner().invoke(app, ["vision", "replay", str(video), "--camera",
                                      "cam-b3-stairwell", "--model", str(onnx),
                                      "--imgsz", str(IMGSZ)])
    assert result.exit_code == 0, result.output
    starts = [json.loads(line) for line in result.output.splitlines()
              if line.startswith("{") and '"start"' in line]
    assert [s["rule"] for s in starts] == ["blocked_fire_exit"]


def test_a_missing_or_broken_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        YoloDetector(tmp_path / "nothing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        YoloDetector(broken)
    assert runtime_of(Path("m_openvino_model")) == "openvino"
