"""Duplicate linking (SPEC §3) and time-to-fix with the bulletin's percentiles (SPEC §4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.tickets import (
    Action,
    Actor,
    Channel,
    Command,
    Place,
    Priority,
    Role,
    SlaTarget,
    Source,
    State,
    Ticket,
    apply,
    find_duplicate,
    open_ticket,
    same_place,
)
from services.tickets.oracle import percentile, time_to_fix

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
SLA = SlaTarget(timedelta(hours=4), timedelta(hours=24))
STAFF = Actor("S-1", Role.STAFF, department="cleaning")
REPORTER = Actor("res-1", Role.RESIDENT)


def ticket(
    *, opened: float = 0, site: str = "sg", category: str = "litter", building: str | None = "B1",
    area: str = "lawn", asset: str | None = None, state: State = State.REPORTED, ident: int = 1,
) -> Ticket:
    t, _ = open_ticket(
        site=site, category=category, priority=Priority.NORMAL, source=Source.RESIDENT,
        channel=Channel.APP, description="d", building=building, area=area,
        opened_at=T0 + timedelta(hours=opened), sla=SLA, actor=REPORTER,
        reporter_id=REPORTER.id, asset=asset,
    )
    t = replace(t, id=ident)
    return advance(t, state)


_PATH = [
    (Action.ACCEPT, {}),
    (Action.VERIFY, {}),
    (Action.DISPATCH, {"department": "cleaning", "assignee": "S-2"}),
    (Action.START, {}),
    (Action.RESOLVE, {"note": "picked up", "photos": ("p.jpg",)}),
    (Action.CLOSE, {}),
]


def advance(t: Ticket, state: State) -> Ticket:
    if state is State.REJECTED:
        t, _ = apply(t, Command(Action.REJECT, STAFF, t.opened_at, reason="false report"))
        return t
    if state is State.UNRESOLVABLE:
        t, _ = apply(t, Command(Action.ACCEPT, STAFF, t.opened_at))
        t, _ = apply(t, Command(Action.MARK_UNRESOLVABLE, STAFF, t.opened_at, reason="x"))
        return t
    for action, fields in _PATH:
        if t.state is state:
            break
        at = max(t.opened_at + timedelta(minutes=1), t.updated_at or t.opened_at)
        t, _ = apply(t, Command(action, STAFF, at, **fields))  # type: ignore[arg-type]
    assert t.state is state
    return t


LAWN = Place(site="sg", category="litter", building="B1", area="lawn")


# -- duplicates ------------------------------------------------------------------------------


def test_no_candidates_no_duplicate() -> None:
    assert find_duplicate(LAWN, []) is None


def test_picks_the_oldest_open_ticket_at_the_place() -> None:
    newer = ticket(opened=5, ident=2)
    oldest = ticket(opened=1, ident=3, state=State.IN_PROGRESS)
    middle = ticket(opened=3, ident=4, state=State.DISPATCHED)
    assert find_duplicate(LAWN, [newer, oldest, middle]) is oldest
    assert find_duplicate(LAWN, iter([middle, newer])) is middle


@pytest.mark.parametrize(
    "state", [State.RESOLVED, State.CLOSED, State.REJECTED, State.UNRESOLVABLE]
)
def test_ignores_resolved_and_closed_tickets(state: State) -> None:
    done = ticket(opened=0, ident=1, state=state)
    assert find_duplicate(LAWN, [done]) is None
    open_one = ticket(opened=9, ident=2)
    assert find_duplicate(LAWN, [done, open_one]) is open_one


def test_ignores_other_category_site_or_place() -> None:
    others = [
        ticket(category="cleaning", ident=1),
        ticket(site="other-estate", ident=2),
        ticket(area="car park", ident=3),
        ticket(building="B2", ident=4),
        ticket(building=None, ident=5),
    ]
    assert find_duplicate(LAWN, others) is None
    for t in others:
        assert not same_place(t, LAWN)


def test_pending_confirmation_machine_finding_is_a_duplicate_target() -> None:
    finding, _ = open_ticket(
        site="sg", category="litter", priority=Priority.NORMAL, source=Source.CAMERA,
        channel=Channel.DEVICE, description="litter", building="B1", area="lawn",
        opened_at=T0, sla=SLA, actor=Actor("vision", Role.SYSTEM),
    )
    assert finding.state is State.PENDING_CONFIRMATION
    assert find_duplicate(LAWN, [finding]) is finding


def test_asset_match_wins_over_area() -> None:
    lamp = Place(site="sg", category="lamp", building="B1", area="path", asset="lamp-17")
    same_lamp_other_words = ticket(category="lamp", area="path by gate", asset="lamp-17", ident=1)
    other_lamp_same_area = ticket(category="lamp", area="path", asset="lamp-18", ident=2)
    assert same_place(same_lamp_other_words, lamp)
    assert not same_place(other_lamp_same_area, lamp)
    assert find_duplicate(lamp, [other_lamp_same_area, same_lamp_other_words]) is (
        same_lamp_other_words
    )


def test_area_decides_when_either_side_has_no_asset() -> None:
    lamp = Place(site="sg", category="lamp", building="B1", area="path", asset="lamp-17")
    no_asset_same_area = ticket(category="lamp", area="path", ident=1)
    assert same_place(no_asset_same_area, lamp)
    plain = Place(site="sg", category="lamp", building="B1", area="path")
    assert same_place(ticket(category="lamp", area="path", asset="lamp-9", ident=2), plain)
    assert not same_place(ticket(category="lamp", area="gate", asset="lamp-9", ident=3), plain)


# -- time to fix -----------------------------------------------------------------------------


def test_time_to_fix_none_until_resolved() -> None:
    assert time_to_fix(ticket(state=State.IN_PROGRESS)) is None
    assert time_to_fix(ticket(state=State.REJECTED)) is None


def test_time_to_fix_is_resolved_minus_opened() -> None:
    t = ticket(opened=2, state=State.IN_PROGRESS)
    t, _ = apply(t, Command(Action.RESOLVE, STAFF, T0 + timedelta(hours=5, minutes=30),
                            note="n", photos=("p",)))
    assert time_to_fix(t) == timedelta(hours=3, minutes=30)
    t, _ = apply(t, Command(Action.CLOSE, STAFF, T0 + timedelta(days=3)))
    assert time_to_fix(t) == timedelta(hours=3, minutes=30)


def test_time_to_fix_after_reopen_uses_final_resolution() -> None:
    t = ticket(opened=0, state=State.RESOLVED)
    first = time_to_fix(t)
    assert first == timedelta(minutes=1)
    t, _ = apply(t, Command(Action.REOPEN, REPORTER, T0 + timedelta(hours=10), reason="again"))
    assert time_to_fix(t) is None
    t, _ = apply(t, Command(Action.START, STAFF, T0 + timedelta(hours=11)))
    t, _ = apply(t, Command(Action.RESOLVE, STAFF, T0 + timedelta(hours=30), note="n",
                            photos=("p",)))
    assert time_to_fix(t) == timedelta(hours=30)


def test_time_to_fix_includes_pauses() -> None:
    """SPEC: resolved time − first report; pauses move SLA deadlines, not time-to-fix."""
    t = ticket(opened=0)
    t, _ = apply(t, Command(Action.REQUEST_INFO, STAFF, T0 + timedelta(hours=1), note="?"))
    t, _ = apply(t, Command(Action.PROVIDE_INFO, REPORTER, T0 + timedelta(hours=6), note="!"))
    t = advance(t, State.IN_PROGRESS)
    t, _ = apply(t, Command(Action.RESOLVE, STAFF, T0 + timedelta(hours=8), note="n",
                            photos=("p",)))
    assert time_to_fix(t) == timedelta(hours=8)


# -- percentiles (as PostgreSQL percentile_cont) ---------------------------------------------


def s(*seconds: float) -> list[timedelta]:
    return [timedelta(seconds=x) for x in seconds]


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        (s(1, 2, 3, 4), 0.5, 2.5),
        (s(4, 1, 3, 2), 0.5, 2.5),  # order does not matter
        (s(*range(1, 11)), 0.9, 9.1),
        (s(*range(1, 11)), 0.5, 5.5),
        (s(1, 2, 3), 0.5, 2),
        (s(7), 0.5, 7),
        (s(7), 0.9, 7),
        (s(1, 2, 3, 4), 0, 1),
        (s(1, 2, 3, 4), 1, 4),
        (s(10, 20), 0.25, 12.5),
        (s(0, 100), 0.9, 90),
        (s(5, 5, 5, 100), 0.5, 5),
        # 0.9 * 4 = 3.6 → 4th + 0.6 * (5th − 4th) = 40 + 0.6 * 960
        (s(10, 20, 30, 40, 1000), 0.9, 616),
    ],
)
def test_percentile_matches_percentile_cont(
    values: list[timedelta], q: float, expected: float
) -> None:
    assert percentile(values, q) == timedelta(seconds=expected)


def test_percentile_hours() -> None:
    hours = [timedelta(hours=x) for x in (2, 30, 5, 1, 48)]
    assert percentile(hours, 0.5) == timedelta(hours=5)
    # 0.9 * 4 = 3.6 → 30h + 0.6 * 18h
    assert percentile(hours, 0.9) == timedelta(hours=40, minutes=48)


def test_percentile_empty_is_none() -> None:
    assert percentile([], 0.5) is None


@pytest.mark.parametrize("q", [-0.1, 1.01, 2])
def test_percentile_q_out_of_range(q: float) -> None:
    with pytest.raises(ValueError):
        percentile(s(1, 2), q)


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=50),
    st.floats(min_value=0, max_value=1),
)
def test_percentile_within_bounds_and_monotone(seconds: list[int], q: float) -> None:
    values = s(*seconds)
    p = percentile(values, q)
    assert p is not None
    assert min(values) <= p <= max(values)
    lower = percentile(values, q / 2)
    assert lower is not None
    assert lower <= p
