"""The simulated estate of the load test: N sensors and M cameras, their estate YAML, the
edge gateways that read them, and a synthetic scene per camera (rendered once, cached).

The estate keeps the example's site, buildings, departments, categories and sensor rules
(deploy/estate.example.yaml) and replaces its devices and cameras with generated ones:
sensors in the example's proportions of kinds, cameras alternating between the
corridor with a fire exit and the waste station (the two layouts of edge/scenes).
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edge.config import EdgeConfig
from edge.scenes import render_scene, scene_name
from services.config import load_config

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "deploy" / "estate.example.yaml"
SCENE_CACHE = ROOT / ".sunlight" / "bench-scenes"
FPS = 2.0  # what `sunlight up` streams: 640 px wide, motion-gated, a keyframe every 30 s
FRAME_WIDTH = 640
KEYFRAME_EVERY_S = 30.0
SENSORS_PER_GATEWAY = 20
CAMERAS_PER_GATEWAY = 2

# kind → (devices of that kind in the example estate, reading interval in seconds):
# safety signals every 5 s (the edge example's leak sensor), temperature and gas every
# 10 s (its temperature transmitter), slow quantities every 30 s (its bin level)
SENSOR_KINDS: dict[str, tuple[int, float]] = {
    "water_leak": (4, 5.0),
    "smoke": (7, 5.0),
    "door_contact": (6, 5.0),
    "elevator": (3, 5.0),
    "temperature": (2, 10.0),
    "air_quality": (1, 10.0),
    "bin_level": (4, 30.0),
    "lamp_current": (3, 30.0),
}
CAMERA_KINDS = ("corridor", "waste_station")
# the example camera whose zones match each scene layout
LAYOUT_CAMERA = {"corridor": "cam-b3-stairwell", "waste_station": "cam-waste-station"}


@dataclass(frozen=True)
class SimCamera:
    id: str
    kind: str  # corridor | waste_station
    seed: int
    video: Path
    truth: dict[str, Any]  # the scene's ground truth (edge.scenes)
    dwell_s: dict[str, float]  # zone id → dwell in the estate config


@dataclass(frozen=True)
class SceneInfo:
    kind: str
    seed: int
    video: Path
    truth: dict[str, Any]


@dataclass(frozen=True)
class LoadEstate:
    path: Path  # the estate YAML the services read
    site: str
    gateways: list[EdgeConfig]
    intervals: dict[str, float]  # sensor id → reading interval (s)
    kinds: dict[str, str]  # sensor id → kind
    cameras: list[SimCamera]


def apportion(total: int, weights: dict[str, int]) -> dict[str, int]:
    """`total` split in proportion to `weights` (largest remainders)."""
    whole = sum(weights.values())
    exact = {k: total * w / whole for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(weights, key=lambda k: exact[k] - counts[k], reverse=True)
    for k in by_remainder[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def _places(example: dict[str, Any]) -> list[dict[str, str]]:
    places = [{"building": b["id"], "area": a["id"]}
              for b in example["buildings"] for a in b["areas"]]
    return places + [{"area": a["id"]} for a in example["areas"]]


def _sensors(example: dict[str, Any], n: int) -> list[dict[str, Any]]:
    counts = apportion(n, {k: share for k, (share, _) in SENSOR_KINDS.items()})
    places = _places(example)
    devices: list[dict[str, Any]] = []
    for kind, count in counts.items():
        for i in range(1, count + 1):
            name = f"{kind.replace('_', '-')}-{i:03d}"
            # a distinct asset each: a ticket of one sensor is never a duplicate of another's
            devices.append({"id": name, "kind": kind, "asset": f"load test {name}",
                            "location": places[len(devices) % len(places)]})
    return devices


def _cameras(example: dict[str, Any], n: int, litter_dwell_s: float) -> list[dict[str, Any]]:
    templates = {c["id"]: c for c in example["cameras"]}
    buildings = [b["id"] for b in example["buildings"]]
    cameras = []
    for i in range(n):
        kind = CAMERA_KINDS[i % 2]
        template = copy.deepcopy(templates[LAYOUT_CAMERA[kind]])
        for zone in template["zones"]:
            if zone["kind"] == "floor":
                zone["dwell"] = f"{litter_dwell_s:g}s"
        location = ({"building": buildings[(i // 2) % len(buildings)], "area": "stairwell"}
                    if kind == "corridor" else {"area": "waste-station"})
        cameras.append({"id": f"cam-{kind.replace('_', '-')}-{i // 2 + 1:02d}",
                        "location": location, "zones": template["zones"]})
    return cameras


def _rules(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The example's rules; those naming its devices cover their kind instead."""
    kind_of = {d["id"]: d["kind"] for d in example["devices"]}
    rules = []
    for rule in copy.deepcopy(example["sensor_rules"]):
        named = rule.pop("devices", None)
        if named:
            rule["device_kind"] = kind_of[named[0]]
        rules.append(rule)
    return rules


def render_scenes(cameras: list[dict[str, Any]], seconds: float) -> dict[str, SceneInfo]:
    """A scene per camera (seed = its number), rendered once into SCENE_CACHE."""
    jobs = {c["id"]: (CAMERA_KINDS[i % 2], i // 2 + 1) for i, c in enumerate(cameras)}
    todo = {cid: job for cid, job in jobs.items() if not _cached(*job, seconds).exists()}
    if todo:
        print(f"rendering {len(todo)} camera scenes of {seconds:g} s into {SCENE_CACHE}"
              " (once; later runs reuse them)", flush=True)
        with ProcessPoolExecutor(max_workers=2) as pool:
            list(pool.map(_render, [(*job, seconds) for job in set(todo.values())]))
    found = {}
    for cid, (kind, seed) in jobs.items():
        video = _cached(kind, seed, seconds)
        truth_path = video.with_name(video.name.removesuffix(".mp4") + ".truth.json")
        found[cid] = SceneInfo(kind, seed, video, json.loads(truth_path.read_text()))
    return found


def _cached(kind: str, seed: int, seconds: float) -> Path:
    name = scene_name(kind, seconds, FPS, seed, (640, 360))
    return SCENE_CACHE / name / f"{name}.mp4"


def _render(job: tuple[str, int, float]) -> None:
    kind, seed, seconds = job
    name = scene_name(kind, seconds, FPS, seed, (640, 360))
    render_scene(SCENE_CACHE / name, kind=kind, seconds=seconds, fps=FPS, seed=seed)


def build(workdir: Path, *, sensors: int, cameras: int, scene_seconds: float,
          incidents_per_day: float, litter_dwell_s: float) -> LoadEstate:
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    estate = dict(example)
    estate["devices"] = _sensors(example, sensors)
    estate["cameras"] = _cameras(example, cameras, litter_dwell_s)
    estate["sensor_rules"] = _rules(example)
    path = workdir / "estate.yaml"
    path.write_text(yaml.safe_dump(estate, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    config = load_config(path)  # the services will read it: fail here if it is wrong
    scenes = render_scenes(estate["cameras"], scene_seconds)
    site = example["site"]["id"]
    timezone = example["site"]["timezone"]
    intervals = {d["id"]: SENSOR_KINDS[d["kind"]][1] for d in estate["devices"]}
    sensor_specs = [
        {"device": d["id"], "interval": intervals[d["id"]],
         "driver": {"kind": "simulator", "model": d["kind"], "seed": i,
                    "incident_rate_per_day": incidents_per_day, "timezone": timezone}}
        for i, d in enumerate(estate["devices"])
    ]
    camera_specs = [
        {"device": c["id"], "source": str(scenes[c["id"]].video), "fps": FPS,
         "keyframe_every": KEYFRAME_EVERY_S, "max_width": FRAME_WIDTH}
        for c in estate["cameras"]
    ]
    n_gateways = max(-(-len(sensor_specs) // SENSORS_PER_GATEWAY),
                     -(-len(camera_specs) // CAMERAS_PER_GATEWAY), 1)
    gateways = [
        EdgeConfig.model_validate({
            "site": site, "gateway": f"gw-{g + 1:02d}",
            "queue": {"path": str(workdir / f"outbox-gw-{g + 1:02d}.sqlite")},
            "sensors": sensor_specs[g * SENSORS_PER_GATEWAY:(g + 1) * SENSORS_PER_GATEWAY],
            "cameras": camera_specs[g * CAMERAS_PER_GATEWAY:(g + 1) * CAMERAS_PER_GATEWAY],
        })
        for g in range(n_gateways)
    ]
    sim_cameras = [
        SimCamera(c.id, scenes[c.id].kind, scenes[c.id].seed, scenes[c.id].video,
                  scenes[c.id].truth,
                  {z.id: z.dwell.total_seconds() for z in c.zones if z.kind != "mask"})
        for c in config.cameras
    ]
    return LoadEstate(path, site, gateways, intervals,
                      {d["id"]: d["kind"] for d in estate["devices"]}, sim_cameras)
