"""Render synthetic camera scenes: frames in memory, or an MP4 with its ground truth.

The static picture is drawn once; each frame copies it and draws only what moves
(people, what they carry, cars, the fire door while someone goes through) and what lies
still (objects, as pre-drawn sprites), then applies the lighting gain, sensor noise and a
slight blur. Noise is drawn from a fixed bank at a per-frame offset, so any frame can be
rendered on its own and the same seed gives the same pixels.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.scenes.drawing import (
    Image,
    Sprite,
    corridor_background,
    draw_prims,
    waste_station_background,
)
from edge.scenes.plan import ScenePlan, plan_scene

NOISE_SIGMA = 3.5
NOISE_MARGIN = 48


@dataclass(frozen=True)
class SceneFiles:
    video: Path
    truth: Path
    truth_data: dict[str, Any]


def scene_name(kind: str, seconds: float, fps: float, seed: int, size: tuple[int, int]) -> str:
    secs = f"{seconds:g}".replace(".", "_")
    rate = f"{fps:g}".replace(".", "_")
    return f"{kind}-seed{seed}-{secs}s-{rate}fps-{size[0]}x{size[1]}"


class Scene:
    """One scene: its plan (the schedule, the truth) and a renderer of its frames."""

    def __init__(
        self,
        kind: str = "corridor",
        seconds: float = 600.0,
        fps: float = 5.0,
        seed: int = 1,
        size: tuple[int, int] = (640, 360),
    ) -> None:
        self.plan: ScenePlan = plan_scene(kind, seconds, fps, seed, size)
        self.name = scene_name(kind, seconds, fps, seed, size)
        w, h = size
        self._door: Sprite | None = None
        if kind == "corridor":
            self.background, self._door = corridor_background(self.plan.layout, w, h)
        else:
            self.background = waste_station_background(self.plan.layout, w, h)
        bank = np.random.default_rng([seed, 9001]).normal(
            0.0, NOISE_SIGMA, (h + NOISE_MARGIN, w + NOISE_MARGIN, 3)
        )
        bank = np.clip(np.round(bank), -60, 60)
        self._noise_up = np.maximum(bank, 0).astype(np.uint8)
        self._noise_down = np.maximum(-bank, 0).astype(np.uint8)
        self._seed = seed

    @property
    def n_frames(self) -> int:
        return self.plan.n_frames

    @property
    def fps(self) -> float:
        return self.plan.fps

    def truth(self) -> dict[str, Any]:
        return self.plan.truth(self.name)

    def frame(
        self,
        k: int,
        *,
        people: bool = True,
        objects: bool = True,
        lighting: bool = True,
        noise: bool = True,
        blur: bool = True,
    ) -> Image:
        """Frame k (at k / fps seconds). ``people`` covers everything that moves (people and
        what they carry, cars, the door); ``objects`` the things lying still."""
        img = self.background.copy()
        if people:
            if self._door is not None and self.plan.door_open(k):
                self._door.paste(img)
            cars = self.plan.vehicle_prims(k)
            if cars:
                draw_prims(img, cars)
        for d in self.plan.drawables(k, people=people, objects=objects):
            if d.sprite is not None:
                d.sprite.paste(img)
            elif d.prims:
                draw_prims(img, d.prims)
        if lighting:
            g = self.plan.gain(k)
            if g != 1.0:
                lut = np.clip(np.round(np.arange(256, dtype=np.float64) * g), 0, 255)
                img = np.asarray(cv2.LUT(img, lut.astype(np.uint8)), dtype=np.uint8)
        if noise:
            ox, oy = np.random.default_rng([self._seed, 77, k]).integers(0, NOISE_MARGIN, 2)
            h, w = img.shape[:2]
            cv2.add(img, self._noise_up[oy : oy + h, ox : ox + w], dst=img)
            cv2.subtract(img, self._noise_down[oy : oy + h, ox : ox + w], dst=img)
        if blur:
            img = np.asarray(cv2.GaussianBlur(img, (3, 3), 0.7), dtype=np.uint8)
        out: Image = np.ascontiguousarray(img, dtype=np.uint8)
        return out

    def frames(self, **options: bool) -> Iterator[tuple[float, Image]]:
        for k in range(self.n_frames):
            yield k / self.plan.fps, self.frame(k, **options)


def iter_frames(
    *,
    kind: str = "corridor",
    seconds: float = 600.0,
    fps: float = 5.0,
    seed: int = 1,
    size: tuple[int, int] = (640, 360),
    people: bool = True,
    objects: bool = True,
    lighting: bool = True,
    noise: bool = True,
    blur: bool = True,
) -> Iterator[tuple[float, Image]]:
    """(t_seconds, BGR frame) for every frame of the scene, without writing a file."""
    scene = Scene(kind, seconds, fps, seed, size)
    yield from scene.frames(
        people=people, objects=objects, lighting=lighting, noise=noise, blur=blur
    )


def plan_truth(
    *,
    kind: str = "corridor",
    seconds: float = 600.0,
    fps: float = 5.0,
    seed: int = 1,
    size: tuple[int, int] = (640, 360),
) -> dict[str, Any]:
    """The ground truth of a scene, worked out without rendering its frames."""
    plan = plan_scene(kind, seconds, fps, seed, size)
    return plan.truth(scene_name(kind, seconds, fps, seed, size))


def truth_json(truth: dict[str, Any]) -> str:
    return json.dumps(truth, indent=2, ensure_ascii=False) + "\n"


def render_scene(
    out_dir: Path,
    *,
    kind: str = "corridor",
    seconds: float = 600.0,
    fps: float = 5.0,
    seed: int = 1,
    size: tuple[int, int] = (640, 360),
    name: str | None = None,
) -> SceneFiles:
    """Write ``<name>.mp4`` (mp4v) and ``<name>.truth.json`` into out_dir."""
    scene = Scene(kind, seconds, fps, seed, size)
    if name is not None:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise ValueError(f"scene name {name!r}: use letters, digits, '.', '_' and '-'")
        scene.name = name
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"{scene.name}.mp4"
    truth_path = out_dir / f"{scene.name}.truth.json"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OSError(f"cannot open a video writer for {video}")
    try:
        for _, frame in scene.frames():
            writer.write(frame)
    finally:
        writer.release()
    truth = scene.truth()
    truth_path.write_text(truth_json(truth), encoding="utf-8")
    return SceneFiles(video, truth_path, truth)


def frame_digest(frame: npt.NDArray[np.uint8]) -> str:
    """A hash of a frame's pixels (for comparing renders)."""
    return hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest()
