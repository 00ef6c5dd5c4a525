"""The synthetic scene generator: deterministic, exact ground truth, readable MP4s."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.scenes import (
    Scene,
    Truth,
    frame_digest,
    iter_frames,
    plan_truth,
    render_scene,
    truth_json,
)
from edge.scenes.__main__ import main
from edge.scenes.geometry import box_in_polygon, point_in_polygon
from edge.scenes.plan import plan_scene

SHORT_SECONDS, SHORT_FPS, SHORT_SIZE = 90.0, 2.0, (320, 180)


@cache
def short_scene(kind: str, seed: int) -> Scene:
    return Scene(kind, SHORT_SECONDS, SHORT_FPS, seed, SHORT_SIZE)


def _pixel_box(box: list[float] | tuple[float, ...], w: int, h: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return math.floor(x1 * w), math.floor(y1 * h), math.ceil(x2 * w), math.ceil(y2 * h)


def _changed_share(scene: Scene, k: int, box: tuple[int, int, int, int]) -> float:
    """Share of the box's pixels that differ from the empty scene (same light and noise)."""
    x1, y1, x2, y2 = box
    with_objects = scene.frame(k, people=False)
    empty = scene.frame(k, people=False, objects=False)
    diff = cv2.absdiff(with_objects, empty)[y1:y2, x1:x2].max(axis=2)
    return float(np.count_nonzero(diff > 20)) / diff.size


# --- determinism -----------------------------------------------------------------------


def test_the_truth_is_the_same_bytes_for_a_seed_and_differs_between_seeds() -> None:
    a = truth_json(plan_truth(seconds=SHORT_SECONDS, fps=SHORT_FPS, seed=3, size=SHORT_SIZE))
    b = truth_json(plan_truth(seconds=SHORT_SECONDS, fps=SHORT_FPS, seed=3, size=SHORT_SIZE))
    c = truth_json(plan_truth(seconds=SHORT_SECONDS, fps=SHORT_FPS, seed=4, size=SHORT_SIZE))
    assert a == b
    assert a != c


def test_frames_are_the_same_for_a_seed() -> None:
    def digests(seed: int) -> list[tuple[float, str]]:
        frames = iter_frames(kind="corridor", seconds=20.0, fps=2.0, seed=seed, size=(160, 90))
        return [(t, frame_digest(f)) for t, f in frames]

    first, second = digests(5), digests(5)
    assert first == second
    assert len(first) == 40
    assert [t for t, _ in first] == [k / 2.0 for k in range(40)]
    assert len({d for _, d in first}) == 40  # noise: no two frames alike
    assert digests(6) != first
    # any frame can be rendered on its own
    scene = Scene("corridor", 20.0, 2.0, 5, (160, 90))
    assert frame_digest(scene.frame(17)) == first[17][1]


def test_frames_are_bgr_of_the_requested_size() -> None:
    for kind in ("corridor", "waste_station"):
        t, frame = next(iter_frames(kind=kind, seconds=2.0, fps=1.0, size=(200, 120)))
        assert t == 0.0
        assert frame.shape == (120, 200, 3)
        assert frame.dtype == np.uint8


# --- files -----------------------------------------------------------------------------


def test_render_scene_writes_an_mp4_and_its_truth(tmp_path: Path) -> None:
    files = render_scene(
        tmp_path, kind="waste_station", seconds=12.0, fps=5.0, seed=2, size=(192, 108)
    )
    assert files.video.exists() and files.truth.exists()
    assert files.video.suffix == ".mp4" and files.truth.name.endswith(".truth.json")
    capture = cv2.VideoCapture(str(files.video))
    assert capture.isOpened()
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)
    count = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (108, 192, 3)
        count += 1
    capture.release()
    assert count == 60
    truth = Truth.load(files.truth)
    assert truth.frames == 60
    assert truth.size == (192, 108)
    assert truth.model_dump(mode="json", by_alias=True) == files.truth_data
    assert json.loads(files.truth.read_text(encoding="utf-8")) == files.truth_data


def test_cli_renders_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            str(tmp_path),
            "--seconds",
            "6",
            "--fps",
            "2",
            "--seed",
            "3",
            "--size",
            "160x90",
            "--kind",
            "corridor",
            "--name",
            "demo",
        ]
    )
    assert code == 0
    assert (tmp_path / "demo.mp4").exists()
    assert Truth.load(tmp_path / "demo.truth.json").kind == "corridor"
    out = capsys.readouterr().out
    assert "demo.mp4" in out and "12 frames" in out and "lighting:" in out


def test_cli_rejects_a_bad_size(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--size", "big"])


# --- ground truth against the pixels ---------------------------------------------------


@pytest.mark.parametrize(("kind", "seed"), [("corridor", 1), ("corridor", 3), ("waste_station", 3)])
def test_each_object_is_visible_exactly_while_its_condition_lasts(kind: str, seed: int) -> None:
    scene = short_scene(kind, seed)
    truth = Truth.of(scene.truth())
    w, h = truth.size
    assert truth.conditions, "a 90 s scene has something left in it"
    rules = {c.rule for c in truth.conditions}
    assert rules == ({"blocked_fire_exit", "litter"} if kind == "corridor" else {"litter"})
    for c in truth.conditions:
        assert box_in_polygon(c.box, truth.zones[c.zone])
        assert c.start_frame == round(c.start_s * truth.fps)
        assert c.end_frame == round(c.end_s * truth.fps)
        box = _pixel_box(c.box, w, h)
        others = [o for o in truth.conditions if o is not c]
        for k in range(truth.frames):
            share = _changed_share(scene, k, box)
            if c.start_frame <= k < c.end_frame:
                assert share > 0.15, (c.object, k, share)
            elif not any(o.start_frame <= k < o.end_frame for o in others):
                assert share == 0.0, (c.object, k, share)
            else:
                assert share < 0.02, (c.object, k, share)


def test_objects_are_carried_in_and_out_by_people() -> None:
    scene = short_scene("corridor", 1)
    plan = scene.plan
    for i, obj in enumerate(plan.objects):
        if obj.rest is None:
            continue
        start, end = obj.rest
        carried = {
            k for p in plan.people for c in p.carries if c.obj == i for k in range(c.k_from, c.k_to)
        }
        # in someone's hands up to the frame it is let go, and from the frame it is taken
        assert start - 1 in carried and start not in carried
        assert end in carried and end - 1 not in carried
        # and it moves with them: the people are there in those frames
        with_people = scene.frame(start - 1)
        without = scene.frame(start - 1, people=False)
        assert cv2.absdiff(with_people, without).max() > 50


def test_people_pass_through_the_zones_without_staying() -> None:
    plan = plan_scene("corridor", 600.0, 5.0, 1)  # the renderer's own schedule
    truth = Truth.of(plan.truth("corridor"))
    exit_zone = truth.zones["fire_exit"]
    assert truth.people
    for person in truth.people:
        assert person.longest_in_zone_s["fire_exit"] <= 60.0
        assert person.longest_stop_s <= 10.0
    assert any(p.longest_in_zone_s["fire_exit"] > 0 for p in truth.people)
    assert any(p.longest_in_zone_s["floor"] > 0 for p in truth.people)
    # check the figure independently: sample every path at every frame
    layout = plan.layout
    for person in plan.people:
        run = best = 0
        k0 = math.ceil(person.path.start * 5.0)
        for k in range(k0, math.floor(person.path.end * 5.0) + 1):
            st = person.path.at(k / 5.0)
            inside = point_in_polygon(layout.floor.to_image(st.x, st.z), exit_zone)
            run = run + 1 if inside else 0
            best = max(best, run)
        assert best / 5.0 <= 60.0


def test_a_ten_minute_corridor_has_both_conditions_and_lighting_changes() -> None:
    for seed in (1, 2, 3):
        truth = Truth.of(plan_truth(kind="corridor", seconds=600.0, fps=5.0, seed=seed))
        exits = [c for c in truth.conditions if c.rule == "blocked_fire_exit"]
        litter = [c for c in truth.conditions if c.rule == "litter"]
        assert exits and litter
        # at least one stays past the default 120 s dwell, so an alarm is due
        assert any(c.end_s - c.start_s > 120.0 and c.alarm_s == c.start_s + 120.0 for c in exits)
        assert {c.object for c in exits} <= {"box", "bicycle"}
        assert {c.object for c in litter} <= {"bottle", "bag"}
        kinds = {e.kind for e in truth.lighting}
        assert kinds == {"ramp", "step"}
        assert all(0.4 <= e.to_gain <= 1.2 for e in truth.lighting)
        for c in truth.conditions:
            assert 0.0 < c.start_s < c.end_s < truth.seconds


def test_litter_stays_longer_than_ten_minutes_in_long_scenes() -> None:
    truth = Truth.of(plan_truth(kind="waste_station", seconds=1800.0, fps=2.0, seed=1))
    long_litter = [c for c in truth.conditions if c.rule == "litter" and c.end_s - c.start_s > 600]
    assert long_litter
    assert all(c.alarm_s == c.start_s + 600.0 for c in long_litter)
    assert set(truth.zones) == {"floor"}
    assert truth.vehicles


def test_lighting_changes_show_in_the_frames() -> None:
    scene = short_scene("corridor", 1)
    truth = Truth.of(scene.truth())
    step = next(e for e in truth.lighting if e.kind == "step")
    k = round(step.at_s * truth.fps)
    before = scene.frame(k - 1, people=False, objects=False, noise=False).astype(float).mean()
    after = scene.frame(k, people=False, objects=False, noise=False).astype(float).mean()
    assert after / before == pytest.approx(step.to_gain / step.from_gain, rel=0.03)
    ramp = next(e for e in truth.lighting if e.kind == "ramp")
    assert ramp.duration_s > 0


def test_the_truth_carries_the_camera_zones_of_the_estate_example() -> None:
    truth = Truth.of(plan_truth(seconds=30.0, fps=1.0, seed=1, size=(320, 180)))
    assert truth.camera.id == "cam-b3-stairwell"
    zones = {z.id: z for z in truth.camera.zones}
    assert zones["exit"].kind == "fire_exit" and zones["exit"].dwell_s == 120.0
    assert zones["corridor-floor"].kind == "floor" and zones["corridor-floor"].dwell_s == 600.0
    assert zones["unit-doors"].kind == "mask"
    assert truth.zones["fire_exit"] == zones["exit"].polygon
    assert truth.zones["floor"] == zones["corridor-floor"].polygon


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown scene kind"):
        plan_truth(kind="garage")
    with pytest.raises(ValueError):
        plan_truth(seconds=0)
