"""Drawing with cv2 primitives: backgrounds, people, objects, vehicles.

Everything moving is a list of primitives (``Prim``) in frame pixels, so that the planner
can measure it (bounding boxes, visibility) with the same numbers the renderer draws.
A static object becomes a ``Sprite``: a small patch and its exact mask.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from edge.scenes.geometry import DEPTH_K, Layout

Image = npt.NDArray[np.uint8]
Color = tuple[int, int, int]  # BGR

LINE = cv2.LINE_8  # no anti-aliasing: masks stay exact


@dataclass(frozen=True)
class Prim:
    kind: Literal["poly", "line", "circle"]
    pts: npt.NDArray[np.int32]  # (n, 2); a circle's centre is pts[0]
    color: Color
    thickness: int = -1  # -1: filled (poly, circle); lines: >= 1
    radius: int = 0
    closed: bool = False  # a line through pts[0..n], closed back to pts[0]

    def bounds(self) -> tuple[int, int, int, int]:
        """Inclusive pixel bounds (x0, y0, x1, y1) of what this draws."""
        if self.kind == "circle":
            cx, cy = int(self.pts[0, 0]), int(self.pts[0, 1])
            r = self.radius + (max(self.thickness, 0) + 1) // 2 + 1
            return cx - r, cy - r, cx + r, cy + r
        pad = (self.thickness + 1) // 2 + 1 if self.kind == "line" else 1
        x0, y0 = self.pts.min(axis=0)
        x1, y1 = self.pts.max(axis=0)
        return int(x0) - pad, int(y0) - pad, int(x1) + pad, int(y1) + pad


def _pts(points: Iterable[tuple[float, float]]) -> npt.NDArray[np.int32]:
    return np.round(np.array(list(points), dtype=np.float64)).astype(np.int32).reshape(-1, 2)


def poly(points: Iterable[tuple[float, float]], color: Color) -> Prim:
    return Prim("poly", _pts(points), color)


def line(
    points: Iterable[tuple[float, float]], color: Color, thickness: float, closed: bool = False
) -> Prim:
    return Prim("line", _pts(points), color, max(1, round(thickness)), closed=closed)


def circle(center: tuple[float, float], radius: float, color: Color, thickness: int = -1) -> Prim:
    return Prim("circle", _pts([center]), color, thickness, radius=max(1, round(radius)))


def draw_prims(
    img: npt.NDArray[np.uint8],
    prims: Sequence[Prim],
    offset: tuple[int, int] = (0, 0),
    color: Color | int | None = None,
) -> None:
    """Draw onto img (shifted by -offset); ``color`` overrides every colour (masks)."""
    ox, oy = offset
    for p in prims:
        c: Color | int = p.color if color is None else color
        pts = p.pts if (ox, oy) == (0, 0) else p.pts - np.array([ox, oy], dtype=np.int32)
        if p.kind == "poly":
            cv2.fillPoly(img, [pts], c, LINE)
        elif p.kind == "line":
            cv2.polylines(img, [pts], p.closed, c, p.thickness, LINE)
        else:
            cv2.circle(img, (int(pts[0, 0]), int(pts[0, 1])), p.radius, c, p.thickness, LINE)


def prims_bounds(prims: Sequence[Prim]) -> tuple[int, int, int, int]:
    bs = [p.bounds() for p in prims]
    return (
        min(b[0] for b in bs),
        min(b[1] for b in bs),
        max(b[2] for b in bs),
        max(b[3] for b in bs),
    )


@dataclass(frozen=True)
class Sprite:
    """A drawn thing: a patch, its mask and where its top-left corner goes in the frame."""

    x0: int
    y0: int
    patch: Image
    mask: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, prims: Sequence[Prim]) -> Sprite:
        x0, y0, x1, y1 = prims_bounds(prims)
        w, h = x1 - x0 + 1, y1 - y0 + 1
        patch = np.zeros((h, w, 3), np.uint8)
        mask = np.zeros((h, w), np.uint8)
        draw_prims(patch, prims, (x0, y0))
        draw_prims(mask, prims, (x0, y0), 255)
        return cls(x0, y0, patch, mask > 0)

    def _clip(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        h, w = self.mask.shape
        ax0, ay0 = max(self.x0, 0), max(self.y0, 0)
        ax1, ay1 = min(self.x0 + w, width), min(self.y0 + h, height)
        if ax0 >= ax1 or ay0 >= ay1:
            return None
        return ax0, ay0, ax1, ay1

    def paste(self, img: Image) -> None:
        clip = self._clip(img.shape[1], img.shape[0])
        if clip is None:
            return
        ax0, ay0, ax1, ay1 = clip
        px, py = ax0 - self.x0, ay0 - self.y0
        sub = (slice(py, py + ay1 - ay0), slice(px, px + ax1 - ax0))
        np.copyto(img[ay0:ay1, ax0:ax1], self.patch[sub], where=self.mask[sub][..., None])

    def pixel_box(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """Inclusive pixel bounds of the drawn pixels inside a width x height frame."""
        clip = self._clip(width, height)
        if clip is None:
            return None
        ax0, ay0, ax1, ay1 = clip
        px, py = ax0 - self.x0, ay0 - self.y0
        sub = self.mask[py : py + ay1 - ay0, px : px + ax1 - ax0]
        ys, xs = np.nonzero(sub)
        if len(xs) == 0:
            return None
        return (
            ax0 + int(xs.min()),
            ay0 + int(ys.min()),
            ax0 + int(xs.max()),
            ay0 + int(ys.max()),
        )


# --- projection around an anchor -------------------------------------------------------


@dataclass(frozen=True)
class Projector:
    """Local metres (dx across, dz away, dy up) to pixels around an anchor on the floor.

    ``skew`` shifts far points sideways (towards the vanishing point); ``lean`` tilts
    upright parts sideways along (lean_x, lean_z) by that many metres per metre.
    """

    ax: float
    ay: float
    s: float  # pixels per metre
    skew: float = 0.0
    lean_x: float = 0.0
    lean_z: float = 0.0

    def __call__(self, dx: float, dz: float, dy: float) -> tuple[float, float]:
        dx += dy * self.lean_x
        dz += dy * self.lean_z
        return (
            self.ax + dx * self.s + dz * self.s * self.skew,
            self.ay - dy * self.s - dz * self.s * DEPTH_K,
        )


def skew_at(x_norm: float) -> float:
    """Sideways shift of depth for a thing at normalised x: far parts lean to the centre."""
    return -(x_norm - 0.5) * 0.5


# --- objects -----------------------------------------------------------------------------

ObjectKind = Literal["box", "bicycle", "bottle", "bag"]


@dataclass(frozen=True)
class ObjectLook:
    kind: ObjectKind
    color: Color
    accent: Color
    size: tuple[float, float, float]  # width, depth, height (metres)
    count: int = 1  # boxes stacked
    angle: float = 0.0  # radians, in the floor plane (bicycle heading, bottle axis)
    variant: int = 0


def _shade(c: Color, f: float) -> Color:
    return (min(255, round(c[0] * f)), min(255, round(c[1] * f)), min(255, round(c[2] * f)))


def object_prims(look: ObjectLook, p: Projector, parked: bool = True) -> list[Prim]:
    if look.kind == "box":
        return _box_prims(look, p)
    if look.kind == "bicycle":
        return _bicycle_prims(look, p, parked)
    if look.kind == "bottle":
        return _bottle_prims(look, p)
    return _bag_prims(look, p)


def _box_prims(look: ObjectLook, p: Projector) -> list[Prim]:
    w, d, h = look.size
    out: list[Prim] = []
    for i in range(look.count):
        # upper boxes are a little smaller and shifted
        f = 1.0 - 0.12 * i
        bw, bd, bh = w * f, d * f, h * f
        shift = 0.04 * i * (1 if look.variant % 2 else -1)
        y0 = sum(h * (1.0 - 0.12 * j) for j in range(i))
        corners = [
            p(shift + sx * bw / 2, sz * bd / 2, y0 + sy * bh)
            for sx in (-1, 1)
            for sz in (-1, 1)
            for sy in (0, 1)
        ]
        hull = cv2.convexHull(_pts(corners)).reshape(-1, 2)
        out.append(Prim("poly", hull.astype(np.int32), _shade(look.color, 0.78)))
        front = [
            p(shift - bw / 2, -bd / 2, y0),
            p(shift + bw / 2, -bd / 2, y0),
            p(shift + bw / 2, -bd / 2, y0 + bh),
            p(shift - bw / 2, -bd / 2, y0 + bh),
        ]
        out.append(poly(front, look.color))
        top = [
            p(shift - bw / 2, -bd / 2, y0 + bh),
            p(shift + bw / 2, -bd / 2, y0 + bh),
            p(shift + bw / 2, bd / 2, y0 + bh),
            p(shift - bw / 2, bd / 2, y0 + bh),
        ]
        out.append(poly(top, _shade(look.color, 1.15)))
        tape = max(1.0, 0.05 * p.s)
        out.append(line([p(shift, -bd / 2, y0 + bh), p(shift, bd / 2, y0 + bh)], look.accent, tape))
        out.append(
            line([p(shift, -bd / 2, y0 + bh), p(shift, -bd / 2, y0 + bh * 0.75)], look.accent, tape)
        )
    return out


def _bicycle_prims(look: ObjectLook, p: Projector, parked: bool) -> list[Prim]:
    a = look.angle
    ux, uz = math.sin(a), math.cos(a)  # heading
    r = 0.33
    wheelbase = 1.05
    if parked:  # leaning on its kickstand
        lean = math.tan(math.radians(9.0))
        p = Projector(p.ax, p.ay, p.s, p.skew, lean * uz, -lean * ux)
    else:
        p = Projector(p.ax, p.ay, p.s, p.skew)

    def at(t: float, y: float, side: float = 0.0) -> tuple[float, float]:
        return p(t * ux + side * uz, t * uz - side * ux, y)

    tyre = max(1.0, 0.05 * p.s)
    tube = max(1.0, 0.04 * p.s)
    out: list[Prim] = []
    for hub in (-wheelbase / 2, wheelbase / 2):
        ring = [
            at(hub + r * math.cos(th), r + r * math.sin(th))
            for th in np.linspace(0, 2 * math.pi, 24, endpoint=False)
        ]
        out.append(line(ring, (30, 30, 30), tyre, closed=True))
        out.append(line([at(hub, r), at(hub, r)], (150, 150, 150), tube))
    rear, front = at(-wheelbase / 2, r), at(wheelbase / 2, r)
    bb = at(-0.05, 0.30)
    seat = at(-0.22, 0.92)
    head = at(0.36, 0.90)
    for a1, a2 in ((rear, bb), (bb, seat), (seat, rear), (bb, head), (seat, head), (head, front)):
        out.append(line([a1, a2], look.color, tube))
    out.append(line([at(-0.30, 0.96), at(-0.12, 0.96)], (35, 35, 35), max(1.0, 0.06 * p.s)))
    out.append(line([at(0.36, 0.98, -0.28), at(0.36, 0.98, 0.28)], (60, 60, 60), tube))
    out.append(line([head, at(0.36, 0.98)], look.color, tube))
    out.append(line([bb, at(0.0, 0.18)], (60, 60, 60), tube))
    if parked:
        stand = Projector(p.ax, p.ay, p.s, p.skew)
        out.append(
            line(
                [at(-0.10, 0.28), stand(-0.10 * ux - 0.12 * uz, -0.10 * uz + 0.12 * ux, 0.0)],
                (60, 60, 60),
                tube,
            )
        )
    return out


def _bottle_prims(look: ObjectLook, p: Projector) -> list[Prim]:
    length, diameter, _ = look.size
    ca, sa = math.cos(look.angle), math.sin(look.angle)

    def along(t: float) -> tuple[float, float]:
        return p(t * ca, t * sa, diameter / 2)

    def band(t0: float, t1: float, half: float) -> list[tuple[float, float]]:
        (x0, y0), (x1, y1) = along(t0), along(t1)
        dx, dy = x1 - x0, y1 - y0
        n = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / n * half, dx / n * half
        return [(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny)]

    half = max(1.0, diameter / 2 * p.s)
    body_end = length * 0.62
    out = [
        poly(band(-length / 2, body_end - length / 2, half), look.color),
        poly(band(body_end - length / 2, length / 2, max(1.0, half * 0.45)), look.color),
        line([along(-length / 2 + 0.02), along(body_end - length / 2 - 0.02)], look.accent, 1),
    ]
    out.append(circle(along(length / 2), max(1.0, half * 0.5), _shade(look.accent, 0.8)))
    return out


def _bag_prims(look: ObjectLook, p: Projector) -> list[Prim]:
    w, _, h = look.size
    pts: list[tuple[float, float]] = []
    for i in range(28):
        th = 2 * math.pi * i / 28
        bump = 1.0 + 0.10 * math.sin(3 * th + look.variant) + 0.05 * math.sin(5 * th)
        pts.append(p(w / 2 * math.cos(th) * bump, 0.0, h * 0.45 + h * 0.45 * math.sin(th) * bump))
    out = [poly(pts, look.color)]
    for side in (-1, 1):
        out.append(
            poly(
                [
                    p(side * 0.02, 0.0, h * 0.85),
                    p(side * 0.10, 0.0, h * 1.05),
                    p(side * 0.07, 0.0, h * 0.82),
                ],
                _shade(look.color, 0.85),
            )
        )
    out.append(line([p(-w * 0.25, 0.0, h * 0.3), p(w * 0.15, 0.0, h * 0.6)], look.accent, 1))
    return out


# --- people ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonLook:
    top: Color
    trousers: Color
    skin: Color
    hair: Color
    shoes: Color
    height: float  # factor on 1.7 m


def person_prims(
    look: PersonLook,
    *,
    fx: float,
    fy: float,
    s: float,
    phase: float,
    heading: tuple[float, float],
    moving: bool,
) -> tuple[list[Prim], Projector]:
    """A walking figure standing at pixel (fx, fy); also returns its projector (for hands)."""
    p = Projector(fx, fy, s * look.height)
    ux, uz = heading
    stride = 0.26 * math.sin(phase) if moving else 0.0
    legw = max(1.0, 0.13 * p.s)
    armw = max(1.0, 0.08 * p.s)
    out: list[Prim] = []
    feet = []
    for side, sgn in ((-1, 1), (1, -1)):
        hip = p(side * 0.085, 0.0, 0.86)
        foot = p(side * 0.09 + sgn * ux * stride, sgn * uz * stride, 0.04)
        out.append(line([hip, foot], look.trousers, legw))
        feet.append(foot)
    for foot in feet:
        out.append(circle(foot, max(1.0, 0.06 * p.s), look.shoes))
    out.append(
        poly([p(-0.21, 0, 1.42), p(0.21, 0, 1.42), p(0.16, 0, 0.84), p(-0.16, 0, 0.84)], look.top)
    )
    for side, sgn in ((-1, -1), (1, 1)):
        shoulder = p(side * 0.21, 0.0, 1.36)
        hand = p(side * 0.25 + sgn * ux * stride * 0.7, sgn * uz * stride * 0.7, 0.80)
        out.append(line([shoulder, hand], look.top, armw))
        out.append(circle(hand, max(1.0, 0.045 * p.s), look.skin))
    head_c = p(0.0, 0.0, 1.58)
    r = max(1.0, 0.115 * p.s)
    if uz < 0.2:  # facing the camera (or across): face with a hair cap
        out.append(circle(head_c, r, look.skin))
        cap = cv2.ellipse2Poly(
            (round(head_c[0]), round(head_c[1])), (round(r), round(r)), 0, 180, 360, 20
        )
        out.append(Prim("poly", np.asarray(cap, dtype=np.int32).reshape(-1, 2), look.hair))
    else:
        out.append(circle(head_c, r, look.hair))
    return out, p


# --- vehicles ------------------------------------------------------------------------------


def car_prims(x: float, y: float, length: float, color: Color, facing: int) -> list[Prim]:
    """A car seen from the side, its rear-bottom corner... centred at (x, y) bottom, pixels."""
    h = length * 0.36
    x0, x1 = x - length / 2, x + length / 2
    body = [(x0, y - h * 0.2), (x1, y - h * 0.2), (x1, y - h * 0.62), (x0, y - h * 0.62)]
    c0 = x - length * 0.28 * facing
    c1 = x + length * 0.22 * facing
    cabin = [
        (c0 - length * 0.08 * facing, y - h * 0.6),
        (c1 + length * 0.06 * facing, y - h * 0.6),
        (c1 - length * 0.02 * facing, y - h),
        (c0 + length * 0.02 * facing, y - h),
    ]
    window = [
        (c0, y - h * 0.63),
        (c1, y - h * 0.63),
        (c1 - length * 0.04 * facing, y - h * 0.94),
        (c0 + length * 0.04 * facing, y - h * 0.94),
    ]
    r = h * 0.2
    return [
        poly(body, color),
        poly(cabin, color),
        poly(window, (110, 95, 80)),
        circle((x0 + length * 0.2, y - r), r, (25, 25, 25)),
        circle((x1 - length * 0.2, y - r), r, (25, 25, 25)),
    ]


# --- backgrounds -------------------------------------------------------------------------


def _px(w: int, h: int, pts: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(u * w, v * h) for u, v in pts]


def _wall_point(
    layout: Layout, size: tuple[int, int], x: float, z: float, up: float
) -> tuple[float, float]:
    w, h = size
    u, v = layout.floor.to_image(x, z)
    return u * w, v * h - up * layout.px_per_m(v, h)


def corridor_background(layout: Layout, w: int, h: int) -> tuple[Image, Sprite]:
    """The corridor, and the open doorway patch (pasted while someone goes through)."""
    img = np.zeros((h, w, 3), np.uint8)
    prims: list[Prim] = [
        poly(_px(w, h, [(0, 0), (0.35, 0), (0.35, 0.30), (0, 0.65)]), (196, 208, 216)),
        poly(_px(w, h, [(1, 0), (0.65, 0), (0.65, 0.30), (1, 0.65)]), (176, 189, 198)),
        poly(_px(w, h, [(0.35, 0), (0.65, 0), (0.65, 0.30), (0.35, 0.30)]), (206, 214, 220)),
        poly(
            _px(w, h, [(0.35, 0.30), (0.65, 0.30), (1, 0.65), (1, 1), (0, 1), (0, 0.65)]),
            (150, 158, 160),
        ),
    ]
    draw_prims(img, prims)
    fl = layout.floor
    tile = (136, 143, 146)
    # floor tiles: lines along the corridor and across it
    for i in range(1, 8):
        x = fl.width_m * i / 8
        a, b = fl.to_image(x, -0.3), fl.to_image(x, fl.length_m)
        cv2.line(img, _ipt(a, w, h), _ipt(b, w, h), tile, 1, LINE)
    z = 0.0
    while z < fl.length_m:
        a, b = fl.to_image(0.0, z), fl.to_image(fl.width_m, z)
        cv2.line(img, _ipt(a, w, h), _ipt(b, w, h), tile, 1, LINE)
        z += 0.6
    # skirting and corners
    dark = (92, 98, 104)
    sk = max(1, round(h / 180))
    for seg in (
        [(0.35, 0.30), (0.0, 0.65)],
        [(0.65, 0.30), (1.0, 0.65)],
        [(0.35, 0.30), (0.65, 0.30)],
    ):
        cv2.line(img, _ipt(seg[0], w, h), _ipt(seg[1], w, h), dark, sk, LINE)
    for x in (0.35, 0.65):
        cv2.line(img, _ipt((x, 0.0), w, h), _ipt((x, 0.30), w, h), (150, 160, 168), 1, LINE)
    # yellow floor marking around the fire-exit zone (keep clear)
    exit_zone = layout.zone("fire_exit")
    if exit_zone is not None:
        pts = exit_zone.polygon
        for a, b in ((pts[1], pts[2]), (pts[2], pts[3]), (pts[3], pts[0])):
            cv2.line(img, _ipt(a, w, h), _ipt(b, w, h), (40, 190, 225), sk, LINE)
    # unit doors on the left wall (masked in the camera's zones)
    for z0, z1 in ((2.0, 2.9), (4.9, 5.6)):
        door = [
            _wall_point(layout, (w, h), 0.0, z0, 0.0),
            _wall_point(layout, (w, h), 0.0, z1, 0.0),
            _wall_point(layout, (w, h), 0.0, z1, 2.05),
            _wall_point(layout, (w, h), 0.0, z0, 2.05),
        ]
        draw_prims(img, [poly(door, (45, 75, 120)), line(door, (30, 45, 70), 1, closed=True)])
        knob = _wall_point(layout, (w, h), 0.0, z0 + (z1 - z0) * 0.8, 1.0)
        cv2.circle(img, _ipt((knob[0] / w, knob[1] / h), w, h), max(1, w // 320), (40, 180, 210))
    # fire hose cabinet on the right wall
    cab = [
        _wall_point(layout, (w, h), 4.0, 3.0, 0.7),
        _wall_point(layout, (w, h), 4.0, 3.8, 0.7),
        _wall_point(layout, (w, h), 4.0, 3.8, 1.5),
        _wall_point(layout, (w, h), 4.0, 3.0, 1.5),
    ]
    draw_prims(img, [poly(cab, (40, 40, 190)), line(cab, (30, 30, 120), 1, closed=True)])
    # the fire door, its push bars and the green exit sign above it
    s_far = layout.px_per_m(0.30, h)
    bottom = 0.30 * h
    top = bottom - 2.05 * s_far
    dx0, dx1 = 0.43 * w, 0.57 * w
    frame_w = max(1, round(0.06 * s_far))
    cv2.rectangle(img, _i(dx0, top), _i(dx1, bottom), (60, 150, 45), -1, LINE)
    cv2.rectangle(img, _i(dx0, top), _i(dx1, bottom), (40, 60, 60), frame_w, LINE)
    mid = (dx0 + dx1) / 2
    cv2.line(img, _i(mid, top), _i(mid, bottom), (40, 90, 30), 1, LINE)
    bar_y = bottom - 1.0 * s_far
    for l0, l1 in ((dx0 + 0.1 * s_far, mid - 0.1 * s_far), (mid + 0.1 * s_far, dx1 - 0.1 * s_far)):
        cv2.line(img, _i(l0, bar_y), _i(l1, bar_y), (185, 190, 190), max(1, frame_w), LINE)
    for l0, l1 in ((dx0, mid), (mid, dx1)):
        wx0, wx1 = l0 + (l1 - l0) * 0.3, l0 + (l1 - l0) * 0.7
        cv2.rectangle(
            img, _i(wx0, top + 0.3 * s_far), _i(wx1, top + 0.8 * s_far), (170, 160, 140), -1, LINE
        )
    sx0, sx1 = 0.462 * w, 0.538 * w
    sy0, sy1 = top - 0.42 * s_far, top - 0.12 * s_far
    cv2.rectangle(img, _i(sx0, sy0), _i(sx1, sy1), (60, 170, 20), -1, LINE)
    _exit_pictogram(img, sx0, sy0, sx1, sy1)
    open_door = np.zeros(
        (max(1, round(bottom) - round(top)), max(1, round(dx1) - round(dx0)), 3), np.uint8
    )
    open_door[:] = (58, 64, 62)
    stair = open_door.shape[0] // 2
    open_door[stair:] = (110, 118, 115)
    sprite = Sprite(round(dx0), round(top), open_door, np.ones(open_door.shape[:2], bool))
    return img, sprite


def _exit_pictogram(img: Image, x0: float, y0: float, x1: float, y1: float) -> None:
    white = (245, 245, 245)
    hgt = y1 - y0
    t = max(1, round(hgt / 8))
    cx = x0 + (x1 - x0) * 0.32
    cv2.circle(img, _i(cx + hgt * 0.05, y0 + hgt * 0.22), max(1, round(hgt * 0.1)), white, -1)
    body = [(cx, y0 + hgt * 0.35), (cx - hgt * 0.08, y0 + hgt * 0.62)]
    cv2.line(img, _i(*body[0]), _i(*body[1]), white, t, LINE)
    cv2.line(img, _i(*body[1]), _i(cx - hgt * 0.3, y0 + hgt * 0.85), white, t, LINE)
    cv2.line(img, _i(*body[1]), _i(cx + hgt * 0.2, y0 + hgt * 0.85), white, t, LINE)
    cv2.line(
        img,
        _i(cx - hgt * 0.25, y0 + hgt * 0.42),
        _i(cx + hgt * 0.25, y0 + hgt * 0.45),
        white,
        t,
        LINE,
    )
    ax = x0 + (x1 - x0) * 0.62
    cv2.arrowedLine(
        img,
        _i(ax, y0 + hgt * 0.5),
        _i(x1 - (x1 - x0) * 0.08, y0 + hgt * 0.5),
        white,
        t,
        LINE,
        tipLength=0.45,
    )


BIN_COLORS: tuple[Color, ...] = ((50, 125, 45), (165, 95, 30), (85, 85, 85), (45, 45, 175))
BIN_X = (3.3, 5.0, 6.7, 8.4)
BIN_Z = 6.5


def waste_station_background(layout: Layout, w: int, h: int) -> Image:
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (64, 128, 72)  # planting beds either side
    cv2.rectangle(img, (0, 0), (w, round(0.20 * h)), (72, 74, 76), -1)  # street
    lane_y = round(0.105 * h)
    dash = max(4, w // 20)
    for xd in range(0, w, dash * 2):
        cv2.line(img, (xd, lane_y), (xd + dash, lane_y), (200, 200, 200), max(1, h // 180), LINE)
    cv2.rectangle(img, (0, round(0.20 * h)), (w, round(0.25 * h)), (150, 152, 150), -1)
    cv2.rectangle(img, (0, round(0.25 * h)), (w, round(0.30 * h)), (70, 90, 150), -1)  # wall
    for xb in range(0, w, max(6, w // 40)):
        cv2.line(img, (xb, round(0.25 * h)), (xb, round(0.30 * h)), (60, 72, 120), 1, LINE)
    cv2.line(img, (0, round(0.275 * h)), (w, round(0.275 * h)), (60, 72, 120), 1, LINE)
    fl = layout.floor
    draw_prims(img, [poly(_px(w, h, fl.quad), (124, 127, 130))])
    grid = (106, 109, 112)
    x = 0.0
    while x <= fl.width_m + 1e-9:
        cv2.line(
            img,
            _ipt(fl.to_image(x, 0.0), w, h),
            _ipt(fl.to_image(x, fl.length_m), w, h),
            grid,
            1,
            LINE,
        )
        x += 0.8
    z = 0.0
    while z <= fl.length_m + 1e-9:
        cv2.line(
            img,
            _ipt(fl.to_image(0.0, z), w, h),
            _ipt(fl.to_image(fl.width_m, z), w, h),
            grid,
            1,
            LINE,
        )
        z += 0.8
    for bx, color in zip(BIN_X, BIN_COLORS, strict=True):
        u, v = fl.to_image(bx, BIN_Z)
        p = Projector(u * w, v * h, layout.px_per_m(v, h), skew_at(u))
        look = ObjectLook("box", color, (230, 230, 230), (0.7, 0.6, 1.0))
        prims = _box_prims(look, p)[:3]  # body without tape
        prims.append(
            poly(
                [
                    p(-0.36, -0.32, 1.0),
                    p(0.36, -0.32, 1.0),
                    p(0.36, 0.3, 1.04),
                    p(-0.36, 0.3, 1.04),
                ],
                _shade(color, 0.7),
            )
        )
        prims.append(
            poly(
                [
                    p(-0.15, -0.3, 0.55),
                    p(0.15, -0.3, 0.55),
                    p(0.15, -0.3, 0.75),
                    p(-0.15, -0.3, 0.75),
                ],
                (235, 235, 235),
            )
        )
        draw_prims(img, prims)
    return img


def _i(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


def _ipt(p: tuple[float, float], w: int, h: int) -> tuple[int, int]:
    return round(p[0] * w), round(p[1] * h)
