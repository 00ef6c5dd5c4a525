"""Which deadlines need a timer and which are missed: the pure part of the SLA timers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.tickets import (
    Action,
    Actor,
    Breach,
    Channel,
    Command,
    Priority,
    Role,
    SlaTarget,
    Source,
    Ticket,
    apply,
    open_ticket,
)
from services.tickets.deadlines import Deadline, overdue, upcoming

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SLA = SlaTarget(respond=timedelta(hours=1), resolve=timedelta(hours=24))
STAFF = Actor("KF-002", Role.STAFF)
TIMER = Actor("sla-timer", Role.SYSTEM)
REPORTER = Actor("res-1", Role.RESIDENT)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ticket() -> Ticket:
    t, _ = open_ticket(site="s", category="lighting", priority=Priority.NORMAL,
                       source=Source.RESIDENT, channel=Channel.APP, description="灯不亮",
                       building="b1", area="lobby", opened_at=T0, sla=SLA, actor=REPORTER,
                       reporter_id=REPORTER.id)
    return replace(t, id=7)


def do(t: Ticket, action: Action, actor: Actor, hours: float, **fields: object) -> Ticket:
    changed, _ = apply(t, Command(action, actor, h(hours), **fields))  # type: ignore[arg-type]
    return changed


def test_an_open_ticket_has_a_timer_per_running_deadline() -> None:
    assert upcoming(ticket(), h(0)) == [Deadline(7, Breach.RESPONSE, h(1)),
                                        Deadline(7, Breach.RESOLUTION, h(24))]
    assert overdue(ticket(), h(0.5)) == []


def test_a_met_or_flagged_deadline_needs_no_timer() -> None:
    accepted = do(ticket(), Action.ACCEPT, STAFF, 0.5)
    assert upcoming(accepted, h(0.6)) == [Deadline(7, Breach.RESOLUTION, h(24))]
    late = ticket()
    assert overdue(late, h(2)) == [Deadline(7, Breach.RESPONSE, h(1))]
    flagged = do(late, Action.FLAG_BREACH, TIMER, 2, breach=Breach.RESPONSE)
    assert overdue(flagged, h(3)) == []
    assert upcoming(flagged, h(3)) == [Deadline(7, Breach.RESOLUTION, h(24))]


def test_a_paused_ticket_has_no_timer_and_its_deadline_moves_with_the_pause() -> None:
    paused = do(ticket(), Action.REQUEST_INFO, STAFF, 0.5, note="哪一层？")
    assert upcoming(paused, h(0.6)) == []
    assert overdue(paused, h(5)) == []  # paused: nothing is missed meanwhile
    resumed = do(paused, Action.PROVIDE_INFO, REPORTER, 2.5, note="三楼")
    assert upcoming(resumed, h(2.5)) == [Deadline(7, Breach.RESPONSE, h(3)),
                                         Deadline(7, Breach.RESOLUTION, h(26))]


def test_missed_before_the_pause_is_still_missed() -> None:
    paused = do(ticket(), Action.REQUEST_INFO, STAFF, 1.5, note="照片？")
    assert overdue(paused, h(2)) == [Deadline(7, Breach.RESPONSE, h(1))]


def test_a_ticket_past_its_deadline_is_overdue_not_upcoming() -> None:
    assert upcoming(ticket(), h(2)) == [Deadline(7, Breach.RESOLUTION, h(24))]
    assert [d.breach for d in overdue(ticket(), h(25))] == [Breach.RESPONSE, Breach.RESOLUTION]


def test_closed_tickets_have_no_deadlines() -> None:
    rejected = do(ticket(), Action.REJECT, STAFF, 0.2, reason="重复")
    assert upcoming(rejected, h(0.3)) == [] and overdue(rejected, h(30)) == []
