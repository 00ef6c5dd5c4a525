"""Zone geometry: which detections belong to which camera zone.

All coordinates are normalised image coordinates (0..1, top-left origin), the same as
`services.config.estate.Zone.polygon`. Zone polygons may be concave; the config refuses
self-intersecting ones.

How an object belongs to a zone depends on what the zone is drawn over:

* **Footprint** (`floor` zones, litter): an object lying on the floor belongs to the
  zone its bottom-centre point stands on, as Frigate does for ground objects. Area
  overlap would count a tall object standing *in front of* the floor zone, and would
  miss a bottle whose box pokes out over a wall edge.
* **Area overlap** (`fire_exit` zones): the zone is drawn over the doorway, not the
  floor, and a stack of boxes blocks it by covering it. An object belongs when at least
  `FIRE_EXIT_OVERLAP` (0.3) of its box area lies inside the zone.
* **Mask** zones: a detection whose box lies mostly (`MASK_OVERLAP`, 0.5) inside the mask
  zones is ignored altogether (the street, a neighbour's door, a window).

Points on a polygon's edge count as inside, so a box touching the bottom of the frame
still stands on a floor zone drawn down to y = 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

__all__ = [
    "FIRE_EXIT_OVERLAP",
    "MASK_OVERLAP",
    "Box",
    "Membership",
    "Point",
    "Polygon",
    "belongs",
    "box_area",
    "footprint",
    "intersection_area",
    "iou",
    "mask_fraction",
    "overlap_fraction",
    "point_in_polygon",
    "polygon_area",
]

Point = tuple[float, float]
Polygon = Sequence[Point]
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 with x1 <= x2, y1 <= y2

FIRE_EXIT_OVERLAP = 0.3
MASK_OVERLAP = 0.5
_EPS = 1e-12


class Membership(StrEnum):
    FOOTPRINT = "footprint"  # bottom-centre point inside the polygon
    OVERLAP = "overlap"  # fraction of the box area inside the polygon


def box_area(box: Box) -> float:
    x1, y1, x2, y2 = box
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def footprint(box: Box) -> Point:
    """Where an object stands: the middle of its box's bottom edge."""
    x1, _, x2, y2 = box
    return ((x1 + x2) / 2.0, y2)


def intersection_area(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0 when both are empty."""
    inter = intersection_area(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > _EPS else 0.0


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    (px, py), (ax, ay), (bx, by) = p, a, b
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    if abs(cross) > 1e-9:
        return False
    return (
        min(ax, bx) - 1e-9 <= px <= max(ax, bx) + 1e-9
        and min(ay, by) - 1e-9 <= py <= max(ay, by) + 1e-9
    )


def point_in_polygon(point: Point, polygon: Polygon) -> bool:
    """Even-odd ray casting; works for concave polygons; the boundary counts as inside."""
    n = len(polygon)
    if n < 3:
        return False
    px, py = point
    inside = False
    for i in range(n):
        a, b = polygon[i], polygon[(i + 1) % n]
        if _on_segment(point, a, b):
            return True
        (ax, ay), (bx, by) = a, b
        if (ay > py) != (by > py):
            x_cross = ax + (py - ay) * (bx - ax) / (by - ay)
            if px < x_cross:
                inside = not inside
    return inside


def polygon_area(polygon: Polygon) -> float:
    """Unsigned shoelace area."""
    n = len(polygon)
    twice = 0.0
    for i in range(n):
        (ax, ay), (bx, by) = polygon[i], polygon[(i + 1) % n]
        twice += ax * by - bx * ay
    return abs(twice) / 2.0


def _clip_half_plane(
    points: list[Point], axis: int, value: float, keep_greater: bool
) -> list[Point]:
    """Keep the part of the polygon where point[axis] >= value (or <= value)."""

    def inside(p: Point) -> bool:
        return p[axis] >= value if keep_greater else p[axis] <= value

    def cut(p: Point, q: Point) -> Point:
        s = (value - p[axis]) / (q[axis] - p[axis])
        if axis == 0:
            return (value, p[1] + s * (q[1] - p[1]))
        return (p[0] + s * (q[0] - p[0]), value)

    out: list[Point] = []
    prev = points[-1]
    for cur in points:
        if inside(cur):
            if not inside(prev):
                out.append(cut(prev, cur))
            out.append(cur)
        elif inside(prev):
            out.append(cut(prev, cur))
        prev = cur
    return out


def _clip(polygon: Polygon, box: Box) -> list[Point]:
    """Sutherland-Hodgman: the polygon clipped to the (convex) box.

    The polygon may be concave: where the clipped part falls apart into pieces they
    come back joined by zero-width edges, which add nothing to the shoelace area.
    """
    x1, y1, x2, y2 = box
    out: list[Point] = list(polygon)
    for axis, value, keep_greater in ((0, x1, True), (0, x2, False), (1, y1, True), (1, y2, False)):
        if not out:
            break
        out = _clip_half_plane(out, axis, value, keep_greater)
    return out


def overlap_fraction(box: Box, polygon: Polygon) -> float:
    """The fraction (0..1) of the box's area that lies inside the polygon.

    A box without area (a point or a line) counts as wholly in or out by its centre.
    """
    area = box_area(box)
    if area <= _EPS:
        centre = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
        return 1.0 if point_in_polygon(centre, polygon) else 0.0
    return min(1.0, polygon_area(_clip(polygon, box)) / area)


def mask_fraction(box: Box, masks: Iterable[Polygon]) -> float:
    """The fraction of the box inside any of the masks.

    Masks are summed (capped at 1), so two masks drawn side by side cover a box that
    straddles them; masks drawn overlapping each other count their overlap twice.
    """
    return min(1.0, sum(overlap_fraction(box, m) for m in masks))


def belongs(
    box: Box, polygon: Polygon, how: Membership, min_overlap: float = FIRE_EXIT_OVERLAP
) -> bool:
    """Whether an object with this box belongs to the zone drawn as `polygon`."""
    if how is Membership.FOOTPRINT:
        return point_in_polygon(footprint(box), polygon)
    return overlap_fraction(box, polygon) >= min_overlap
