"""Vision rules (SPEC §6): zone geometry and the per-camera finding state machine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.config.estate import Camera, Location, Zone, ZoneKind
from services.contract.messages import Finding, Phase, Rule
from services.vision.rules import CameraRules, Detection, FindingEvent, RuleSettings
from services.vision.zones import (
    Box,
    Membership,
    belongs,
    footprint,
    iou,
    mask_fraction,
    overlap_fraction,
    point_in_polygon,
    polygon_area,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def rect(x1: float, y1: float, x2: float, y2: float) -> tuple[tuple[float, float], ...]:
    return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))


def zone(zone_id: str, kind: ZoneKind, polygon: tuple[tuple[float, float], ...]) -> Zone:
    """A zone as the config loads it: the dwell defaults by kind (120 s, 10 min)."""
    return Zone.model_validate({"id": zone_id, "kind": kind, "polygon": polygon})


EXIT = zone("exit", ZoneKind.FIRE_EXIT, rect(0.4, 0.3, 0.6, 0.9))
FLOOR = zone("floor", ZoneKind.FLOOR, rect(0.0, 0.6, 0.35, 1.0))
MASK = zone("street", ZoneKind.MASK, rect(0.3, 0.0, 0.7, 0.35))
ZONES = (EXIT, FLOOR, MASK)

BOX_IN_EXIT: Box = (0.45, 0.6, 0.55, 0.85)
BOTTLE: Box = (0.10, 0.90, 0.13, 0.95)  # 0.15 % of the frame, standing on the floor zone

Script = Callable[[int], list[Detection]]


def obj(box: Box, label: str = "box", track: int | None = None, **kw: bool) -> Detection:
    return Detection(box=box, label=label, score=0.8, static=True, track_id=track, **kw)


def person(x: float, static: bool = False) -> Detection:
    return Detection(
        box=(x, 0.2, x + 0.12, 0.95), label="person", score=0.9, static=static, is_person=True
    )


def run(
    script: Script,
    seconds: int,
    zones: tuple[Zone, ...] = ZONES,
    settings: RuleSettings | None = None,
    rules: CameraRules | None = None,
) -> list[FindingEvent]:
    """One frame a second for `seconds` seconds: the events, in order."""
    rules = rules or CameraRules("cam-1", zones, settings)
    events: list[FindingEvent] = []
    for s in range(seconds):
        events.extend(rules.step(T0 + timedelta(seconds=s), script(s)))
    return events


def secs(at: datetime) -> float:
    return (at - T0).total_seconds()


def phases(events: list[FindingEvent]) -> list[tuple[Phase, float]]:
    return [(e.phase, secs(e.at)) for e in events]


# --- geometry -------------------------------------------------------------------------

# A "U": two uprights joined at the bottom; the notch (0.3..0.7 x 0..0.6) is outside.
U_SHAPE = ((0.0, 0.0), (0.3, 0.0), (0.3, 0.6), (0.7, 0.6), (0.7, 0.0), (1.0, 0.0),
           (1.0, 1.0), (0.0, 1.0))  # fmt: skip


def test_point_in_concave_polygon() -> None:
    assert point_in_polygon((0.1, 0.1), U_SHAPE)
    assert point_in_polygon((0.9, 0.3), U_SHAPE)
    assert point_in_polygon((0.5, 0.8), U_SHAPE)
    assert not point_in_polygon((0.5, 0.3), U_SHAPE)  # in the notch
    assert not point_in_polygon((1.2, 0.5), U_SHAPE)
    assert point_in_polygon((0.5, 0.6), U_SHAPE)  # on the edge counts as inside
    assert point_in_polygon((0.5, 1.0), U_SHAPE)  # on the frame's bottom edge


def test_polygon_area() -> None:
    assert polygon_area(U_SHAPE) == pytest.approx(1.0 - 0.4 * 0.6)
    assert polygon_area(tuple(reversed(U_SHAPE))) == pytest.approx(0.76)


def test_overlap_fraction_box_partly_inside() -> None:
    square = rect(0.0, 0.0, 0.5, 0.5)
    assert overlap_fraction((0.25, 0.25, 0.75, 0.75), square) == pytest.approx(0.25)
    assert overlap_fraction((0.4, 0.0, 0.6, 0.5), square) == pytest.approx(0.5)
    assert overlap_fraction((0.1, 0.1, 0.2, 0.2), square) == pytest.approx(1.0)
    assert overlap_fraction((0.6, 0.6, 0.9, 0.9), square) == 0.0


def test_overlap_fraction_concave_box_across_the_notch() -> None:
    # Box 0.2..0.8 x 0.4..0.8 spans both uprights and the notch: area 0.24, of which the
    # notch (0.3..0.7 x 0.4..0.6 = 0.08) is outside.
    assert overlap_fraction((0.2, 0.4, 0.8, 0.8), U_SHAPE) == pytest.approx(0.16 / 0.24)
    # Wholly inside the notch: nothing inside, although every corner of the polygon's
    # bounding box surrounds it.
    assert overlap_fraction((0.35, 0.1, 0.65, 0.5), U_SHAPE) == 0.0


def test_degenerate_box_counts_by_its_centre() -> None:
    assert overlap_fraction((0.1, 0.1, 0.1, 0.1), U_SHAPE) == 1.0
    assert overlap_fraction((0.5, 0.3, 0.5, 0.3), U_SHAPE) == 0.0


def test_footprint_and_membership() -> None:
    floor = rect(0.0, 0.7, 1.0, 1.0)
    tall = (0.4, 0.1, 0.5, 0.75)  # mostly above the floor zone, but stands on it
    assert footprint(tall) == pytest.approx((0.45, 0.75))
    assert belongs(tall, floor, Membership.FOOTPRINT)
    assert not belongs(tall, floor, Membership.OVERLAP, 0.3)
    hanging = (0.4, 0.5, 0.5, 0.69)  # box just above the floor zone
    assert not belongs(hanging, floor, Membership.FOOTPRINT)
    assert belongs((0.0, 0.8, 0.1, 1.0), floor, Membership.FOOTPRINT)  # touching y = 1


def test_mask_fraction_sums_adjacent_masks() -> None:
    left, right = rect(0.0, 0.0, 0.5, 1.0), rect(0.5, 0.0, 1.0, 1.0)
    box = (0.4, 0.4, 0.6, 0.6)
    assert mask_fraction(box, [left]) == pytest.approx(0.5)
    assert mask_fraction(box, [left, right]) == pytest.approx(1.0)
    assert mask_fraction(box, []) == 0.0


def test_iou() -> None:
    assert iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert iou((0, 0, 0.2, 0.2), (0.1, 0, 0.3, 0.2)) == pytest.approx(1 / 3)
    assert iou((0, 0, 0.1, 0.1), (0.5, 0.5, 0.6, 0.6)) == 0.0
    assert iou((0.1, 0.1, 0.1, 0.1), (0.1, 0.1, 0.1, 0.1)) == 0.0


def test_detection_rejects_inverted_box() -> None:
    with pytest.raises(ValueError):
        Detection(box=(0.5, 0.5, 0.4, 0.6), label="box", score=0.5, static=True)


# --- blocked fire exit ----------------------------------------------------------------


def test_box_left_200_s_gives_one_finding() -> None:
    events = run(lambda s: [obj(BOX_IN_EXIT)] if s < 200 else [], 260)
    assert [e.phase for e in events] == [Phase.START, Phase.UPDATE, Phase.END]
    start, update, end = events
    assert secs(start.at) == 120 and start.started_at == T0
    assert secs(update.at) - secs(start.at) >= 60
    assert secs(end.at) == 199 + 10  # last seen at 199, clear for the 10 s grace
    assert {e.finding_id for e in events} == {start.finding_id}
    assert all(e.rule is Rule.BLOCKED_FIRE_EXIT and e.zone_id == "exit" for e in events)
    assert all(e.started_at == T0 and e.box == BOX_IN_EXIT for e in events)


def test_updates_are_spaced_by_update_every() -> None:
    events = run(lambda s: [obj(BOX_IN_EXIT)], 600)
    starts = [e for e in events if e.phase is Phase.START]
    updates = [secs(e.at) for e in events if e.phase is Phase.UPDATE]
    assert len(starts) == 1 and updates == [180, 240, 300, 360, 420, 480, 540]
    quick = run(
        lambda s: [obj(BOX_IN_EXIT)], 200, settings=RuleSettings(update_every=timedelta(seconds=30))
    )
    assert [secs(e.at) for e in quick if e.phase is Phase.UPDATE] == [150, 180]


def test_box_left_100_s_gives_nothing() -> None:
    assert run(lambda s: [obj(BOX_IN_EXIT)] if s < 100 else [], 300) == []


def test_people_never_block_the_exit() -> None:
    walking = run(lambda s: [person(0.3 + s * 0.01)] if s < 40 else [], 200)
    standing = run(lambda s: [person(0.44, static=True)] if s < 60 else [], 200)
    loitering = run(lambda s: [person(0.44, static=True)], 400)
    assert walking == standing == loitering == []


def test_box_hidden_5_s_by_a_passing_person_is_one_finding() -> None:
    def script(s: int) -> list[Detection]:
        if 60 <= s < 65 or 150 <= s < 155:  # before and after the start
            return [person(0.44)]
        return [obj(BOX_IN_EXIT)] if s < 250 else []

    events = run(script, 300)
    assert phases(events) == [
        (Phase.START, 120),
        (Phase.UPDATE, 180),
        (Phase.UPDATE, 240),
        (Phase.END, 259),
    ]
    assert events[0].started_at == T0 and events[0].started_at == T0
    assert len({e.finding_id for e in events}) == 1


def test_hidden_longer_than_grace_restarts_the_dwell() -> None:
    events = run(lambda s: [] if 60 <= s < 80 else [obj(BOX_IN_EXIT)], 300)
    starts = [e for e in events if e.phase is Phase.START]
    assert len(starts) == 1 and secs(starts[0].started_at) == 80 and secs(starts[0].at) == 200


def test_jitter_and_lost_track_ids_stay_one_finding() -> None:
    def jitter(s: int) -> Box:
        d = 0.01 if s % 2 else -0.01
        return (0.45 + d, 0.6, 0.55 + d, 0.85)

    no_ids = run(lambda s: [obj(jitter(s))], 300)
    # The tracker gives a new id after each occlusion; the place is the same.
    new_ids = run(lambda s: [] if s % 50 < 3 else [obj(jitter(s), track=s // 50)], 300)
    for events in (no_ids, new_ids):
        assert [p for p, _ in phases(events)].count(Phase.START) == 1
        assert Phase.END not in [e.phase for e in events]
        assert len({e.finding_id for e in events}) == 1


def test_track_id_follows_an_object_that_is_nudged() -> None:
    # Same track id, pushed along the exit each minute: no overlap with where it was.
    def script(s: int) -> list[Detection]:
        x = 0.41 + 0.05 * (s // 60)
        return [obj((x, 0.6, x + 0.05, 0.85), track=7)]

    events = run(script, 200)
    assert phases(events) == [(Phase.START, 120), (Phase.UPDATE, 180)]
    assert events[1].box[0] == pytest.approx(0.56)


def test_two_boxes_in_two_zones_are_two_findings() -> None:
    zones = (
        zone("exit-a", ZoneKind.FIRE_EXIT, rect(0.0, 0.3, 0.3, 0.9)),
        zone("exit-b", ZoneKind.FIRE_EXIT, rect(0.6, 0.3, 0.9, 0.9)),
    )
    a, b = (0.1, 0.5, 0.2, 0.8), (0.7, 0.5, 0.8, 0.8)
    events = run(lambda s: [obj(a), obj(b, track=3)] if s >= 10 else [obj(a)], 150, zones=zones)
    starts = [e for e in events if e.phase is Phase.START]
    assert [(e.zone_id, secs(e.started_at), secs(e.at)) for e in starts] == [
        ("exit-a", 0, 120),
        ("exit-b", 10, 130),
    ]
    assert starts[0].finding_id != starts[1].finding_id


def test_two_boxes_in_one_zone_first_seen_together_get_distinct_ids() -> None:
    left, right = (0.41, 0.5, 0.49, 0.7), (0.51, 0.5, 0.59, 0.7)
    events = run(lambda s: [obj(left), obj(right)], 130)
    ids = [e.finding_id for e in events if e.phase is Phase.START]
    ms = int(T0.timestamp()) * 1000
    assert ids == [f"cam-1.exit.{ms}", f"cam-1.exit.{ms}.1"]


def test_finding_ids_are_deterministic() -> None:
    def script(s: int) -> list[Detection]:
        return [obj(BOX_IN_EXIT)] if 5 <= s < 200 else [obj(BOTTLE)]

    first, second = run(script, 800), run(script, 800)
    assert first == second and first
    ms = int(T0.timestamp()) * 1000
    assert first[0].finding_id == f"cam-1.exit.{ms + 5000}"


def test_long_ids_are_shortened_to_the_contract_limit() -> None:
    camera_id = "c" * 64
    long_zone = zone("z" * 64, ZoneKind.FIRE_EXIT, EXIT.polygon)
    rules = CameraRules(camera_id, [long_zone])
    events = run(lambda s: [obj(BOX_IN_EXIT)], 121, rules=rules)
    assert len(events) == 1 and len(events[0].finding_id) <= 64
    events[0].to_message(camera_id)  # the contract accepts it


# --- parked objects -------------------------------------------------------------------


def test_parked_object_does_not_realert_after_a_dropout() -> None:
    # Detected 200 s, dropped out for 15 s (> grace: the finding ends), back 300 s.
    events = run(lambda s: [] if 200 <= s < 215 else [obj(BOX_IN_EXIT)], 515)
    assert [p for p, _ in phases(events)] == [Phase.START, Phase.UPDATE, Phase.END]


def test_a_new_placement_opens_a_new_finding() -> None:
    moved = (0.41, 0.35, 0.5, 0.5)  # elsewhere in the exit, IoU 0 with the first
    events = run(lambda s: [obj(BOX_IN_EXIT)] if s < 200 else [] if s < 215 else [obj(moved)], 400)
    starts = [e for e in events if e.phase is Phase.START]
    assert [secs(e.started_at) for e in starts] == [0, 215]
    assert starts[0].finding_id != starts[1].finding_id


def test_parked_memory_zero_realerts() -> None:
    settings = RuleSettings(parked_memory=timedelta(0))
    events = run(lambda s: [] if 200 <= s < 215 else [obj(BOX_IN_EXIT)], 400, settings=settings)
    assert [secs(e.at) for e in events if e.phase is Phase.START] == [120, 335]


def test_parked_memory_expires() -> None:
    settings = RuleSettings(parked_memory=timedelta(seconds=30))
    events = run(lambda s: [] if 200 <= s < 240 else [obj(BOX_IN_EXIT)], 400, settings=settings)
    assert [secs(e.at) for e in events if e.phase is Phase.START] == [120, 360]


# --- litter ---------------------------------------------------------------------------


def test_bottle_11_min_on_the_floor_is_litter() -> None:
    events = run(lambda s: [obj(BOTTLE, label="bottle")], 11 * 60)
    assert [(e.phase, secs(e.at)) for e in events] == [(Phase.START, 600)]
    assert events[0].rule is Rule.LITTER and events[0].zone_id == "floor"
    assert events[0].label == "bottle"


def test_large_object_on_the_floor_is_not_litter() -> None:
    sofa = (0.05, 0.7, 0.3, 0.98)  # 7 % of the frame
    assert run(lambda s: [obj(sofa, label="couch")], 11 * 60) == []


def test_carried_bag_is_not_litter() -> None:
    bag = (0.1, 0.8, 0.16, 0.88)
    flagged = run(lambda s: [obj(bag, label="handbag", carried=True)], 11 * 60)
    held = run(lambda s: [person(0.08, static=True), obj(bag, label="handbag")], 11 * 60)
    assert flagged == held == []


def test_person_passing_over_litter_does_not_reset_it() -> None:
    def script(s: int) -> list[Detection]:
        if 300 <= s < 304:
            return [person(0.05), obj(BOTTLE, label="bottle")]  # overlapping: handled?
        return [obj(BOTTLE, label="bottle")]

    events = run(script, 11 * 60)
    assert [(e.phase, secs(e.at), secs(e.started_at)) for e in events] == [(Phase.START, 600, 0)]


def test_litter_off_the_floor_zone_is_ignored() -> None:
    on_shelf = (0.1, 0.3, 0.13, 0.35)  # footprint above the floor zone
    assert run(lambda s: [obj(on_shelf, label="bottle")], 11 * 60) == []


# --- masks ----------------------------------------------------------------------------


def test_object_in_a_mask_is_ignored() -> None:
    # Half its box is in the exit (enough to block it) but 75 % is in the mask.
    in_mask = (0.45, 0.2, 0.55, 0.4)
    assert run(lambda s: [obj(in_mask)], 300) == []
    assert (
        len(run(lambda s: [obj(in_mask)], 300, zones=(EXIT, FLOOR))) == 3
    )  # unmasked: start, 2 updates


# --- frame handling and the contract --------------------------------------------------


def test_late_frames_are_ignored_and_naive_times_refused() -> None:
    rules = CameraRules("cam-1", ZONES)
    rules.step(T0 + timedelta(seconds=10), [])
    assert rules.step(T0, [obj(BOX_IN_EXIT)]) == []
    with pytest.raises(ValueError):
        rules.step(datetime(2026, 3, 1, 9, 0), [])


def test_open_findings_and_message() -> None:
    rules = CameraRules.for_camera(Camera(id="cam-1", location=Location(area="lobby"), zones=ZONES))
    events = run(lambda s: [obj((0.45, 0.6, 0.55, 1.0))], 121, rules=rules)
    assert rules.open_findings() == [events[0].finding_id]
    message = events[0].to_message("cam-1", evidence_jpeg_b64="aGk=")
    assert isinstance(message, Finding)
    assert message.phase is Phase.START and message.zone == "exit"
    assert message.started_at == T0 and message.box == (0.45, 0.6, 0.55, 1.0)
