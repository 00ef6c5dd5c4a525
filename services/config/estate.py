"""The estate configuration: site, buildings and areas, departments and staff, ticket
categories with SLAs, sensors, cameras with zones, and sensor rules.

Written by the property manager as YAML (see deploy/estate.example.yaml) and loaded with
`services.config.load_config`. Every model forbids unknown keys so a typo is an error,
not a silently ignored setting, and is frozen because the running services share one
instance.

Cameras are listed under `cameras` only, never under `devices`: a camera needs zones
that no other device has. Device and camera ids share one namespace because both name
an MQTT topic (`sunlight/v1/{site}/{device}/...`); `EstateConfig.device_kind` answers
for both.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence, Sized
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from services.config.durations import Duration
from services.config.loader import ConfigIssues, Loc, format_path
from services.tickets.model import Priority, SlaTarget

__all__ = [
    "PLACE_SEPARATOR",
    "Area",
    "Building",
    "Bulletin",
    "Camera",
    "Category",
    "Department",
    "Device",
    "DeviceKind",
    "Direction",
    "EstateConfig",
    "Language",
    "Location",
    "NightWindow",
    "Notifications",
    "SensorRule",
    "Site",
    "SlaSpec",
    "StaffMember",
    "Weekday",
    "Zone",
    "ZoneKind",
]

# --- small value types ----------------------------------------------------------------

# Ids end up in MQTT topics, URLs and file names: no spaces, slashes, '+' or '#'.
_SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_STAFF_ID = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]+$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]*$")
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
# Between a building's name and an area's in a place's label: "3号楼 · 东侧大堂".
PLACE_SEPARATOR = " · "


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise PydanticCustomError(
            "slug",
            "'{value}' is not a valid id: use lowercase letters, digits, '-' and '_'",
            {"value": value},
        )
    return value


def _staff_id(value: str) -> str:
    if not _STAFF_ID.match(value):
        raise PydanticCustomError(
            "staff_id",
            "'{value}' is not a staff number like 'GC-007' (capital letters, '-', digits)",
            {"value": value},
        )
    return value


def _metric(value: str) -> str:
    if not _METRIC.match(value):
        raise PydanticCustomError(
            "metric",
            "'{value}' is not a metric name like 'fill_pct' (lowercase, digits, '_')",
            {"value": value},
        )
    return value


def _clock(value: object) -> object:
    # pydantic wants "08:00"; people also write "8:00".
    if isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if not match:
            raise PydanticCustomError(
                "clock", "'{value}' is not a time of day like '08:00'", {"value": value}
            )
        return dt.time(int(match.group(1)), int(match.group(2)))
    return value


def _webhook(value: str) -> str:
    if not re.match(r"^https?://[^\s/?#]+([/?]\S*)?$", value):
        raise PydanticCustomError("webhook", "a webhook must be an http:// or https:// URL")
    return value


def _at_least(count: int, what: str) -> AfterValidator:
    # Not Field(min_length=...): pydantic would also report a too-short list whenever
    # one item is invalid, a second, misleading error for the same mistake.
    def check(items: Sized) -> Sized:
        if len(items) < count:
            plural = "" if count == 1 else "s"
            raise ValueError(f"needs at least {count} {what}{plural}, has {len(items)}")
        return items

    return AfterValidator(check)


Slug = Annotated[str, AfterValidator(_slug)]
StaffId = Annotated[str, AfterValidator(_staff_id)]
MetricName = Annotated[str, AfterValidator(_metric)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Where JSON is POSTed; may carry a token in its path or query, so it is never logged whole.
WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_webhook)]
ClockTime = Annotated[
    dt.time,
    BeforeValidator(_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str, when_used="json"),
]
# Image coordinates normalised to 0..1 so zones survive a change of camera resolution.
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Unit, Unit]

_V = TypeVar("_V")


class _Model(BaseModel):
    # Every config model: a typo is an error, and the shared instance cannot change.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- site -----------------------------------------------------------------------------


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def iso(self) -> int:
        """ISO weekday number, Monday = 1."""
        return list(Weekday).index(self) + 1


class Language(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class Review(_Model):
    """The review of a week's draft before it is sealed (docs/bulletin.md): sealed by the
    scheduler at this weekday and time after the week ends if nobody sealed it sooner."""

    seal_weekday: Weekday = Weekday.TUE
    seal_time: ClockTime = dt.time(12, 0)
    # account ids (`sunlight board create-user --role auditor --id …`) of owners'
    # committee representatives, who may review drafts with the manager
    committee: tuple[Annotated[str, Field(min_length=1, max_length=64)], ...] = ()


class Bulletin(_Model):
    """When the weekly exposure bulletin's draft is made (then reviewed and sealed, see
    `review`), in the site's timezone."""

    weekday: Weekday = Weekday.MON
    time: ClockTime = dt.time(8, 0)
    language: Language = Language.ZH_CN
    review: Review = Review()

    @model_validator(mode="after")
    def _sealed_after_drafted(self) -> Bulletin:
        drafted = (self.weekday.iso, self.time)
        if (self.review.seal_weekday.iso, self.review.seal_time) < drafted:
            raise ConfigIssues([(("review", "seal_weekday"),
                                 "the review deadline must not come before the draft"
                                 f" ({self.weekday.value} {self.time:%H:%M})")])
        return self


class NightWindow(_Model):
    """Local hours counted as night (lamp rules with `night_only`); may wrap midnight."""

    start: ClockTime = dt.time(19, 0)
    end: ClockTime = dt.time(6, 0)

    def contains(self, at: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end


class Site(_Model):
    id: Slug
    name: Name
    name_en: Name | None = None
    timezone: str = "Asia/Shanghai"
    public_url: str = "http://localhost:8000"
    bulletin: Bulletin = Bulletin()
    night: NightWindow = NightWindow()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone '{value}' (use an IANA name like 'Asia/Shanghai')"
            ) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError(f"public_url '{value}' must start with http:// or https://")
        # Links are built as public_url + "/path"; a trailing slash would double it.
        return value.rstrip("/")

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def is_night(self, at: dt.datetime) -> bool:
        """Whether an aware datetime falls in the site's night window, in local time."""
        if at.tzinfo is None:
            raise ValueError("is_night needs a timezone-aware datetime")
        return self.night.contains(at.astimezone(self.tz).time())


class Area(_Model):
    """A place residents would name: 大堂, 电梯厅, 南门 … Used as a coarse location."""

    id: Slug
    name: Name
    name_en: Name | None = None


class Building(_Model):
    id: Slug
    name: Name
    name_en: Name | None = None
    areas: tuple[Area, ...] = ()


class Location(_Model):
    """`area` is looked up inside `building` when given, else among the site's areas."""

    building: Slug | None = None
    area: Slug


# --- people ---------------------------------------------------------------------------


class StaffMember(_Model):
    id: StaffId  # the staff number shown on the public bulletin
    name: Name
    title: Name | None = None


class Department(_Model):
    id: Slug
    name: Name
    name_en: Name | None = None
    head: StaffId  # receives SLA escalations
    webhook: WebhookUrl | None = None  # the head's escalations are POSTed here (JSON)
    staff: Annotated[tuple[StaffMember, ...], _at_least(1, "staff member")]

    @model_validator(mode="after")
    def _head_is_staff(self) -> Department:
        if all(member.id != self.head for member in self.staff):
            known = [member.id for member in self.staff]
            raise ConfigIssues(
                [
                    (
                        ("head",),
                        f"head '{self.head}' is not in this department's staff"
                        f" ({', '.join(known)})",
                    )
                ]
            )
        return self


class Notifications(_Model):
    """Where residents' status notifications go besides MQTT (e.g. an app push gateway)."""

    webhook: WebhookUrl | None = None


# --- categories and SLAs --------------------------------------------------------------


class SlaSpec(_Model):
    """Time to own (respond: accepted by) and time to resolve, in calendar time."""

    respond: Duration
    resolve: Duration

    @model_validator(mode="after")
    def _sensible(self) -> SlaSpec:
        issues: list[tuple[Loc, str]] = []
        for name in ("respond", "resolve"):
            if getattr(self, name) <= dt.timedelta(0):
                issues.append(((name,), f"{name} must be longer than 0"))
        if not issues and self.respond > self.resolve:
            issues.append((("respond",), "respond must not be longer than resolve"))
        if issues:
            raise ConfigIssues(issues)
        return self

    @property
    def target(self) -> SlaTarget:
        return SlaTarget(respond=self.respond, resolve=self.resolve)


class Category(_Model):
    """A ticket category; `code` is the Open311 service_code."""

    code: Slug
    name: Name  # Chinese, shown first
    name_en: Name
    department: Slug  # responsible department (agency_responsible)
    default_priority: Priority = Priority.NORMAL
    sla: Annotated[dict[Priority, SlaSpec], _at_least(1, "priority")]

    @model_validator(mode="after")
    def _default_has_sla(self) -> Category:
        if self.default_priority not in self.sla:
            raise ConfigIssues(
                [(("default_priority",), _no_sla(self.code, self.default_priority, self.sla))]
            )
        return self


def _no_sla(code: str, priority: Priority, sla: dict[Priority, SlaSpec]) -> str:
    has = ", ".join(str(p) for p in sla)
    return f"category '{code}' has no SLA for priority '{priority}' (has: {has})"


# --- devices and cameras --------------------------------------------------------------


class DeviceKind(StrEnum):
    WATER_LEAK = "water_leak"
    SMOKE = "smoke"
    TEMPERATURE = "temperature"
    DOOR_CONTACT = "door_contact"
    BIN_LEVEL = "bin_level"
    LAMP_CURRENT = "lamp_current"
    ELEVATOR = "elevator"
    AIR_QUALITY = "air_quality"
    CAMERA = "camera"


class Device(_Model):
    id: Slug  # also its MQTT topic segment
    kind: DeviceKind
    location: Location
    asset: Name | None = None  # what is watched, e.g. "3号楼东侧路灯#12" (hot spots)
    description: str | None = None

    @field_validator("kind")
    @classmethod
    def _not_camera(cls, value: DeviceKind) -> DeviceKind:
        if value is DeviceKind.CAMERA:
            raise ValueError("cameras are listed under `cameras` (with their zones)")
        return value


class ZoneKind(StrEnum):
    FIRE_EXIT = "fire_exit"  # anything static here longer than dwell blocks the exit
    FLOOR = "floor"  # small static objects here longer than dwell are litter
    MASK = "mask"  # ignored: neighbours' doors, windows, the street


# SPEC §6 defaults; a mask has no dwell.
DEFAULT_DWELL: dict[ZoneKind, dt.timedelta] = {
    ZoneKind.FIRE_EXIT: dt.timedelta(seconds=120),
    ZoneKind.FLOOR: dt.timedelta(minutes=10),
    ZoneKind.MASK: dt.timedelta(0),
}


class Zone(_Model):
    id: Slug
    kind: ZoneKind
    # [x, y] points, 0..1, top-left origin
    polygon: Annotated[tuple[Point, ...], _at_least(3, "point")]
    dwell: Duration

    @model_validator(mode="before")
    @classmethod
    def _default_dwell(cls, data: Any) -> Any:
        # The default depends on the kind, which a field default cannot see.
        if isinstance(data, dict) and "dwell" not in data:
            try:
                dwell = DEFAULT_DWELL[ZoneKind(str(data.get("kind")))]
            except ValueError:
                # A bad kind is reported on its own; don't add "dwell missing" to it.
                dwell = dt.timedelta(0)
            return {**data, "dwell": dwell}
        return data

    @model_validator(mode="after")
    def _simple_polygon(self) -> Zone:
        # Crossing edges first: a bow-tie can also have zero net area, and the crossing
        # is the mistake to report (points listed out of order).
        crossing = _self_intersection(self.polygon)
        if crossing is not None:
            a, b = crossing
            n = len(self.polygon)
            raise ConfigIssues(
                [
                    (
                        ("polygon",),
                        f"polygon edges {a}-{(a + 1) % n} and {b}-{(b + 1) % n} cross; "
                        "list the points in order around the zone",
                    )
                ]
            )
        if abs(_signed_area(self.polygon)) < 1e-9:
            raise ConfigIssues([(("polygon",), "polygon has no area (points on one line)")])
        return self


def _signed_area(points: Sequence[Point]) -> float:
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return total / 2


def _self_intersection(points: Sequence[Point]) -> tuple[int, int] | None:
    """The first pair of non-adjacent edges that cross, by start index, or None."""

    def orient(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # these two share the first point
            (p1, p2), (q1, q2) = edges[i], edges[j]
            d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
            d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
            if d1 * d2 < 0 and d3 * d4 < 0:
                return i, j
    return None


class Camera(_Model):
    id: Slug  # shares the namespace of device ids (MQTT topic segment)
    location: Location
    description: str | None = None
    zones: Annotated[tuple[Zone, ...], _at_least(1, "zone")]

    @model_validator(mode="after")
    def _unique_zones(self) -> Camera:
        issues = list(
            _duplicates("zone id", ((("zones", i, "id"), z.id) for i, z in enumerate(self.zones)))
        )
        if issues:
            raise ConfigIssues(issues)
        return self


# --- sensor rules ---------------------------------------------------------------------


class Direction(StrEnum):
    ABOVE = "above"
    BELOW = "below"


class SensorRule(_Model):
    """Open a ticket when `metric` stays beyond `threshold` for `duration`.

    The condition ends only when the value comes back to `clear_at` (hysteresis), so a
    reading wobbling around the threshold opens one ticket, not one per reading.
    `clear_at` defaults to `threshold` (no hysteresis: right for 0/1 metrics).
    A rule names `devices`, or a `device_kind`, or neither: then it covers every device
    and camera (meant for `offline`).
    """

    id: Slug
    devices: Annotated[tuple[Slug, ...], _at_least(1, "device")] | None = None
    device_kind: DeviceKind | None = None
    metric: MetricName
    condition: Direction
    threshold: float
    clear_at: float
    duration: Duration = dt.timedelta(0)
    category: Slug
    priority: Priority
    night_only: bool = False  # only while Site.is_night (street lamps are off by day)

    @model_validator(mode="before")
    @classmethod
    def _default_clear_at(cls, data: Any) -> Any:
        if isinstance(data, dict) and "clear_at" not in data and "threshold" in data:
            return {**data, "clear_at": data["threshold"]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> SensorRule:
        issues: list[tuple[Loc, str]] = []
        if self.devices is not None and self.device_kind is not None:
            issues.append((("device_kind",), "give either devices or device_kind, not both"))
        if self.condition is Direction.ABOVE and self.clear_at > self.threshold:
            issues.append(
                (
                    ("clear_at",),
                    f"clear_at {self.clear_at:g} must not be above "
                    f"threshold {self.threshold:g} when the condition is 'above'",
                )
            )
        if self.condition is Direction.BELOW and self.clear_at < self.threshold:
            issues.append(
                (
                    ("clear_at",),
                    f"clear_at {self.clear_at:g} must not be below "
                    f"threshold {self.threshold:g} when the condition is 'below'",
                )
            )
        if issues:
            raise ConfigIssues(issues)
        return self

    def breached(self, value: float) -> bool:
        """The value is beyond the threshold (the condition starts or holds)."""
        if self.condition is Direction.ABOVE:
            return value > self.threshold
        return value < self.threshold

    def cleared(self, value: float) -> bool:
        """The value is back on the safe side of clear_at (the condition ends)."""
        if self.condition is Direction.ABOVE:
            return value <= self.clear_at
        return value >= self.clear_at


# --- the whole estate -----------------------------------------------------------------


class EstateConfig(_Model):
    site: Site
    buildings: tuple[Building, ...] = ()
    areas: tuple[Area, ...] = ()  # common areas: gates, garage, clubhouse …
    departments: Annotated[tuple[Department, ...], _at_least(1, "department")]
    categories: Annotated[tuple[Category, ...], _at_least(1, "category")]
    devices: tuple[Device, ...] = ()
    cameras: tuple[Camera, ...] = ()
    sensor_rules: tuple[SensorRule, ...] = ()
    notifications: Notifications = Notifications()

    @model_validator(mode="after")
    def _cross_references(self) -> EstateConfig:
        issues = list(self._check())
        if issues:
            raise ConfigIssues(issues)
        return self

    def _check(self) -> Iterator[tuple[Loc, str]]:
        yield from _duplicates(
            "building id", ((("buildings", i, "id"), b.id) for i, b in enumerate(self.buildings))
        )
        for i, building in enumerate(self.buildings):
            yield from _duplicates(
                f"area id in {building.id}",
                ((("buildings", i, "areas", j, "id"), a.id) for j, a in enumerate(building.areas)),
            )
        yield from _duplicates(
            "site area id", ((("areas", j, "id"), a.id) for j, a in enumerate(self.areas))
        )
        yield from _duplicates(
            "department id",
            ((("departments", i, "id"), d.id) for i, d in enumerate(self.departments)),
        )
        yield from _duplicates(
            "staff number",
            (
                (("departments", i, "staff", j, "id"), s.id)
                for i, d in enumerate(self.departments)
                for j, s in enumerate(d.staff)
            ),
        )
        yield from _duplicates(
            "category code",
            ((("categories", i, "code"), c.code) for i, c in enumerate(self.categories)),
        )
        yield from _duplicates(
            "device or camera id",
            [
                *((("devices", i, "id"), d.id) for i, d in enumerate(self.devices)),
                *((("cameras", i, "id"), c.id) for i, c in enumerate(self.cameras)),
            ],
        )
        yield from _duplicates(
            "sensor rule id",
            ((("sensor_rules", i, "id"), r.id) for i, r in enumerate(self.sensor_rules)),
        )

        departments = [d.id for d in self.departments]
        for i, category in enumerate(self.categories):
            if category.department not in departments:
                yield (
                    ("categories", i, "department"),
                    _unknown("department", category.department, departments),
                )

        for i, device in enumerate(self.devices):
            yield from self._check_location(("devices", i, "location"), device.location)
        for i, camera in enumerate(self.cameras):
            yield from self._check_location(("cameras", i, "location"), camera.location)

        device_ids = [d.id for d in self.devices] + [c.id for c in self.cameras]
        categories = {c.code: c for c in self.categories}
        for i, rule in enumerate(self.sensor_rules):
            for j, device_id in enumerate(rule.devices or ()):
                if device_id not in device_ids:
                    yield (
                        ("sensor_rules", i, "devices", j),
                        _unknown("device", device_id, device_ids),
                    )
            target = categories.get(rule.category)
            if target is None:
                yield (
                    ("sensor_rules", i, "category"),
                    _unknown("category", rule.category, list(categories)),
                )
            elif rule.priority not in target.sla:
                yield (
                    ("sensor_rules", i, "priority"),
                    _no_sla(target.code, rule.priority, target.sla),
                )

    def _check_location(self, path: Loc, location: Location) -> Iterator[tuple[Loc, str]]:
        if location.building is None:
            site_areas = [a.id for a in self.areas]
            if location.area not in site_areas:
                yield (
                    (*path, "area"),
                    _unknown("site area", location.area, site_areas)
                    + ("; give `building` for an area inside a building"),
                )
            return
        building = self._buildings.get(location.building)
        if building is None:
            yield (
                (*path, "building"),
                _unknown("building", location.building, list(self._buildings)),
            )
            return
        areas = [a.id for a in building.areas]
        if location.area not in areas:
            yield (*path, "area"), _unknown(f"area in {building.id}", location.area, areas)

    # --- lookups (indexes built once, on first use) -----------------------------------

    @cached_property
    def _buildings(self) -> dict[str, Building]:
        return {b.id: b for b in self.buildings}

    @cached_property
    def _areas(self) -> dict[str | None, dict[str, Area]]:
        """Areas by building id (None: the site's own areas), then by area id."""
        found: dict[str | None, dict[str, Area]] = {None: {a.id: a for a in self.areas}}
        found |= {b.id: {a.id: a for a in b.areas} for b in self.buildings}
        return found

    @cached_property
    def _categories(self) -> dict[str, Category]:
        return {c.code: c for c in self.categories}

    @cached_property
    def _departments(self) -> dict[str, Department]:
        return {d.id: d for d in self.departments}

    @cached_property
    def _staff(self) -> dict[str, tuple[StaffMember, Department]]:
        return {s.id: (s, d) for d in self.departments for s in d.staff}

    @cached_property
    def _devices(self) -> dict[str, Device]:
        return {d.id: d for d in self.devices}

    @cached_property
    def _cameras(self) -> dict[str, Camera]:
        return {c.id: c for c in self.cameras}

    def category(self, code: str) -> Category:
        """The category with this code; KeyError if there is none."""
        return _get(self._categories, code, "category")

    def department(self, department_id: str) -> Department:
        return _get(self._departments, department_id, "department")

    def staff_by_id(self, staff_id: str) -> StaffMember:
        """The staff member with this staff number; KeyError if there is none."""
        return _get(self._staff, staff_id, "staff number")[0]

    def staff_names(self) -> frozenset[str]:
        """Every staff member's name: personal data the public text policy masks."""
        return frozenset(member.name for d in self.departments for member in d.staff)

    def department_of(self, staff_id: str) -> Department:
        return _get(self._staff, staff_id, "staff number")[1]

    def building(self, building_id: str) -> Building:
        return _get(self._buildings, building_id, "building")

    def area(self, location: Location) -> Area:
        """The area a location names (inside its building, or a site area)."""
        if location.building:
            self.building(location.building)  # KeyError naming the building
        return _get(self._areas[location.building], location.area, "area")

    def device(self, device_id: str) -> Device:
        return _get(self._devices, device_id, "device")

    def camera(self, camera_id: str) -> Camera:
        return _get(self._cameras, camera_id, "camera")

    def device_kind(self, device_id: str) -> DeviceKind:
        """Kind of any publisher on MQTT, cameras included; KeyError if unknown."""
        if device_id in self._cameras:
            return DeviceKind.CAMERA
        return self.device(device_id).kind

    def device_location(self, device_id: str) -> Location:
        if device_id in self._cameras:
            return self._cameras[device_id].location
        return self.device(device_id).location

    @property
    def device_ids(self) -> frozenset[str]:
        """Every id allowed to publish under sunlight/v1/{site}/{id}/…"""
        return frozenset(self._devices) | frozenset(self._cameras)

    def rule_devices(self, rule: SensorRule) -> tuple[str, ...]:
        """The device (and camera) ids a rule applies to, in config order."""
        if rule.devices is not None:
            return rule.devices
        if rule.device_kind is DeviceKind.CAMERA:
            return tuple(self._cameras)
        if rule.device_kind is not None:
            return tuple(d.id for d in self.devices if d.kind is rule.device_kind)
        return (*self._devices, *self._cameras)

    def rules_for(self, device_id: str) -> tuple[SensorRule, ...]:
        """The sensor rules that watch this device."""
        return tuple(r for r in self.sensor_rules if device_id in self.rule_devices(r))

    def sla_targets(self) -> dict[tuple[str, Priority], SlaTarget]:
        """(category code, priority) -> SLA target, for the ticket domain."""
        return {
            (category.code, priority): spec.target
            for category in self.categories
            for priority, spec in category.sla.items()
        }

    def sla_target(self, code: str, priority: Priority) -> SlaTarget:
        category = self.category(code)
        if priority not in category.sla:
            raise KeyError(_no_sla(code, priority, category.sla))
        return category.sla[priority].target

    @cached_property
    def _labels(self) -> dict[tuple[str | None, str, bool, str], str]:
        return {}  # location labels already made: every ticket list asks for them

    def location_label(self, location: Location, lang: str = "zh") -> str:
        """Coarse public location, e.g. "3号楼 · 东侧大堂" (never a unit number)."""
        return self.place_label(location.building, location.area, lang)

    def place_label(self, building: str | None, area: str, lang: str = "zh", *,
                    separator: str = PLACE_SEPARATOR) -> str:
        """`location_label` by ids, as a ticket holds them: a known place is a dict lookup
        (lists ask for one label per row). KeyError or ValueError for an unknown place."""
        english = lang.lower().startswith("en")
        key = (building, area, english, separator)
        found = self._labels.get(key)
        if found is None:
            location = Location(building=building, area=area)
            found = self._labels[key] = self._make_label(location, english, separator)
        return found

    def place_text(self, building: str | None, area: str, lang: str = "zh", *,
                   separator: str = PLACE_SEPARATOR, ids_separator: str | None = None) -> str:
        """The place as every page, API and bulletin shows it: `place_label`, or, for a
        place since removed from the config, its ids joined by `ids_separator` (by
        `separator` when not given)."""
        try:
            return self.place_label(building or None, area, lang, separator=separator)
        except (KeyError, ValueError):
            joiner = separator if ids_separator is None else ids_separator
            return joiner.join(part for part in (building, area) if part)

    def _make_label(self, location: Location, english: bool, separator: str) -> str:
        def label(item: Building | Area) -> str:
            return (item.name_en or item.name) if english else item.name

        area = label(self.area(location))
        if location.building is None:
            return area
        return f"{label(self.building(location.building))}{separator}{area}"


# --- helpers --------------------------------------------------------------------------


def _duplicates(what: str, items: Iterable[tuple[Loc, str]]) -> Iterator[tuple[Loc, str]]:
    """Report each repeat of an id at its own line, naming the first occurrence."""
    first: dict[str, Loc] = {}
    for path, value in items:
        if value in first:
            yield path, f"duplicate {what} '{value}' (also at {format_path(first[value])})"
        else:
            first[value] = path


def _unknown(what: str, value: str, known: Sequence[str]) -> str:
    message = f"unknown {what} '{value}'"
    close = difflib.get_close_matches(value, known, n=1)
    if close:
        return f"{message} (did you mean '{close[0]}'?)"
    if not known:
        return f"{message} (none are defined)"
    shown = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
    return f"{message} (known: {shown})"


def _get(index: dict[str, _V], key: str, what: str) -> _V:
    try:
        return index[key]
    except KeyError:
        raise KeyError(f"unknown {what} '{key}'") from None
