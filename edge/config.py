"""The gateway's YAML: which broker, which sensors (with their drivers), which cameras."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from edge.drivers import DriverSpec

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: str | float) -> float:
    """'500ms', '10s', '5m', '2h', '7d' or a number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(f"invalid duration {value!r} (use e.g. 10s, 5m)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Credentials(_Model):
    """A device's own broker login; the password comes from the environment, never YAML
    (edge.settings)."""

    username: str | None = None  # default: the device id
    password_env: str | None = None


class Sensor(_Model):
    device: Slug
    interval: str | float = "10s"
    driver: DriverSpec
    credentials: Credentials = Credentials()

    @property
    def interval_s(self) -> float:
        return seconds(self.interval)


class CameraSource(_Model):
    device: Slug
    source: str  # a video file (looped), an rtsp:// or http:// URL, or a USB index "0"
    fps: float = Field(default=5.0, gt=0, le=30)
    keyframe_every: str | float = "30s"  # a frame even without motion, so vision sees clearing
    jpeg_quality: int = Field(default=80, ge=10, le=100)
    max_width: int = Field(default=960, ge=64, le=4096)
    motion_threshold: float = Field(default=0.002, ge=0, le=1)  # share of changed pixels
    loop: bool = True
    realtime: bool = True  # files: play at `fps`; False: as fast as possible (tests)
    credentials: Credentials = Credentials()


class Queue(_Model):
    path: Path = Path("edge-outbox.sqlite")
    max_messages: int = 100_000
    max_bytes: int = 256 * 1024 * 1024
    max_age: str | float = "7d"


class EdgeConfig(_Model):
    site: Slug
    gateway: Slug
    # mqtt://host:1883 (EDGE_MQTT_URL or MQTT_URL override it: edge.settings)
    broker: str | None = None
    queue: Queue = Queue()
    sensors: tuple[Sensor, ...] = ()
    cameras: tuple[CameraSource, ...] = ()

    def credentials(self) -> list[Credentials]:
        """Every device's login, sensors then cameras."""
        return [s.credentials for s in self.sensors] + [c.credentials for c in self.cameras]

    def max_age(self) -> timedelta:
        return timedelta(seconds=seconds(self.queue.max_age))
