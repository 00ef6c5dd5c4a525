"""Synthetic camera scenes with exact ground truth, for demos and the vision tests.

``render_scene`` writes an MP4 and its truth file; ``iter_frames`` yields frames in memory;
``plan_truth`` gives the truth without drawing a frame; ``Truth`` loads a truth file.
Command line: ``python -m edge.scenes OUT_DIR [--seconds 600] [--fps 5] [--seed 1]
[--size 640x360] [--kind corridor|waste_station]``.
"""

from edge.scenes.generator import (
    Scene,
    SceneFiles,
    frame_digest,
    iter_frames,
    plan_truth,
    render_scene,
    scene_name,
    truth_json,
)
from edge.scenes.geometry import KINDS
from edge.scenes.plan import ScenePlan, plan_scene
from edge.scenes.truth import (
    Truth,
    TruthCamera,
    TruthCondition,
    TruthLighting,
    TruthPerson,
    TruthVehicle,
    TruthZone,
)

__all__ = [
    "KINDS",
    "Scene",
    "SceneFiles",
    "ScenePlan",
    "Truth",
    "TruthCamera",
    "TruthCondition",
    "TruthLighting",
    "TruthPerson",
    "TruthVehicle",
    "TruthZone",
    "frame_digest",
    "iter_frames",
    "plan_scene",
    "plan_truth",
    "render_scene",
    "scene_name",
    "truth_json",
]
