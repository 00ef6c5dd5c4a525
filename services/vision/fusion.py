"""What the OpenCV static detector and YOLO saw, merged into the rules' detections.

Pure: plain data in, plain data out. The static detector finds anything that arrived and
stayed, known to a model or not (a cardboard box, a bicycle); YOLO says what things are
and where people are. The merge:

* a person sighting is a person (the rules never count people, and treat what overlaps
  them as carried or handled);
* a static blob mostly covered by a person is that person standing still, not an object;
* a static blob that overlaps a YOLO object takes its label, score and track id;
* a static blob nobody names stays an `object` of unknown kind: it still counts;
* a YOLO object no blob explains (it was there before the background was learnt) counts
  once its track has stayed put for the same evidence time as a blob; a moving one is
  passed on as not static, so the rules ignore it;
* a YOLO object mostly inside a person's box is carried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.vision.rules import Detection
from services.vision.static_objects import StaticBlob
from services.vision.yolo import Sighting
from services.vision.zones import Box, box_area, intersection_area, iou


@dataclass(frozen=True)
class FusionSettings:
    person_labels: frozenset[str] = frozenset({"person"})
    person_cover: float = 0.5  # share of a box inside a person's box: part of that person
    match_overlap: float = 0.3  # intersection over the smaller box: the same object
    still_iou: float = 0.7  # a track keeping this IoU with where it stopped has not moved
    forget: timedelta = timedelta(seconds=30)  # a track unseen this long is forgotten


def _inside(box: Box, other: Box) -> float:
    """The share of `box` that lies inside `other`."""
    area = box_area(box)
    return intersection_area(box, other) / area if area > 0 else 0.0


def _overlap(a: Box, b: Box) -> float:
    smaller = min(box_area(a), box_area(b))
    return intersection_area(a, b) / smaller if smaller > 0 else 0.0


@dataclass
class _Still:
    anchor: Box
    since: datetime
    seen: datetime


@dataclass
class Stillness:
    """Per track id: since when its box has stayed where it stopped."""

    settings: FusionSettings = field(default_factory=FusionSettings)
    _tracks: dict[int, _Still] = field(default_factory=dict)

    def update(self, t: datetime, sightings: Sequence[Sighting]) -> dict[int, timedelta]:
        """How long each sighted track has been still, as of frame time t."""
        out: dict[int, timedelta] = {}
        for s in sightings:
            if s.track_id is None:
                continue
            state = self._tracks.get(s.track_id)
            if state is None or iou(state.anchor, s.box) < self.settings.still_iou:
                state = self._tracks[s.track_id] = _Still(s.box, t, t)
            state.seen = t
            out[s.track_id] = t - state.since
        forget = self.settings.forget
        self._tracks = {k: v for k, v in self._tracks.items() if t - v.seen <= forget}
        return out


def fuse(blobs: Sequence[StaticBlob], sightings: Sequence[Sighting],
         still_for: dict[int, timedelta], evidence: timedelta,
         settings: FusionSettings = FusionSettings()) -> list[Detection]:
    """This frame's detections. `evidence` is how long a blob has stood still when the
    static detector first reports it, and how long a YOLO track must stay put to count."""
    people = [s for s in sightings if s.label in settings.person_labels]
    things = [s for s in sightings if s.label not in settings.person_labels]
    out = [Detection(box=p.box, label=p.label, score=p.score, static=False,
                     track_id=p.track_id, is_person=True) for p in people]
    explained: set[int] = set()
    for blob in blobs:
        if any(_inside(blob.box, p.box) >= settings.person_cover for p in people):
            continue
        best = max(range(len(things)), key=lambda i: _overlap(blob.box, things[i].box),
                   default=None)
        if best is not None and _overlap(blob.box, things[best].box) >= settings.match_overlap:
            explained.add(best)
            thing = things[best]
            out.append(Detection(box=blob.box, label=thing.label, score=thing.score,
                                 static=True, track_id=thing.track_id,
                                 static_for=evidence))
        else:
            out.append(Detection(box=blob.box, label="object", score=1.0, static=True,
                                 static_for=evidence))
    for i, thing in enumerate(things):
        if i in explained:
            continue
        still = still_for.get(thing.track_id) if thing.track_id is not None else None
        carried = any(_inside(thing.box, p.box) >= settings.person_cover for p in people)
        out.append(Detection(box=thing.box, label=thing.label, score=thing.score,
                             static=still is not None and still >= evidence,
                             track_id=thing.track_id, carried=carried,
                             static_for=still or timedelta(0)))
    return out
