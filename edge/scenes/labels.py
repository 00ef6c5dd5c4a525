"""Object labels of generated frames, and YOLO-format datasets made of them.

The plan knows where every person and object is drawn, so each frame comes with exact
boxes: people, what they carry, and what lies still. Used to train the small YOLO
models of the tests and benchmarks (no downloaded weights exist offline).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from edge.scenes.drawing import prims_bounds
from edge.scenes.generator import Scene
from edge.scenes.plan import ScenePlan

CLASSES: tuple[str, ...] = ("person", "box", "bicycle", "bottle", "bag")
MIN_PIXELS = 3  # boxes thinner than this are not worth a label


@dataclass(frozen=True)
class Label:
    name: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 normalised 0..1
    ident: int  # the same person or object keeps its number from frame to frame

    def yolo_line(self) -> str:
        x1, y1, x2, y2 = self.box
        return (f"{CLASSES.index(self.name)} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} "
                f"{x2 - x1:.6f} {y2 - y1:.6f}")


def _clipped(name: str, ident: int, bounds: tuple[int, int, int, int], w: int, h: int) \
        -> Label | None:
    x1, y1 = max(bounds[0], 0), max(bounds[1], 0)
    x2, y2 = min(bounds[2] + 1, w), min(bounds[3] + 1, h)
    if x2 - x1 < MIN_PIXELS or y2 - y1 < MIN_PIXELS:
        return None
    return Label(name, (x1 / w, y1 / h, x2 / w, y2 / h), ident)


def frame_labels(plan: ScenePlan, k: int) -> list[Label]:
    """Every person and object drawn in frame k (occluded parts included). People are
    numbered from 0 and objects after them, in plan order."""
    w, h = plan.size
    found: list[Label | None] = []
    first_object = len(plan.people)
    for n, person in enumerate(plan.people):
        drawn = plan.person_drawables(person, k)
        if not drawn:
            continue
        assert drawn[0].prims is not None
        found.append(_clipped("person", n, prims_bounds(drawn[0].prims), w, h))
        # person_drawables adds one drawable per carry active at k, in carry order
        active = [c for c in person.carries if c.k_from <= k < c.k_to]
        for carry, item in zip(active, drawn[1:], strict=True):
            assert item.prims is not None
            name = plan.objects[carry.obj].look.kind
            found.append(_clipped(name, first_object + carry.obj, prims_bounds(item.prims),
                                  w, h))
    for i in plan.resting(k):
        sprite = plan.objects[i].sprite
        assert sprite is not None
        bounds = sprite.pixel_box(w, h)
        if bounds is not None:
            found.append(_clipped(plan.objects[i].look.kind, first_object + i, bounds, w, h))
    return [label for label in found if label is not None]


def write_yolo_dataset(out: Path, scenes: Iterable[Scene], frames_per_scene: int,
                       val_share: float = 0.2, seed: int = 0) -> Path:
    """Sample frames of each scene (those with something in them first) into
    `out/images/{train,val}` and `out/labels/{train,val}`; returns `out/data.yaml`."""
    rng = random.Random(seed)
    for part in ("train", "val"):
        (out / "images" / part).mkdir(parents=True, exist_ok=True)
        (out / "labels" / part).mkdir(parents=True, exist_ok=True)
    for scene in scenes:
        busy = [k for k in range(scene.n_frames) if frame_labels(scene.plan, k)]
        pool: Sequence[int] = busy if len(busy) >= frames_per_scene else range(scene.n_frames)
        for k in sorted(rng.sample(list(pool), min(frames_per_scene, len(pool)))):
            part = "val" if rng.random() < val_share else "train"
            stem = f"{scene.name}-{k:06d}"
            cv2.imwrite(str(out / "images" / part / f"{stem}.jpg"), scene.frame(k))
            lines = [label.yolo_line() for label in frame_labels(scene.plan, k)]
            (out / "labels" / part / f"{stem}.txt").write_text(
                "".join(f"{line}\n" for line in lines))
    data = out / "data.yaml"
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(CLASSES))
    data.write_text(f"path: {out.resolve()}\ntrain: images/train\nval: images/val\n"
                    f"names:\n{names}\n")
    return data
