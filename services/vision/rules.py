"""The vision rules (SPEC §6) as a per-camera state machine: detections in, findings out.

Pure: no I/O, no clock, no image library. The vision service feeds each camera's frames
to its own `CameraRules` with `step(t, detections)` and publishes the returned
`FindingEvent`s (`FindingEvent.to_message` builds the MQTT `Finding`).

Per frame, a detection is a *candidate* for a zone when it is

* not a person (people walking through or standing about never count), static (the
  tracker says it is not moving), not `carried`, and not mostly inside a `mask` zone;
* for a `fire_exit` zone: at least `fire_exit_overlap` of its box lies in the zone
  (area overlap, see `zones`); any size;
* for a `floor` zone (litter): its footprint (bottom-centre) stands in the zone, it is
  small (box area at most `litter_max_area` of the frame), and it is not overlapping a
  person's box (`carried_overlap` of its box inside a person box: being carried or
  handled; a person standing next to litter only delays the finding).

Candidates are followed from frame to frame per zone: by `track_id` when the detector
gives one, else (or when the tracker has lost the id, as after an occlusion) by box
IoU >= `match_iou` with the box last seen. One followed object is one condition:

* `started_at` is when it was first seen static in the zone; the `start` event comes on
  the first frame where it is seen at or after `started_at + dwell`.
* While it stays, an `update` at most every `update_every` (on frames it is seen).
* Unseen for less than `grace` (hidden behind a passing person) changes nothing: the
  dwell timer keeps running and the finding stays open. Unseen for `grace`, it is gone:
  its finding ends (`end`, on the first frame at or after last-seen + grace).
* An object gives at most one finding. When an object whose finding ended shows up again
  at the same place (same track id, or IoU >= `match_iou`) within `parked_memory` of its
  last sighting, it is the same parked object whose detection had dropped out, not a new
  placement: it does not alert again. Set `parked_memory` to zero to re-alert instead.

Time only moves with the frames: with no frames nothing ends. A frame older than the
last one is ignored. Times must be timezone-aware.

Finding ids are `"{camera_id}.{zone_id}.{started_at in Unix ms}"`, with `.{n}` added for
the n-th further object first seen in the same zone in the same millisecond, so they are
deterministic (same frames, same ids) and unique per camera; slugs hold no '.', so they
are also unambiguous across cameras. Ids over 64 characters use a digest of the camera
and zone ids instead.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.config.estate import Camera, Zone, ZoneKind
from services.contract.messages import Finding, Phase, Rule
from services.vision.zones import (
    Box,
    Membership,
    Point,
    belongs,
    box_area,
    intersection_area,
    iou,
    mask_fraction,
)

__all__ = ["CameraRules", "Detection", "FindingEvent", "RuleSettings"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MAX_ID = 64  # contract MessageId


@dataclass(frozen=True, slots=True)
class Detection:
    """One object the detector and tracker saw in one frame."""

    box: Box  # x1, y1, x2, y2 normalised 0..1
    label: str
    score: float
    static: bool  # the tracker judges it not moving
    track_id: int | None = None
    is_person: bool = False
    carried: bool = False  # the detector/tracker knows a person holds it
    static_for: timedelta = timedelta(0)  # how long it had stood still when first reported

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.box
        if not all(math.isfinite(v) for v in self.box) or x2 < x1 or y2 < y1:
            raise ValueError(f"box must be finite (x1, y1, x2, y2) with x1<=x2, y1<=y2: {self.box}")


@dataclass(frozen=True, slots=True)
class FindingEvent:
    """One start, update or end of a finding, as decided at frame time `at`."""

    finding_id: str
    rule: Rule
    zone_id: str
    phase: Phase
    started_at: datetime  # when the object was first seen static in the zone
    at: datetime  # the frame that decided this event
    box: Box  # the object's box in that frame (for `end`: where it was last seen)
    label: str
    score: float

    def to_message(self, camera_id: str, evidence_jpeg_b64: str | None = None, *,
                   crop_jpeg_b64: str | None = None, crop_box: Box | None = None) -> Finding:
        """The MQTT contract message; boxes are clamped to 0..1 and the label to 64."""
        x1, y1, x2, y2 = _clamped(self.box)
        return Finding(
            finding_id=self.finding_id,
            camera_id=camera_id,
            rule=self.rule,
            zone=self.zone_id,
            phase=self.phase,
            started_at=self.started_at,
            box=(x1, y1, x2, y2),
            label=self.label[:64],
            score=min(1.0, max(0.0, float(self.score))),
            evidence_jpeg_b64=evidence_jpeg_b64,
            crop_jpeg_b64=crop_jpeg_b64,
            crop_box=_clamped(crop_box) if crop_box is not None else None,
        )


def _clamped(box: Box) -> Box:
    x1, y1, x2, y2 = (min(1.0, max(0.0, float(v))) for v in box)
    return x1, y1, x2, y2


@dataclass(frozen=True, slots=True)
class RuleSettings:
    grace: timedelta = timedelta(seconds=10)  # unseen this long: the object is gone
    update_every: timedelta = timedelta(seconds=60)  # at most one update this often
    fire_exit_overlap: float = 0.3  # of the box area inside a fire-exit zone
    mask_overlap: float = 0.5  # of the box area inside masks: ignored
    litter_max_area: float = 0.02  # of the frame: larger objects are not litter
    carried_overlap: float = 0.3  # of the box inside a person's box: carried (litter)
    match_iou: float = 0.5  # same object across frames without a track id
    parked_memory: timedelta = timedelta(minutes=10)  # an ended object seen again: no alert

    def __post_init__(self) -> None:
        if self.grace <= timedelta(0) or self.update_every <= timedelta(0):
            raise ValueError("grace and update_every must be positive")
        if self.parked_memory < timedelta(0):
            raise ValueError("parked_memory must not be negative")


@dataclass(slots=True)
class _Tracked:
    track_id: int | None
    box: Box
    label: str
    score: float
    since: datetime
    last_seen: datetime
    seq: int  # which object first seen in this zone in the same millisecond
    alerted: bool = False  # has given its one finding (or is a parked one: never will)
    finding_id: str | None = None  # while its finding is open
    last_emit: datetime | None = None

    def see(self, det: Detection, t: datetime) -> None:
        self.box, self.label, self.score, self.last_seen = det.box, det.label, det.score, t
        if det.track_id is not None:
            self.track_id = det.track_id

    def same_as(self, det: Detection, min_iou: float) -> bool:
        if det.track_id is not None and det.track_id == self.track_id:
            return True
        return iou(self.box, det.box) >= min_iou


@dataclass(slots=True)
class _ZoneState:
    zone_id: str
    rule: Rule
    polygon: tuple[Point, ...]
    dwell: timedelta
    live: list[_Tracked] = field(default_factory=list)
    parked: list[_Tracked] = field(default_factory=list)
    last_birth_ms: int | None = None
    births: int = 0


_RULE_OF: dict[ZoneKind, Rule] = {
    ZoneKind.FIRE_EXIT: Rule.BLOCKED_FIRE_EXIT,
    ZoneKind.FLOOR: Rule.LITTER,
}


class CameraRules:
    """The rules for one camera's zones; feed it that camera's frames in time order."""

    def __init__(
        self, camera_id: str, zones: Iterable[Zone], settings: RuleSettings | None = None
    ) -> None:
        self.camera_id = camera_id
        self.settings = settings or RuleSettings()
        zones = list(zones)
        self._masks: list[tuple[Point, ...]] = [z.polygon for z in zones if z.kind is ZoneKind.MASK]
        self._zones: list[_ZoneState] = [
            _ZoneState(z.id, _RULE_OF[z.kind], z.polygon, z.dwell)
            for z in zones
            if z.kind in _RULE_OF
        ]
        self._last_t: datetime | None = None

    @classmethod
    def for_camera(cls, camera: Camera, settings: RuleSettings | None = None) -> CameraRules:
        return cls(camera.id, camera.zones, settings)

    def open_findings(self) -> list[str]:
        """The ids of the findings started and not yet ended."""
        return [c.finding_id for z in self._zones for c in z.live if c.finding_id is not None]

    def step(self, t: datetime, detections: Sequence[Detection]) -> list[FindingEvent]:
        """One frame taken at `t`: the finding events it decides, in zone order."""
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError("frame time must be timezone-aware")
        if self._last_t is not None and t < self._last_t:
            return []
        self._last_t = t
        s = self.settings
        people = [d.box for d in detections if d.is_person]
        objects = [
            d
            for d in detections
            if not d.is_person
            and d.static
            and not d.carried
            and not (self._masks and mask_fraction(d.box, self._masks) >= s.mask_overlap)
        ]
        events: list[FindingEvent] = []
        for zone in self._zones:
            if zone.rule is Rule.LITTER:
                eligible = [
                    d
                    for d in objects
                    if box_area(d.box) <= s.litter_max_area
                    and not self._handled(d.box, people)
                    and belongs(d.box, zone.polygon, Membership.FOOTPRINT)
                ]
            else:
                eligible = [
                    d
                    for d in objects
                    if belongs(d.box, zone.polygon, Membership.OVERLAP, s.fire_exit_overlap)
                ]
            events.extend(self._step_zone(zone, t, eligible))
        return events

    # --- internals ----------------------------------------------------------------------

    def _handled(self, box: Box, people: list[Box]) -> bool:
        area = box_area(box)
        if area <= 0.0:
            return any(p[0] <= box[0] <= p[2] and p[1] <= box[1] <= p[3] for p in people)
        return any(
            intersection_area(box, p) / area >= self.settings.carried_overlap for p in people
        )

    def _match(
        self, live: list[_Tracked], dets: list[Detection]
    ) -> tuple[list[tuple[_Tracked, Detection]], list[Detection]]:
        """Pair followed objects with this frame's detections: track id first, then IoU."""
        pairs: list[tuple[_Tracked, Detection]] = []
        free = list(range(len(live)))
        rest: list[int] = []
        for j, det in enumerate(dets):
            hit = next(
                (i for i in free if det.track_id is not None and live[i].track_id == det.track_id),
                None,
            )
            if hit is None:
                rest.append(j)
            else:
                free.remove(hit)
                pairs.append((live[hit], det))
        scored = sorted(
            (
                (-iou(live[i].box, dets[j].box), i, j)
                for i in free
                for j in rest
                if iou(live[i].box, dets[j].box) >= self.settings.match_iou
            ),
        )
        used_i: set[int] = set()
        used_j: set[int] = set()
        for _, i, j in scored:
            if i in used_i or j in used_j:
                continue
            used_i.add(i)
            used_j.add(j)
            pairs.append((live[i], dets[j]))
        return pairs, [dets[j] for j in rest if j not in used_j]

    def _born(self, zone: _ZoneState, det: Detection, t: datetime) -> _Tracked:
        for k, ghost in enumerate(zone.parked):
            if ghost.same_as(det, self.settings.match_iou):
                # The parked object whose finding already ended is back: never re-alert.
                del zone.parked[k]
                ghost.see(det, t)
                return ghost
        # a detector that needs evidence reports an object some time after it stopped:
        # the dwell counts from when it stopped
        since = t - det.static_for
        ms = (since - _EPOCH) // _MS
        if zone.last_birth_ms == ms:
            zone.births += 1
        else:
            zone.last_birth_ms, zone.births = ms, 0
        return _Tracked(det.track_id, det.box, det.label, det.score, since, t, zone.births)

    def _finding_id(self, zone: _ZoneState, obj: _Tracked) -> str:
        ms = (obj.since - _EPOCH) // _MS
        suffix = f".{ms}" + (f".{obj.seq}" if obj.seq else "")
        fid = f"{self.camera_id}.{zone.zone_id}{suffix}"
        if len(fid) > _MAX_ID:
            digest = hashlib.sha256(f"{self.camera_id}/{zone.zone_id}".encode()).hexdigest()
            fid = f"{digest[:32]}{suffix}"
        return fid

    def _event(self, zone: _ZoneState, obj: _Tracked, phase: Phase, t: datetime) -> FindingEvent:
        assert obj.finding_id is not None
        return FindingEvent(
            finding_id=obj.finding_id,
            rule=zone.rule,
            zone_id=zone.zone_id,
            phase=phase,
            started_at=obj.since,
            at=t,
            box=obj.box,
            label=obj.label,
            score=obj.score,
        )

    def _step_zone(
        self, zone: _ZoneState, t: datetime, eligible: list[Detection]
    ) -> list[FindingEvent]:
        s = self.settings
        pairs, new = self._match(zone.live, eligible)
        for obj, det in pairs:
            obj.see(det, t)
        zone.live.extend(self._born(zone, det, t) for det in new)

        events: list[FindingEvent] = []
        keep: list[_Tracked] = []
        for obj in zone.live:
            if t - obj.last_seen >= s.grace:
                if obj.finding_id is not None:
                    events.append(self._event(zone, obj, Phase.END, t))
                    obj.finding_id = None
                if obj.alerted and s.parked_memory > timedelta(0):
                    zone.parked.append(obj)
                continue
            keep.append(obj)
            if obj.last_seen != t:
                continue  # hidden this frame: no start or update until seen again
            if not obj.alerted:
                if t - obj.since >= zone.dwell:
                    obj.alerted = True
                    obj.finding_id = self._finding_id(zone, obj)
                    obj.last_emit = t
                    events.append(self._event(zone, obj, Phase.START, t))
            elif (
                obj.finding_id is not None
                and obj.last_emit is not None
                and t - obj.last_emit >= s.update_every
            ):
                obj.last_emit = t
                events.append(self._event(zone, obj, Phase.UPDATE, t))
        zone.live = keep
        zone.parked = [p for p in zone.parked if t - p.last_seen <= s.parked_memory]
        return events
