"""The simulated estate that `sunlight up` runs: every configured device on a simulator,
every camera on a synthetic scene, with incidents frequent enough to see within minutes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from services.config import EstateConfig

log = logging.getLogger(__name__)

# Incidents per simulated device and day: high, so that a new user sees tickets soon.
DEMO_INCIDENTS_PER_DAY = 48.0
SENSOR_INTERVAL_S = 15.0
CAMERA_FPS = 2.0


def demo_edge_config(estate: EstateConfig, data_dir: Path, broker_url: str) -> dict[str, Any]:
    """An edge agent config (as YAML would give it) for the whole estate."""
    scenes = _scenes(estate, data_dir / "scenes")
    return {
        "site": estate.site.id,
        "gateway": "demo-gateway",
        "broker": broker_url,
        "queue": {"path": str(data_dir / "edge-outbox.sqlite")},
        "sensors": [
            {
                "device": device.id,
                "interval": SENSOR_INTERVAL_S,
                "driver": {"kind": "simulator", "model": device.kind.value, "seed": i,
                           "incident_rate_per_day": DEMO_INCIDENTS_PER_DAY,
                           "timezone": estate.site.timezone},
            }
            for i, device in enumerate(estate.devices)
        ],
        "cameras": [
            {"device": camera.id, "source": str(video), "fps": CAMERA_FPS,
             "keyframe_every": "30s", "max_width": 640}
            for camera, video in scenes
        ],
    }


def _scenes(estate: EstateConfig, directory: Path) -> list[tuple[Any, Path]]:
    """A synthetic video per camera, rendered once and reused by later runs."""
    from edge.scenes import render_scene

    found = []
    for i, camera in enumerate(estate.cameras):
        kind = "corridor" if any(z.kind == "fire_exit" for z in camera.zones) else "waste_station"
        home = directory / camera.id
        videos = sorted(home.glob("*.mp4"))
        if not videos:
            log.info("event=rendering_scene camera=%s kind=%s", camera.id, kind)
            videos = [render_scene(home, kind=kind, seconds=900.0, fps=CAMERA_FPS,
                                   seed=i + 1).video]
        found.append((camera, videos[0]))
    return found
