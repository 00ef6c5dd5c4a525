"""SLA clocks (SPEC §3 时限): calendar time, paused while waiting for the reporter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.tickets import (
    Action,
    Actor,
    Breach,
    Channel,
    Clock,
    Command,
    IllegalTransition,
    Priority,
    Role,
    SlaPolicy,
    SlaTarget,
    Source,
    State,
    Ticket,
    apply,
    new_breaches,
    open_ticket,
    resolution_clock,
    response_clock,
)
from services.tickets.sla import DEFAULT_TARGETS, SlaPolicyError, remaining

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)  # a Monday morning
SLA = SlaTarget(respond=timedelta(hours=1), resolve=timedelta(hours=24))
STAFF = Actor("S-1", Role.STAFF, department="eng")
SYSTEM = Actor("sla-watch", Role.SYSTEM)
REPORTER = Actor("res-1", Role.RESIDENT)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def new_ticket() -> Ticket:
    ticket, _ = open_ticket(
        site="s", category="repair_emergency", priority=Priority.EMERGENCY,
        source=Source.RESIDENT, channel=Channel.WEB, description="Pipe burst",
        building="B2", area="basement", opened_at=T0, sla=SLA, actor=REPORTER,
        reporter_id=REPORTER.id,
    )
    return ticket


def run(ticket: Ticket, *steps: tuple[Action, Actor, float, dict[str, object]]) -> Ticket:
    for action, actor, hours, fields in steps:
        ticket, _ = apply(ticket, Command(action, actor, h(hours), **fields))  # type: ignore[arg-type]
    return ticket


def accept(hours: float) -> tuple[Action, Actor, float, dict[str, object]]:
    return (Action.ACCEPT, STAFF, hours, {})


def ask(hours: float) -> tuple[Action, Actor, float, dict[str, object]]:
    return (Action.REQUEST_INFO, STAFF, hours, {"note": "photo please"})


def answer(hours: float) -> tuple[Action, Actor, float, dict[str, object]]:
    return (Action.PROVIDE_INFO, REPORTER, hours, {"note": "here"})


def to_in_progress(start: float) -> list[tuple[Action, Actor, float, dict[str, object]]]:
    return [
        (Action.VERIFY, STAFF, start, {}),
        (Action.DISPATCH, STAFF, start, {"department": "eng", "assignee": "S-2"}),
        (Action.START, STAFF, start, {}),
    ]


def resolve(hours: float) -> tuple[Action, Actor, float, dict[str, object]]:
    return (Action.RESOLVE, STAFF, hours, {"note": "fixed", "photos": ("p.jpg",)})


def flag(hours: float, breach: Breach) -> tuple[Action, Actor, float, dict[str, object]]:
    return (Action.FLAG_BREACH, SYSTEM, hours, {"breach": breach})


# -- response clock --------------------------------------------------------------------------


def test_response_running_until_due_then_breached() -> None:
    t = new_ticket()
    assert response_clock(t, T0) is Clock.RUNNING
    assert response_clock(t, h(1)) is Clock.RUNNING  # exactly at the deadline is still on time
    assert response_clock(t, h(1) + timedelta(microseconds=1)) is Clock.BREACHED


@pytest.mark.parametrize(
    ("accepted", "clock"), [(0.5, Clock.MET), (1, Clock.MET), (1.01, Clock.BREACHED)]
)
def test_response_met_or_breached_by_accept_time(accepted: float, clock: Clock) -> None:
    t = run(new_ticket(), accept(accepted))
    assert t.responded_at == h(accepted)
    # judged by the accept time, whenever it is asked
    assert response_clock(t, h(accepted)) is clock
    assert response_clock(t, h(500)) is clock


def test_rejection_counts_as_response() -> None:
    t = run(new_ticket(), (Action.REJECT, STAFF, 0.5, {"reason": "duplicate"}))
    assert response_clock(t, h(100)) is Clock.MET


def test_response_paused_while_waiting() -> None:
    t = run(new_ticket(), ask(0.25))
    assert response_clock(t, h(0.5)) is Clock.PAUSED
    assert response_clock(t, h(50)) is Clock.PAUSED
    assert resolution_clock(t, h(50)) is Clock.PAUSED


def test_pause_after_deadline_stays_breached() -> None:
    t = run(new_ticket(), ask(2))
    assert response_clock(t, h(3)) is Clock.BREACHED
    assert resolution_clock(t, h(3)) is Clock.PAUSED


# -- resolution clock ------------------------------------------------------------------------


def test_resolution_running_met_breached() -> None:
    t = run(new_ticket(), accept(0.5), *to_in_progress(1))
    assert resolution_clock(t, h(24)) is Clock.RUNNING
    assert resolution_clock(t, h(25)) is Clock.BREACHED
    on_time = run(t, resolve(23))
    assert resolution_clock(on_time, h(100)) is Clock.MET
    late = run(t, resolve(25))
    assert resolution_clock(late, h(100)) is Clock.BREACHED
    closed = run(late, (Action.CLOSE, SYSTEM, 100, {}))
    assert resolution_clock(closed, h(200)) is Clock.BREACHED


def test_resolution_clock_after_reopen_runs_again() -> None:
    t = run(new_ticket(), accept(0.5), *to_in_progress(1), resolve(2))
    t = run(t, (Action.REOPEN, REPORTER, 3, {"reason": "leaks again"}))
    assert t.resolved_at is None
    assert resolution_clock(t, h(4)) is Clock.RUNNING
    assert resolution_clock(t, h(30)) is Clock.BREACHED


def test_resolution_of_rejected_or_unresolvable_ticket() -> None:
    rejected = run(new_ticket(), (Action.REJECT, STAFF, 30, {"reason": "not ours"}))
    assert resolution_clock(rejected, h(100)) is Clock.MET
    flagged = run(
        new_ticket(), accept(0.5), flag(25, Breach.RESOLUTION),
        (Action.MARK_UNRESOLVABLE, STAFF, 26, {"reason": "needs vote"}),
    )
    assert flagged.state is State.UNRESOLVABLE
    assert resolution_clock(flagged, h(100)) is Clock.BREACHED


# -- pauses move deadlines -------------------------------------------------------------------


def test_pause_before_response_moves_both_deadlines_by_its_length() -> None:
    t = run(new_ticket(), ask(0.5), answer(3.25))
    pause = timedelta(hours=2.75)
    assert t.paused_total == pause
    assert t.respond_due_at == T0 + SLA.respond + pause
    assert t.resolve_due_at == T0 + SLA.resolve + pause
    assert response_clock(t, h(3.7)) is Clock.RUNNING
    assert response_clock(t, h(3.76)) is Clock.BREACHED


def test_pause_after_response_moves_only_resolution_deadline() -> None:
    t = run(new_ticket(), accept(0.5), ask(2), answer(7))
    assert t.respond_due_at == T0 + SLA.respond
    assert t.resolve_due_at == T0 + SLA.resolve + timedelta(hours=5)
    assert response_clock(t, h(100)) is Clock.MET


def test_pauses_add_up() -> None:
    t = run(new_ticket(), accept(0.5), ask(1), answer(2), *to_in_progress(3), ask(4), answer(7.5))
    assert t.state is State.IN_PROGRESS
    assert t.paused_total == timedelta(hours=4.5)
    assert t.resolve_due_at == T0 + SLA.resolve + timedelta(hours=4.5)
    assert resolution_clock(t, h(28.5)) is Clock.RUNNING
    assert resolution_clock(t, h(28.6)) is Clock.BREACHED


def test_remaining_adds_back_a_running_pause() -> None:
    t = new_ticket()
    assert remaining(t, t.resolve_due_at, h(4)) == timedelta(hours=20)
    paused = run(t, ask(4))
    assert remaining(paused, paused.resolve_due_at, h(10)) == timedelta(hours=20)
    assert remaining(t, t.respond_due_at, h(3)) == timedelta(hours=-2)


def test_accept_during_pause_is_judged_with_the_pause() -> None:
    t = run(new_ticket(), ask(0.1), accept(2))
    assert response_clock(t, h(2)) is Clock.MET
    assert new_breaches(t, h(2)) == []
    t = run(t, answer(3))
    assert response_clock(t, h(3)) is Clock.MET


# -- escalation ------------------------------------------------------------------------------


def test_new_breaches_lists_each_missed_deadline_once() -> None:
    t = new_ticket()
    assert new_breaches(t, h(0.5)) == []
    assert new_breaches(t, h(2)) == [Breach.RESPONSE]
    t = run(t, flag(2, Breach.RESPONSE))
    assert new_breaches(t, h(2)) == []
    assert new_breaches(t, h(10)) == []
    t = run(t, accept(11))  # late acceptance: still flagged once
    assert new_breaches(t, h(12)) == []
    assert new_breaches(t, h(25)) == [Breach.RESOLUTION]
    t = run(t, flag(25, Breach.RESOLUTION))
    assert new_breaches(t, h(26)) == []
    assert t.breaches == {Breach.RESPONSE, Breach.RESOLUTION}


def test_new_breaches_both_at_once() -> None:
    assert new_breaches(new_ticket(), h(30)) == [Breach.RESPONSE, Breach.RESOLUTION]


def test_no_new_breaches_while_paused_or_once_resolved_or_closed() -> None:
    paused = run(new_ticket(), ask(0.5))
    assert new_breaches(paused, h(100)) == []
    resolved = run(new_ticket(), accept(0.5), *to_in_progress(1), resolve(30))
    assert new_breaches(resolved, h(31)) == []
    rejected = run(new_ticket(), (Action.REJECT, STAFF, 5, {"reason": "invalid"}))
    assert new_breaches(rejected, h(100)) == []


def test_flag_breach_not_after_resolution() -> None:
    resolved = run(new_ticket(), accept(0.5), *to_in_progress(1), resolve(30))
    with pytest.raises(IllegalTransition):
        apply(resolved, Command(Action.FLAG_BREACH, SYSTEM, h(31), breach=Breach.RESOLUTION))


# -- policy ----------------------------------------------------------------------------------


def test_default_targets_follow_the_spec() -> None:
    hour = timedelta(hours=1)
    expected = {
        "repair_emergency": (hour, 24 * hour),
        "fire_exit": (timedelta(minutes=30), 4 * hour),
        "cleaning": (4 * hour, 24 * hour),
        "litter": (4 * hour, 24 * hour),
        "repair_routine": (24 * hour, timedelta(days=7)),
    }
    assert {cat: (t.respond, t.resolve) for (cat, _), t in DEFAULT_TARGETS.items()} == expected
    assert len(DEFAULT_TARGETS) == len(expected)
    assert DEFAULT_TARGETS[("repair_emergency", Priority.EMERGENCY)] == SlaTarget(
        hour, 24 * hour
    )
    assert DEFAULT_TARGETS[("fire_exit", Priority.HIGH)].respond == timedelta(minutes=30)


def test_policy_target_lookup() -> None:
    policy = SlaPolicy(DEFAULT_TARGETS)
    assert policy.target("litter", Priority.NORMAL) == SlaTarget(
        timedelta(hours=4), timedelta(hours=24)
    )
    with pytest.raises(SlaPolicyError, match="gardening"):
        policy.target("gardening", Priority.NORMAL)
    with pytest.raises(LookupError):
        policy.target("litter", Priority.EMERGENCY)


def test_sla_is_calendar_time() -> None:
    """Safety does not stop at night: an evening report is due the same night."""
    evening = datetime(2025, 3, 7, 22, 30, tzinfo=UTC)  # Friday night
    ticket, _ = open_ticket(
        site="s", category="fire_exit", priority=Priority.HIGH, source=Source.STAFF,
        channel=Channel.PHONE, description="Exit chained", building="B1", area="exit",
        opened_at=evening, sla=DEFAULT_TARGETS[("fire_exit", Priority.HIGH)], actor=STAFF,
    )
    assert ticket.respond_due_at == datetime(2025, 3, 7, 23, 0, tzinfo=UTC)
    assert ticket.resolve_due_at == datetime(2025, 3, 8, 2, 30, tzinfo=UTC)
