"""Scene geometry: the floor plane, the camera's zones, and how big things look where.

Positions on the floor are in metres: ``x`` across the scene (left to right) and ``z``
away from the camera. A homography maps them to image coordinates normalised to 0..1
(0,0 = top left), the same coordinates as the zone polygons of the estate file.

Heights use a separate, milder scale (``px_per_m``): a ceiling camera foreshortens
upright things near it, and people drawn at the lateral floor scale would be taller
than the frame at the bottom of the picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
Polygon = tuple[Point, ...]

PERSON_HEIGHT_M = 1.7
# Oblique look from above: a step of one metre away from the camera moves a thing up
# the picture by DEPTH_K times its height scale.
DEPTH_K = 0.45


def _homography(src: Sequence[Point], dst: Sequence[Point]) -> npt.NDArray[np.float64]:
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y])
        rows.append([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y])
        rhs.extend((u, v))
    h = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    return np.append(h, 1.0).reshape(3, 3)


class FloorMap:
    """A ``width_m`` x ``length_m`` rectangle of floor onto a quadrilateral of the image.

    ``quad`` lists the image points of the corners near-left, near-right, far-right,
    far-left (near = z 0, far = z length_m).
    """

    def __init__(self, quad: Sequence[Point], width_m: float, length_m: float) -> None:
        self.quad = tuple(quad)
        self.width_m = width_m
        self.length_m = length_m
        floor = [(0.0, 0.0), (width_m, 0.0), (width_m, length_m), (0.0, length_m)]
        self._h = _homography(floor, quad)
        self._inv = np.linalg.inv(self._h)

    def to_image(self, x: float, z: float) -> Point:
        h = self._h
        w = h[2, 0] * x + h[2, 1] * z + h[2, 2]
        return (
            float((h[0, 0] * x + h[0, 1] * z + h[0, 2]) / w),
            float((h[1, 0] * x + h[1, 1] * z + h[1, 2]) / w),
        )

    def to_floor(self, u: float, v: float) -> Point:
        h = self._inv
        w = h[2, 0] * u + h[2, 1] * v + h[2, 2]
        return (
            float((h[0, 0] * u + h[0, 1] * v + h[0, 2]) / w),
            float((h[1, 0] * u + h[1, 1] * v + h[1, 2]) / w),
        )

    def singular_z(self) -> float:
        """The z (behind the camera, negative) where the mapping breaks down."""
        h = self._h
        # w = h20 x + h21 z + h22 does not depend on x for a symmetric trapezoid
        return float(-h[2, 2] / h[2, 1]) if h[2, 1] != 0 else -1e9


def point_in_polygon(p: Point, polygon: Sequence[Point]) -> bool:
    """Strictly inside (ray casting); points on an edge may go either way."""
    x, y = p
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < cross:
                inside = not inside
    return inside


def box_in_polygon(box: Sequence[float], polygon: Sequence[Point]) -> bool:
    """All four corners of an [x1, y1, x2, y2] box inside a convex polygon."""
    x1, y1, x2, y2 = box
    return all(point_in_polygon(c, polygon) for c in ((x1, y1), (x2, y1), (x2, y2), (x1, y2)))


@dataclass(frozen=True)
class ZoneSpec:
    id: str
    kind: str  # fire_exit | floor | mask
    polygon: Polygon
    dwell_s: float | None


@dataclass(frozen=True)
class Endpoint:
    """Where people come from or go to: a segment of floor, hidden or at a door."""

    name: str
    x: tuple[float, float]  # range of x, metres
    z: tuple[float, float]  # range of z, metres
    door: bool = False  # people appear or vanish through a door (drawn open meanwhile)


@dataclass(frozen=True)
class Layout:
    kind: str
    camera_id: str
    description: str
    floor: FloorMap
    # person height as a share of the frame height at image row y (feet):
    # height_at_far + height_slope * (y - far_y), constant below the bottom edge
    far_y: float
    height_at_far: float
    height_slope: float
    zones: tuple[ZoneSpec, ...]
    endpoints: tuple[Endpoint, ...]

    def zone(self, kind: str) -> ZoneSpec | None:
        for zone in self.zones:
            if zone.kind == kind:
                return zone
        return None

    def height_share(self, y: float) -> float:
        y = min(max(y, self.far_y - 0.2), 1.0)
        return max(0.02, self.height_at_far + self.height_slope * (y - self.far_y))

    def px_per_m(self, y: float, frame_h: int) -> float:
        """Pixels per metre for upright sizes at image row y (normalised)."""
        return self.height_share(y) * frame_h / PERSON_HEIGHT_M

    def endpoint(self, name: str) -> Endpoint:
        for e in self.endpoints:
            if e.name == name:
                return e
        raise KeyError(name)

    def zone_floor_box(self, zone: ZoneSpec) -> tuple[float, float, float, float]:
        """The floor-coordinate bounding box of a zone (x0, z0, x1, z1)."""
        pts = [self.floor.to_floor(u, v) for u, v in zone.polygon]
        xs = [p[0] for p in pts]
        zs = [p[1] for p in pts]
        return min(xs), min(zs), max(xs), max(zs)


def _hidden_near_z(floor: FloorMap, far_y: float, h0: float, slope: float) -> float:
    """A z in front of the near edge where a tall person is wholly below the frame."""
    limit = floor.singular_z() * 0.9
    z = 0.0
    top_share = 1.15 * max(0.02, h0 + slope * (1.0 - far_y))  # tallest person, capped
    while z > limit:
        _, y = floor.to_image(floor.width_m / 2, z)
        if y - top_share > 1.03:
            return z
        z -= 0.05
    return limit


def corridor_layout() -> Layout:
    """The ground floor corridor of building 3 seen from its ceiling, fire exit ahead.

    The floor narrows towards a green fire door at the far end (vanishing point at
    (0.5, 0.15)); the zones are those of ``cam-b3-stairwell`` in deploy/estate.example.yaml.
    """
    floor = FloorMap(
        [(-0.35, 1.0), (1.35, 1.0), (0.65, 0.30), (0.35, 0.30)], width_m=4.0, length_m=10.0
    )
    h0, slope = 0.20, 0.36 / 0.70
    near = _hidden_near_z(floor, 0.30, h0, slope)
    zones = (
        ZoneSpec(
            "exit", "fire_exit", ((0.35, 0.30), (0.65, 0.30), (0.70, 0.95), (0.30, 0.95)), 120.0
        ),
        ZoneSpec(
            "corridor-floor",
            "floor",
            ((0.05, 0.60), (0.30, 0.55), (0.30, 0.98), (0.02, 0.98)),
            600.0,
        ),
        ZoneSpec("unit-doors", "mask", ((0.0, 0.0), (0.25, 0.0), (0.25, 0.55), (0.0, 0.60)), None),
    )
    endpoints = (
        Endpoint("near", (0.4, 3.6), (near, near)),
        Endpoint("door", (1.55, 2.45), (9.9, 9.9), door=True),
    )
    return Layout(
        kind="corridor",
        camera_id="cam-b3-stairwell",
        description="3号楼1层楼道，朝向安全出口",
        floor=floor,
        far_y=0.30,
        height_at_far=h0,
        height_slope=slope,
        zones=zones,
        endpoints=endpoints,
    )


def waste_station_layout() -> Layout:
    """The waste sorting station: paving, four bins at the back, the street behind a wall."""
    floor = FloorMap(
        [(-0.25, 1.0), (1.25, 1.0), (0.95, 0.30), (0.05, 0.30)], width_m=12.0, length_m=8.0
    )
    h0, slope = 0.20, 0.20 / 0.70
    near = _hidden_near_z(floor, 0.30, h0, slope)
    zones = (
        ZoneSpec(
            "station-floor",
            "floor",
            ((0.10, 0.50), (0.90, 0.50), (0.95, 0.98), (0.05, 0.98)),
            600.0,
        ),
        ZoneSpec("street", "mask", ((0.0, 0.0), (1.0, 0.0), (1.0, 0.25), (0.0, 0.25)), None),
    )
    endpoints = (
        Endpoint("near", (1.0, 11.0), (near, near)),
        Endpoint("left", (-2.2, -2.2), (0.5, 5.5)),
        Endpoint("right", (14.2, 14.2), (0.5, 5.5)),
    )
    return Layout(
        kind="waste_station",
        camera_id="cam-waste-station",
        description="垃圾分类站，投放点及周边地面",
        floor=floor,
        far_y=0.30,
        height_at_far=h0,
        height_slope=slope,
        zones=zones,
        endpoints=endpoints,
    )


LAYOUTS = {"corridor": corridor_layout, "waste_station": waste_station_layout}
KINDS = tuple(LAYOUTS)


def layout_for(kind: str) -> Layout:
    try:
        return LAYOUTS[kind]()
    except KeyError:
        raise ValueError(f"unknown scene kind {kind!r}; choose from {', '.join(KINDS)}") from None
