"""The ground-truth file of a rendered scene (``<name>.truth.json``), as a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Point = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TruthCondition(_Model):
    """An object lying still in a zone: the rule it would trigger once past its dwell."""

    rule: Literal["blocked_fire_exit", "litter"]
    zone: Literal["fire_exit", "floor"]  # key into Truth.zones
    zone_id: str  # the camera's zone id (Truth.camera.zones)
    object: Literal["box", "bicycle", "bottle", "bag"]
    start_s: float  # first moment it lies still, let go
    end_s: float  # first moment it is in someone's hands again
    start_frame: int  # = start_s * fps
    end_frame: int  # = end_s * fps (exclusive)
    box: tuple[float, float, float, float]  # x1, y1, x2, y2, normalised, inside the zone
    dwell_s: float  # the zone's dwell (SPEC §6 default)
    alarm_s: float | None  # start_s + dwell_s when it stays longer than that, else None

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


class TruthPerson(_Model):
    enter_s: float  # first frame any part of the person is in the picture
    exit_s: float  # last such frame
    role: str  # walker, visits_bin, leaves_object, takes_object, drops_litter, ...
    carries: list[str]
    longest_in_zone_s: dict[str, float]  # longest unbroken stay (feet inside) per zone
    longest_stop_s: float


class TruthVehicle(_Model):
    enter_s: float
    exit_s: float


class TruthLighting(_Model):
    at_s: float
    kind: Literal["ramp", "step"]
    from_gain: float = Field(alias="from")
    to_gain: float = Field(alias="to")
    duration_s: float  # 0 for a step


class TruthZone(_Model):
    id: str
    kind: Literal["fire_exit", "floor", "mask"]
    polygon: list[Point]
    dwell_s: float | None


class TruthCamera(_Model):
    id: str
    description: str
    zones: list[TruthZone]


class Truth(_Model):
    version: int
    name: str
    kind: Literal["corridor", "waste_station"]
    fps: float
    size: tuple[int, int]
    seconds: float
    seed: int
    frames: int
    zones: dict[str, list[Point]]
    camera: TruthCamera
    conditions: list[TruthCondition]
    people: list[TruthPerson]
    vehicles: list[TruthVehicle]
    lighting: list[TruthLighting]

    @classmethod
    def load(cls, path: Path) -> Truth:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def of(cls, data: dict[str, Any]) -> Truth:
        return cls.model_validate(data)

    def active(self, t: float) -> list[TruthCondition]:
        """The conditions under way at time t."""
        return [c for c in self.conditions if c.active(t)]
