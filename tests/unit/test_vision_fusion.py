"""The merge of static blobs and YOLO sightings (scripted), and the motion gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from services.vision.fusion import FusionSettings, Stillness, fuse
from services.vision.motion import MotionDetector
from services.vision.static_objects import StaticBlob
from services.vision.yolo import Sighting

T0 = datetime(2026, 1, 5, tzinfo=UTC)
EVIDENCE = timedelta(seconds=10)
BOX = (0.40, 0.60, 0.50, 0.75)


def blob(box=BOX) -> StaticBlob:
    return StaticBlob(box, (box[2] - box[0]) * (box[3] - box[1]))


def person(box=(0.38, 0.30, 0.52, 0.80), track_id=1) -> Sighting:
    return Sighting(box, "person", 0.9, track_id)


def thing(label="box", box=BOX, track_id=7) -> Sighting:
    return Sighting(box, label, 0.8, track_id)


def test_blob_nobody_names_is_an_object_of_unknown_kind() -> None:
    [d] = fuse([blob()], [], {}, EVIDENCE)
    assert (d.label, d.static, d.static_for, d.is_person) == ("object", True, EVIDENCE, False)


def test_blob_takes_the_label_and_track_of_the_yolo_object_over_it() -> None:
    [d] = fuse([blob()], [thing("bicycle", (0.41, 0.61, 0.49, 0.76))], {}, EVIDENCE)
    assert (d.label, d.track_id, d.box, d.static) == ("bicycle", 7, BOX, True)


def test_person_standing_still_is_a_person_not_an_object() -> None:
    detections = fuse([blob((0.40, 0.35, 0.50, 0.78))], [person()], {}, EVIDENCE)
    assert [(d.label, d.is_person, d.static) for d in detections] == [("person", True, False)]


def test_yolo_object_counts_once_its_track_stays_put_for_the_evidence_time() -> None:
    still = Stillness()
    for s in range(0, 12):
        still_for = still.update(T0 + timedelta(seconds=s), [thing()])
        [d] = fuse([], [thing()], still_for, EVIDENCE)
        assert d.static is (s >= 10)
    assert d.static_for == timedelta(seconds=11)


def test_moving_yolo_object_is_not_static() -> None:
    still = Stillness()
    for s in range(0, 20):
        moved = thing(box=(0.1 + 0.02 * s, 0.6, 0.2 + 0.02 * s, 0.75))
        [d] = fuse([], [moved], still.update(T0 + timedelta(seconds=s), [moved]), EVIDENCE)
        assert not d.static


def test_track_forgotten_after_it_is_unseen_starts_again() -> None:
    still = Stillness(FusionSettings(forget=timedelta(seconds=30)))
    still.update(T0, [thing()])
    assert still.update(T0 + timedelta(seconds=20), [thing()])[7] == timedelta(seconds=20)
    still.update(T0 + timedelta(seconds=60), [])
    assert still.update(T0 + timedelta(seconds=61), [thing()])[7] == timedelta(0)


def test_object_inside_a_person_box_is_carried() -> None:
    held = thing("bag", (0.45, 0.50, 0.50, 0.60))
    detections = fuse([], [person(), held], {7: timedelta(seconds=60)}, EVIDENCE)
    bag = next(d for d in detections if d.label == "bag")
    assert bag.carried and bag.static


def test_motion_regions_only_where_something_moved() -> None:
    rng = np.random.default_rng(1)
    scene = np.full((360, 640, 3), 120, np.uint8)
    motion = MotionDetector()
    assert motion.update(scene) == [(0.0, 0.0, 1.0, 1.0)]  # nothing known yet
    for _ in range(5):
        noisy = np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8)
        assert motion.update(noisy) == []
    moved = scene.copy()
    moved[100:200, 300:360] = 30
    [(x1, y1, x2, y2)] = motion.update(moved)
    assert x1 <= 300 / 640 <= 360 / 640 <= x2 and y1 <= 100 / 360 <= 200 / 360 <= y2
    for _ in range(15):  # the patch stays: it stops being motion
        still = motion.update(moved)
    assert still == []
    dimmer = (moved * 0.97).astype(np.uint8)  # a slow light change moves nothing
    assert motion.update(dimmer) == []
