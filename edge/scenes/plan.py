"""The schedule of a scene, worked out from the seed without rendering anything.

Everything that happens is decided here: who walks where and when, which objects are
left where (and for which frames they lie still), lighting changes and passing cars.
The renderer only draws it, and the ground truth is read off it, so both agree to the
frame. Time is frame-exact: frame ``k`` shows the moment ``k / fps``; an object counts
as left from its ``start_frame`` (the first frame it lies on the floor, let go) to its
``end_frame`` (the first frame it is in someone's hands again), exclusive.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edge.scenes.drawing import (
    BIN_X,
    BIN_Z,
    Color,
    ObjectKind,
    ObjectLook,
    PersonLook,
    Prim,
    Projector,
    Sprite,
    car_prims,
    object_prims,
    person_prims,
    prims_bounds,
    skew_at,
)
from edge.scenes.geometry import (
    KINDS,
    Layout,
    ZoneSpec,
    box_in_polygon,
    layout_for,
    point_in_polygon,
)

TRUTH_VERSION = 1
STRIDE_M = 1.3  # one walking cycle (two steps)
CarryMode = Literal["held", "hand", "wheeled"]
Rule = Literal["blocked_fire_exit", "litter"]

RULE_FOR_ZONE: dict[str, Rule] = {"fire_exit": "blocked_fire_exit", "floor": "litter"}
# how each object is carried: mode, and where it lands relative to the one who carries
# it (metres ahead, metres to the right)
CARRY: dict[str, tuple[CarryMode, float, float]] = {
    "box": ("held", 0.55, 0.0),
    "bicycle": ("wheeled", 0.0, 0.55),
    "bottle": ("hand", 0.0, 0.27),
    "bag": ("hand", 0.0, 0.27),
}


# --- paths -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PathState:
    x: float
    z: float
    dist: float
    heading: tuple[float, float]
    moving: bool


@dataclass(frozen=True)
class Path:
    """Piecewise-linear positions on the floor; a repeated point is a stop."""

    t: tuple[float, ...]
    x: tuple[float, ...]
    z: tuple[float, ...]
    dist: tuple[float, ...]
    headings: tuple[tuple[float, float], ...]  # per segment

    @property
    def start(self) -> float:
        return self.t[0]

    @property
    def end(self) -> float:
        return self.t[-1]

    def at(self, t: float) -> PathState:
        i = min(max(bisect.bisect_right(self.t, t) - 1, 0), len(self.t) - 2)
        t0, t1 = self.t[i], self.t[i + 1]
        f = 0.0 if t1 <= t0 else min(max((t - t0) / (t1 - t0), 0.0), 1.0)
        moving = self.dist[i + 1] > self.dist[i] and t0 <= t < t1
        return PathState(
            self.x[i] + (self.x[i + 1] - self.x[i]) * f,
            self.z[i] + (self.z[i + 1] - self.z[i]) * f,
            self.dist[i] + (self.dist[i + 1] - self.dist[i]) * f,
            self.headings[i],
            moving,
        )

    def longest_stop(self) -> float:
        best = run = 0.0
        for i in range(len(self.t) - 1):
            if self.dist[i + 1] == self.dist[i]:
                run += self.t[i + 1] - self.t[i]
                best = max(best, run)
            else:
                run = 0.0
        return best


class PathBuilder:
    def __init__(self, t: float, x: float, z: float) -> None:
        self._t = [t]
        self._x = [x]
        self._z = [z]

    @property
    def t(self) -> float:
        return self._t[-1]

    @property
    def pos(self) -> tuple[float, float]:
        return self._x[-1], self._z[-1]

    def walk(self, x: float, z: float, speed: float) -> float:
        d = math.hypot(x - self._x[-1], z - self._z[-1])
        if d > 1e-9:
            self._t.append(self._t[-1] + d / speed)
            self._x.append(x)
            self._z.append(z)
        return self._t[-1]

    def wait_until(self, t: float) -> None:
        if t > self._t[-1]:
            self._t.append(t)
            self._x.append(self._x[-1])
            self._z.append(self._z[-1])

    def build(self) -> Path:
        dist = [0.0]
        headings: list[tuple[float, float]] = []
        for i in range(1, len(self._t)):
            dx, dz = self._x[i] - self._x[i - 1], self._z[i] - self._z[i - 1]
            d = math.hypot(dx, dz)
            dist.append(dist[-1] + d)
            headings.append((dx / d, dz / d) if d > 1e-9 else (math.nan, math.nan))
        if len(self._t) == 1:  # never moves: a stop of no length
            self.wait_until(self._t[0] + 1e-6)
            return self.build()
        # stops keep the heading of the walk before them (or after, at the start)
        last: tuple[float, float] | None = None
        for i, h in enumerate(headings):
            if math.isnan(h[0]):
                if last is not None:
                    headings[i] = last
            else:
                last = h
        nxt: tuple[float, float] = (0.0, -1.0)
        for i in range(len(headings) - 1, -1, -1):
            if math.isnan(headings[i][0]):
                headings[i] = nxt
            else:
                nxt = headings[i]
        return Path(tuple(self._t), tuple(self._x), tuple(self._z), tuple(dist), tuple(headings))


def path_length(points: list[tuple[float, float]]) -> float:
    return sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(points))


def right_of(h: tuple[float, float]) -> tuple[float, float]:
    return h[1], -h[0]


# --- plans -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Carry:
    obj: int
    k_from: int
    k_to: int  # exclusive
    mode: CarryMode


@dataclass
class PersonPlan:
    path: Path
    look: PersonLook
    role: str
    carries: list[Carry] = field(default_factory=list)
    door_times: tuple[float, ...] = ()


@dataclass
class ObjectPlan:
    look: ObjectLook
    x: float = 0.0
    z: float = 0.0
    rest: tuple[int, int] | None = None  # frames [k0, k1) lying still
    zone: ZoneSpec | None = None
    sprite: Sprite | None = None
    box: tuple[float, float, float, float] | None = None  # normalised


@dataclass(frozen=True)
class LightEvent:
    kind: Literal["ramp", "step"]
    k: int
    frames: int
    from_gain: float
    to_gain: float


@dataclass(frozen=True)
class VehiclePlan:
    t0: float
    t1: float
    x0: float  # pixels (centre)
    x1: float
    y: float  # pixels (bottom)
    length: float
    color: Color
    facing: int


@dataclass(frozen=True)
class Drawable:
    y: float  # sort key: feet row
    prims: list[Prim] | None = None
    sprite: Sprite | None = None


@dataclass
class ScenePlan:
    layout: Layout
    seconds: float
    fps: float
    seed: int
    size: tuple[int, int]
    people: list[PersonPlan] = field(default_factory=list)
    objects: list[ObjectPlan] = field(default_factory=list)
    lights: list[LightEvent] = field(default_factory=list)
    vehicles: list[VehiclePlan] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.layout.kind

    @property
    def n_frames(self) -> int:
        return round(self.seconds * self.fps)

    def time(self, k: int) -> float:
        return k / self.fps

    def frame_at(self, t: float) -> int:
        """The first frame at or after t."""
        return math.ceil(t * self.fps - 1e-9)

    # -- what is where ------------------------------------------------------------------

    def gain(self, k: int) -> float:
        g = 1.0
        for e in self.lights:
            if k < e.k:
                break
            if e.kind == "step" or k >= e.k + e.frames:
                g = e.to_gain
            else:
                g = e.from_gain + (e.to_gain - e.from_gain) * (k - e.k) / e.frames
        return g

    def door_open(self, k: int) -> bool:
        t = self.time(k)
        return any(abs(t - d) <= 0.8 for p in self.people for d in p.door_times)

    def resting(self, k: int) -> list[int]:
        return [
            i
            for i, o in enumerate(self.objects)
            if o.rest is not None and o.rest[0] <= k < o.rest[1]
        ]

    def person_drawables(self, person: PersonPlan, k: int) -> list[Drawable]:
        t = self.time(k)
        if not person.path.start <= t <= person.path.end:
            return []
        w, h = self.size
        st = person.path.at(t)
        u, v = self.layout.floor.to_image(st.x, st.z)
        fx, fy = u * w, v * h
        s = self.layout.px_per_m(v, h)
        phase = 2 * math.pi * st.dist / STRIDE_M
        prims, pp = person_prims(
            person.look, fx=fx, fy=fy, s=s, phase=phase, heading=st.heading, moving=st.moving
        )
        out = [Drawable(fy, prims)]
        for c in person.carries:
            if not c.k_from <= k < c.k_to:
                continue
            look = self.objects[c.obj].look
            ux, uz = st.heading
            rx, rz = right_of(st.heading)
            if c.mode == "wheeled":
                bx, bz = st.x + 0.55 * rx, st.z + 0.55 * rz
                bu, bv = self.layout.floor.to_image(bx, bz)
                bike = ObjectLook(
                    look.kind, look.color, look.accent, look.size, angle=math.atan2(ux, uz)
                )
                p = Projector(bu * w, bv * h, self.layout.px_per_m(bv, h), skew_at(bu))
                out.append(Drawable(bv * h, object_prims(bike, p, parked=False)))
                continue
            if c.mode == "held":
                ax, ay = pp(0.30 * ux, 0.30 * uz, 0.62)
            else:
                ax, ay = pp(0.27 * rx, 0.27 * rz, 0.45 if look.kind == "bag" else 0.72)
            p = Projector(ax, ay, pp.s, skew_at(ax / w))
            prims = object_prims(look, p)
            # carried in front: drawn over the person unless walking away from the camera
            out.append(Drawable(fy + (0.5 if uz <= 0 else -0.5), prims))
        return out

    def drawables(self, k: int, *, people: bool = True, objects: bool = True) -> list[Drawable]:
        out: list[Drawable] = []
        if objects:
            for i in self.resting(k):
                o = self.objects[i]
                assert o.sprite is not None
                y = self.layout.floor.to_image(o.x, o.z)[1] * self.size[1]
                out.append(Drawable(y, sprite=o.sprite))
        if people:
            for person in self.people:
                out.extend(self.person_drawables(person, k))
        out.sort(key=lambda d: d.y)
        return out

    def vehicle_prims(self, k: int) -> list[Prim]:
        t = self.time(k)
        out: list[Prim] = []
        for v in self.vehicles:
            if v.t0 <= t <= v.t1:
                f = (t - v.t0) / (v.t1 - v.t0)
                out.extend(car_prims(v.x0 + (v.x1 - v.x0) * f, v.y, v.length, v.color, v.facing))
        return out

    # -- ground truth -------------------------------------------------------------------

    def truth(self, name: str) -> dict[str, Any]:
        return _truth(self, name)


# --- looks ---------------------------------------------------------------------------

TOPS: tuple[Color, ...] = (
    (40, 40, 160),
    (150, 80, 30),
    (40, 120, 40),
    (200, 200, 200),
    (30, 30, 30),
    (30, 140, 200),
    (120, 60, 120),
    (60, 60, 60),
    (180, 130, 60),
    (90, 160, 220),
)
TROUSERS: tuple[Color, ...] = ((40, 40, 40), (110, 70, 40), (70, 70, 70), (60, 80, 110))
SKINS: tuple[Color, ...] = ((150, 180, 215), (130, 165, 205), (115, 150, 190), (165, 195, 225))
HAIRS: tuple[Color, ...] = ((25, 25, 30), (40, 45, 55), (150, 150, 150), (30, 50, 80))
VEST: Color = (30, 120, 240)  # cleaners' orange vest


def _pick(rng: np.random.Generator, options: tuple[Color, ...]) -> Color:
    return options[int(rng.integers(len(options)))]


def person_look(rng: np.random.Generator, top: Color | None = None) -> PersonLook:
    return PersonLook(
        top=top if top is not None else _pick(rng, TOPS),
        trousers=_pick(rng, TROUSERS),
        skin=_pick(rng, SKINS),
        hair=_pick(rng, HAIRS),
        shoes=(30, 30, 35),
        height=float(rng.uniform(0.9, 1.08)),
    )


def _contrast(a: Color, b: Color) -> int:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


FLOOR_COLORS = {"corridor": (150, 158, 160), "waste_station": (124, 127, 130)}


def object_look(rng: np.random.Generator, kind: ObjectKind, floor: Color) -> ObjectLook:
    if kind == "box":
        color = _pick(rng, ((70, 130, 190), (60, 112, 172), (88, 148, 205)))
        return ObjectLook(
            "box",
            color,
            (150, 190, 215),
            (
                float(rng.uniform(0.45, 0.7)),
                float(rng.uniform(0.35, 0.55)),
                float(rng.uniform(0.3, 0.45)),
            ),
            count=int(rng.integers(1, 4)),
            variant=int(rng.integers(4)),
        )
    if kind == "bicycle":
        color = _pick(rng, ((40, 40, 200), (170, 90, 30), (35, 35, 35), (40, 140, 40)))
        return ObjectLook("bicycle", color, (60, 60, 60), (0.6, 1.7, 1.0))
    palette: tuple[Color, ...]
    if kind == "bottle":
        palette = ((40, 120, 30), (30, 60, 110), (210, 150, 70), (30, 30, 170))
        size = (float(rng.uniform(0.24, 0.32)), float(rng.uniform(0.07, 0.09)), 0.0)
    else:
        palette = ((240, 240, 240), (50, 50, 200), (190, 110, 40), (35, 35, 35), (60, 200, 230))
        size = (float(rng.uniform(0.28, 0.4)), 0.2, float(rng.uniform(0.2, 0.3)))
    ok = tuple(c for c in palette if _contrast(c, floor) >= 80)
    color = _pick(rng, ok)
    accent = (min(255, color[0] + 60), min(255, color[1] + 60), min(255, color[2] + 60))
    return ObjectLook(
        kind,
        color,
        accent,
        size,
        angle=float(rng.uniform(0, math.pi)),
        variant=int(rng.integers(6)),
    )


# --- the planner ---------------------------------------------------------------------


def _u(rng: np.random.Generator, a: float, b: float) -> float:
    return float(rng.uniform(a, b))


class _Planner:
    def __init__(
        self, kind: str, seconds: float, fps: float, seed: int, size: tuple[int, int]
    ) -> None:
        if seconds <= 0 or fps <= 0:
            raise ValueError("seconds and fps must be positive")
        if size[0] < 32 or size[1] < 18:
            raise ValueError("the frame must be at least 32x18 pixels")
        self.layout = layout_for(kind)
        self.plan = ScenePlan(self.layout, seconds, fps, seed, size)
        root = np.random.SeedSequence([seed, KINDS.index(kind)])
        (
            self.rng_exit,
            self.rng_litter,
            self.rng_walk,
            self.rng_light,
            self.rng_cars,
        ) = (np.random.default_rng(s) for s in root.spawn(5))
        self.floor_color = FLOOR_COLORS[kind]

    @property
    def seconds(self) -> float:
        return self.plan.seconds

    @property
    def fps(self) -> float:
        return self.plan.fps

    def endpoint_point(self, rng: np.random.Generator, name: str) -> tuple[float, float]:
        e = self.layout.endpoint(name)
        x = _u(rng, *e.x) if e.x[0] != e.x[1] else e.x[0]
        z = _u(rng, *e.z) if e.z[0] != e.z[1] else e.z[0]
        return x, z

    def add_object(self, obj: ObjectPlan) -> int:
        self.plan.objects.append(obj)
        return len(self.plan.objects) - 1

    def add_person(
        self,
        path: Path,
        look: PersonLook,
        role: str,
        carries: list[Carry],
        ends: tuple[str, str],
    ) -> None:
        doors: list[float] = []
        if self.layout.endpoint(ends[0]).door:
            doors.append(path.start)
        if self.layout.endpoint(ends[1]).door:
            doors.append(path.end)
        self.plan.people.append(PersonPlan(path, look, role, carries, tuple(doors)))

    # -- spots -------------------------------------------------------------------------

    def rest_sprite(
        self, look: ObjectLook, x: float, z: float
    ) -> tuple[Sprite, tuple[float, float, float, float] | None]:
        w, h = self.plan.size
        u, v = self.layout.floor.to_image(x, z)
        p = Projector(u * w, v * h, self.layout.px_per_m(v, h), skew_at(u))
        sprite = Sprite.of(object_prims(look, p, parked=True))
        box = sprite.pixel_box(w, h)
        if box is None:
            return sprite, None
        return sprite, (box[0] / w, box[1] / h, (box[2] + 1) / w, (box[3] + 1) / h)

    def fits(self, look: ObjectLook, x: float, z: float, zone: ZoneSpec) -> bool:
        _, box = self.rest_sprite(look, x, z)
        return box is not None and box_in_polygon(box, zone.polygon)

    def approach(
        self,
        start: tuple[float, float],
        spot: tuple[float, float],
        forward: float,
        side: float,
    ) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """Where to stand to put something at ``spot`` (ahead by forward, right by side)
        after walking straight from ``start``: (stand point, heading, exact spot)."""
        h = _unit(spot[0] - start[0], spot[1] - start[1])
        stand = spot
        for _ in range(6):
            r = right_of(h)
            stand = (spot[0] - forward * h[0] - side * r[0], spot[1] - forward * h[1] - side * r[1])
            h = _unit(stand[0] - start[0], stand[1] - start[1])
        r = right_of(h)
        exact = (stand[0] + forward * h[0] + side * r[0], stand[1] + forward * h[1] + side * r[1])
        return stand, h, exact

    def place(
        self,
        rng: np.random.Generator,
        look: ObjectLook,
        zone: ZoneSpec,
        start: tuple[float, float],
        *,
        forward: float,
        side: float,
    ) -> tuple[ObjectLook, tuple[float, float], tuple[float, float], tuple[float, float]] | None:
        """A spot in the zone the object fits, reached from ``start``."""
        x0, z0, x1, z1 = self.layout.zone_floor_box(zone)
        fl = self.layout.floor
        for _ in range(300):
            spot = (_u(rng, x0, x1), _u(rng, z0, z1))
            if not 0.3 <= spot[0] <= fl.width_m - 0.3 or not 0.2 <= spot[1] <= fl.length_m - 0.3:
                continue
            if not point_in_polygon(fl.to_image(*spot), zone.polygon):
                continue
            stand, h, exact = self.approach(start, spot, forward, side)
            if not (0.2 <= stand[0] <= fl.width_m - 0.2 and stand[1] <= fl.length_m - 0.2):
                continue
            final = look
            if look.kind == "bicycle":
                final = ObjectLook(
                    look.kind, look.color, look.accent, look.size, angle=math.atan2(h[0], h[1])
                )
            if self.fits(final, *exact, zone):
                return final, stand, h, exact
        return None

    # -- events ------------------------------------------------------------------------

    def lane(self, rng: np.random.Generator, zone: ZoneSpec) -> None:
        """Objects left in one zone, one after another, each by someone and later taken."""
        fire = zone.kind == "fire_exit"
        t = _u(rng, 8.0, 30.0) if fire else _u(rng, 12.0, 45.0)
        while t < self.seconds - 15.0:
            done = self.lane_event(rng, zone, t)
            if done is None:
                return
            t = done + (_u(rng, 20.0, 90.0) if fire else _u(rng, 30.0, 120.0))

    def lane_event(self, rng: np.random.Generator, zone: ZoneSpec, t: float) -> float | None:
        """An object left in the zone from about t and taken later. Returns when the last
        person involved has gone, or None when there is no time left for it."""
        fire = zone.kind == "fire_exit"
        kind: ObjectKind
        if fire:
            kind = "bicycle" if rng.random() < 0.35 else "box"
            target = _u(rng, 150.0, 330.0)
        else:
            kind = "bottle" if rng.random() < 0.5 else "bag"
            target = _u(rng, 620.0, 900.0)
        look = object_look(rng, kind, self.floor_color)
        mode, forward, side = CARRY[kind]
        # litter is dropped in passing; things left in the exit are brought from home
        ends = self.routes(rng, None if mode == "hand" else zone)
        a_in = self.endpoint_point(rng, ends[0])
        placed = self.place(rng, look, zone, a_in, forward=forward, side=side)
        if placed is None:
            return t
        look, stand, _, spot = placed
        out = self.endpoint_point(rng, ends[1])
        placer, start_k = self.leave(rng, t, (a_in, stand, out), mode)
        taken = self.take(rng, zone, kind, spot, (placer.end, start_k, target))
        if taken is None:
            return None
        remover, end_k, r_ends = taken
        obj = ObjectPlan(look, spot[0], spot[1], (start_k, end_k), zone)
        obj.sprite, obj.box = self.rest_sprite(look, *spot)
        i = self.add_object(obj)
        role = "drops_litter" if mode == "hand" else "leaves_object"
        carry = Carry(i, self.plan.frame_at(placer.start), start_k, mode)
        self.add_person(placer, person_look(rng), role, [carry], ends)
        k_last = math.floor(remover.end * self.fps + 1e-9)
        self.add_person(
            remover,
            person_look(rng, None if fire else VEST),
            "takes_object" if fire else "picks_up_litter",
            [Carry(i, end_k, k_last + 1, mode)],
            r_ends,
        )
        return remover.end

    def leave(
        self,
        rng: np.random.Generator,
        t: float,
        route: tuple[tuple[float, float], tuple[float, float], tuple[float, float]],
        mode: CarryMode,
    ) -> tuple[Path, int]:
        """The walk of whoever leaves an object (from, where to stand, to) and the frame
        it is let go."""
        a_in, stand, out = route
        fps = self.fps
        speed = _u(rng, 1.1, 1.5)
        if mode == "hand":  # dropped in passing, without a stop
            walk_in = path_length([a_in, stand]) / speed
            start_k = self.plan.frame_at(t + walk_in)
            b = PathBuilder(start_k / fps - walk_in, *a_in)
            b.walk(*stand, speed)
        else:
            b = PathBuilder(t, *a_in)
            arrive = b.walk(*stand, speed)
            hold = 0.0 if mode == "wheeled" else _u(rng, 0.5, 1.5)
            start_k = self.plan.frame_at(arrive + hold)
            b.wait_until(start_k / fps + _u(rng, 0.8, 1.6))
        b.walk(*out, speed)
        return b.build(), start_k

    def take(
        self,
        rng: np.random.Generator,
        zone: ZoneSpec,
        kind: ObjectKind,
        spot: tuple[float, float],
        timing: tuple[float, int, float],
    ) -> tuple[Path, int, tuple[str, str]] | None:
        """Whoever takes the object away: their walk, the frame it is picked up, their
        route. ``timing``: when the one who left it has gone, the frame it was let go,
        how long it should stay."""
        free_at, start_k, target = timing
        fps = self.fps
        speed = _u(rng, 1.1, 1.5)
        ends = self.routes(rng, zone)
        forward, side = (0.0, 0.55) if kind == "bicycle" else (0.5, 0.1)
        fl = self.layout.floor
        a_in = self.endpoint_point(rng, ends[0])
        stand, _, _ = self.approach(a_in, spot, forward, side)
        for _ in range(20):  # somewhere to stand on the floor
            if 0.2 <= stand[0] <= fl.width_m - 0.2 and stand[1] <= fl.length_m - 0.2:
                break
            a_in = self.endpoint_point(rng, ends[0])
            stand, _, _ = self.approach(a_in, spot, forward, side)
        out = self.endpoint_point(rng, ends[1])
        walk_in = path_length([a_in, stand]) / speed
        walk_out = path_length([stand, out]) / speed
        hold = _u(rng, 1.0, 2.5)
        latest = math.floor((self.seconds - 1.5 - walk_out) * fps)
        earliest = self.plan.frame_at(free_at + 2.0 + walk_in + hold)
        end_k = min(start_k + round(target * fps), latest)
        if end_k < max(earliest, start_k + round(4 * fps)):
            return None
        b = PathBuilder(end_k / fps - hold - walk_in, *a_in)
        b.walk(*stand, speed)
        b.wait_until(end_k / fps + (0.2 if kind == "bicycle" else 0.6))
        b.walk(*out, speed)
        return b.build(), end_k, ends

    def routes(self, rng: np.random.Generator, zone: ZoneSpec | None) -> tuple[str, str]:
        names = [e.name for e in self.layout.endpoints]
        if self.layout.kind == "corridor":
            if zone is not None:  # people leaving things come from their flats' side
                return "near", "near"
            a = names[int(rng.integers(len(names)))]
            return a, ("door" if a == "near" else "near")
        a = names[int(rng.integers(len(names)))]
        rest = [n for n in names if n != a]
        return a, rest[int(rng.integers(len(rest)))]

    def walkers(self) -> None:
        rng = self.rng_walk
        mean_gap = 24.0 if self.layout.kind == "corridor" else 20.0
        t = _u(rng, 0.0, 10.0)
        fl = self.layout.floor
        while t < self.seconds - 2.0:
            ends = self.routes(rng, None)
            a, b = self.endpoint_point(rng, ends[0]), self.endpoint_point(rng, ends[1])
            speed = _u(rng, 1.1, 1.6)
            builder = PathBuilder(t, *a)
            carries: list[Carry] = []
            role = "walker"
            if self.layout.kind == "waste_station" and rng.random() < 0.4:
                # to a bin and back out: the bag goes in the bin, not on the floor
                bx = BIN_X[int(rng.integers(len(BIN_X)))] + _u(rng, -0.2, 0.2)
                builder.walk(bx, BIN_Z - 0.9, speed)
                stop_end = builder.t + _u(rng, 2.0, 6.0)
                builder.wait_until(stop_end)
                look = object_look(rng, "bag", self.floor_color)
                i = self.add_object(ObjectPlan(look))
                carries.append(
                    Carry(i, self.plan.frame_at(t), self.plan.frame_at(stop_end - 1.0), "hand")
                )
                role = "visits_bin"
            else:
                mid = (_u(rng, 0.4, fl.width_m - 0.4), _u(rng, 1.5, fl.length_m - 1.5))
                builder.walk(*mid, speed)
                if rng.random() < 0.3:  # a short stop: a phone, a word with a neighbour
                    builder.wait_until(builder.t + _u(rng, 1.0, 8.0))
            builder.walk(*b, speed)
            path = builder.build()
            if not carries and rng.random() < 0.15:  # carries something through
                kind: ObjectKind = "box" if rng.random() < 0.5 else "bag"
                look = object_look(rng, kind, self.floor_color)
                i = self.add_object(ObjectPlan(look))
                k_last = math.floor(path.end * self.fps + 1e-9)
                mode: CarryMode = "held" if kind == "box" else "hand"
                carries.append(Carry(i, self.plan.frame_at(t), k_last + 1, mode))
            self.add_person(path, person_look(rng), role, carries, ends)
            t += 2.0 + float(rng.exponential(mean_gap))

    def lights(self) -> None:
        """Ramps (daylight, clouds, dimming) and steps (lights off, lights on)."""
        rng = self.rng_light
        fps = self.fps
        n = max(2, round(self.seconds / 150.0))
        span = self.seconds / n
        slots = [(j + _u(rng, 0.1, 0.55)) * span for j in range(n)]
        kinds: list[Literal["ramp", "step"]] = ["ramp", "step"]
        if rng.random() < 0.5:
            kinds.reverse()
        gain = 1.0
        last_end = 0
        for j, at in enumerate(slots):
            kind = kinds[j] if j < 2 else ("ramp" if rng.random() < 0.6 else "step")
            k = max(self.plan.frame_at(at), last_end + 1)
            if k >= self.plan.n_frames - 1:
                break
            if kind == "step":
                to = _u(rng, 0.45, 0.6) if gain >= 0.8 else _u(rng, 0.9, 1.05)
                frames = 0
            else:
                to = _u(rng, 0.6, 1.15)
                if abs(to - gain) < 0.15:
                    to = gain - 0.25 if gain > 0.8 else gain + 0.25
                nxt = self.plan.frame_at(slots[j + 1]) if j + 1 < len(slots) else self.plan.n_frames
                frames = max(
                    1,
                    min(round(_u(rng, 10.0, 60.0) * fps), nxt - k - 1, self.plan.n_frames - 1 - k),
                )
            to = round(to, 3)
            self.plan.lights.append(LightEvent(kind, k, frames, gain, to))
            gain = to
            last_end = k + frames

    def cars(self) -> None:
        if self.layout.kind != "waste_station":
            return
        rng = self.rng_cars
        w, h = self.plan.size
        t = _u(rng, 0.0, 15.0)
        while t < self.seconds:
            facing = 1 if rng.random() < 0.5 else -1
            length = w * _u(rng, 0.16, 0.22)
            y = h * (0.095 if facing < 0 else 0.19)
            x0 = -length if facing > 0 else w + length
            x1 = w + length if facing > 0 else -length
            duration = (w + 2 * length) / (w * _u(rng, 0.35, 0.6))
            color = _pick(rng, TOPS)
            self.plan.vehicles.append(
                VehiclePlan(t, t + duration, x0, x1, y, length, color, facing)
            )
            t += duration + float(rng.exponential(18.0))

    def run(self) -> ScenePlan:
        fire = self.layout.zone("fire_exit")
        if fire is not None:
            self.lane(self.rng_exit, fire)
        floor = self.layout.zone("floor")
        if floor is not None:
            self.lane(self.rng_litter, floor)
        self.walkers()
        self.lights()
        self.cars()
        return self.plan


def _unit(dx: float, dz: float) -> tuple[float, float]:
    d = math.hypot(dx, dz)
    return (dx / d, dz / d) if d > 1e-9 else (0.0, 1.0)


def plan_scene(
    kind: str = "corridor",
    seconds: float = 600.0,
    fps: float = 5.0,
    seed: int = 1,
    size: tuple[int, int] = (640, 360),
) -> ScenePlan:
    """The whole schedule of a scene (cheap: no frames are drawn)."""
    return _Planner(kind, seconds, fps, seed, size).run()


# --- ground truth --------------------------------------------------------------------


def _r(x: float) -> float:
    return round(float(x), 6)


def _truth(plan: ScenePlan, name: str) -> dict[str, Any]:
    layout = plan.layout
    w, h = plan.size
    fps = plan.fps
    zones = {z.kind: z for z in layout.zones if z.kind != "mask"}
    conditions: list[dict[str, Any]] = []
    for o in plan.objects:
        if o.rest is None or o.zone is None or o.box is None:
            continue
        k0, k1 = o.rest
        dwell = o.zone.dwell_s or 0.0
        start, end = k0 / fps, k1 / fps
        conditions.append(
            {
                "rule": RULE_FOR_ZONE[o.zone.kind],
                "zone": o.zone.kind,
                "zone_id": o.zone.id,
                "object": o.look.kind,
                "start_s": _r(start),
                "end_s": _r(end),
                "start_frame": k0,
                "end_frame": k1,
                "box": [_r(c) for c in o.box],
                "dwell_s": dwell,
                "alarm_s": _r(start + dwell) if end - start > dwell else None,
            }
        )
    conditions.sort(key=lambda c: (c["start_frame"], c["rule"]))
    people: list[dict[str, Any]] = []
    for person in plan.people:
        entry = _person_truth(plan, person, zones)
        if entry is not None:
            people.append(entry)
    people.sort(key=lambda p: (p["enter_s"], p["exit_s"]))
    lighting = [
        {
            "at_s": _r(e.k / fps),
            "kind": e.kind,
            "from": _r(e.from_gain),
            "to": _r(e.to_gain),
            "duration_s": _r(e.frames / fps),
        }
        for e in plan.lights
    ]
    vehicles = []
    for v in plan.vehicles:
        k0, k1 = plan.frame_at(v.t0), min(math.floor(v.t1 * fps), plan.n_frames - 1)
        if k0 <= k1 and k0 < plan.n_frames:
            vehicles.append({"enter_s": _r(k0 / fps), "exit_s": _r(k1 / fps)})
    return {
        "version": TRUTH_VERSION,
        "name": name,
        "kind": plan.kind,
        "fps": plan.fps,
        "size": [w, h],
        "seconds": plan.seconds,
        "seed": plan.seed,
        "frames": plan.n_frames,
        "zones": {kind: [list(p) for p in z.polygon] for kind, z in zones.items()},
        "camera": {
            "id": layout.camera_id,
            "description": layout.description,
            "zones": [
                {
                    "id": z.id,
                    "kind": z.kind,
                    "polygon": [list(p) for p in z.polygon],
                    "dwell_s": z.dwell_s,
                }
                for z in layout.zones
            ],
        },
        "conditions": conditions,
        "people": people,
        "vehicles": vehicles,
        "lighting": lighting,
    }


def _person_truth(
    plan: ScenePlan, person: PersonPlan, zones: dict[str, ZoneSpec]
) -> dict[str, Any] | None:
    w, h = plan.size
    fps = plan.fps
    k0 = max(0, plan.frame_at(person.path.start))
    k1 = min(plan.n_frames - 1, math.floor(person.path.end * fps + 1e-9))
    visible: list[int] = []
    runs = dict.fromkeys(zones, 0)
    best = dict.fromkeys(zones, 0)
    for k in range(k0, k1 + 1):
        drawables = plan.person_drawables(person, k)
        prims = [p for d in drawables for p in (d.prims or [])]
        if prims:
            x0, y0, x1, y1 = prims_bounds(prims)
            if x1 >= 0 and y1 >= 0 and x0 < w and y0 < h:
                visible.append(k)
        st = person.path.at(k / fps)
        feet = plan.layout.floor.to_image(st.x, st.z)
        for kind, zone in zones.items():
            if point_in_polygon(feet, zone.polygon):
                runs[kind] += 1
                best[kind] = max(best[kind], runs[kind])
            else:
                runs[kind] = 0
    if not visible:
        return None
    carried = sorted({plan.objects[c.obj].look.kind for c in person.carries})
    return {
        "enter_s": _r(visible[0] / fps),
        "exit_s": _r(visible[-1] / fps),
        "role": person.role,
        "carries": carried,
        "longest_in_zone_s": {kind: _r(n / fps) for kind, n in best.items()},
        "longest_stop_s": _r(person.path.longest_stop()),
    }
