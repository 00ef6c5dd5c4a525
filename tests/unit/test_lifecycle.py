"""Example tests of the ticket lifecycle (SPEC §3), one story per test."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.tickets import (
    TERMINAL_STATES,
    TRANSITIONS,
    Action,
    Actor,
    Breach,
    Channel,
    Command,
    HistoryEntry,
    IllegalTransition,
    LifecycleError,
    MissingField,
    NotAllowed,
    Priority,
    Role,
    SlaTarget,
    Source,
    State,
    Ticket,
    allowed_actions,
    apply,
    open_ticket,
    resolution_clock,
    response_clock,
)
from services.tickets.oracle import time_to_fix
from services.tickets.sla import Clock

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
SLA = SlaTarget(respond=timedelta(hours=1), resolve=timedelta(hours=24))

STAFF = Actor("S-017", Role.STAFF, "Wang", department="engineering")
MANAGER = Actor("M-001", Role.MANAGER, "Li")
REVIEWER = Actor("R-003", Role.REVIEWER, "Zhao")
AUDITOR = Actor("A-001", Role.AUDITOR, "committee")
SYSTEM = Actor("vision", Role.SYSTEM)
REPORTER = Actor("res-42", Role.RESIDENT)
NEIGHBOUR = Actor("res-43", Role.RESIDENT)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def resident_ticket() -> tuple[Ticket, HistoryEntry]:
    return open_ticket(
        site="sunny-gardens",
        category="repair_routine",
        priority=Priority.NORMAL,
        source=Source.RESIDENT,
        channel=Channel.APP,
        description="Stairwell lamp out",
        building="B3",
        area="stairwell 2F",
        opened_at=T0,
        sla=SLA,
        actor=REPORTER,
        reporter_id=REPORTER.id,
    )


def machine_ticket() -> tuple[Ticket, HistoryEntry]:
    return open_ticket(
        site="sunny-gardens",
        category="fire_exit",
        priority=Priority.HIGH,
        source=Source.CAMERA,
        channel=Channel.DEVICE,
        description="Object in fire exit zone",
        building="B1",
        area="east exit",
        opened_at=T0,
        sla=SLA,
        actor=SYSTEM,
        asset="cam-07",
    )


class Story:
    """A ticket plus the history entries it accumulated; `do` applies and checks the entry."""

    def __init__(self, opened: tuple[Ticket, HistoryEntry]) -> None:
        self.ticket, first = opened
        self.history = [first]

    def do(self, action: Action, actor: Actor, minutes: float, **fields: object) -> HistoryEntry:
        before = self.ticket
        command = Command(action, actor, at(minutes), **fields)  # type: ignore[arg-type]
        self.ticket, entry = apply(before, command)
        rule = TRANSITIONS[action]
        assert entry.actor == actor
        assert entry.at == at(minutes)
        assert entry.action == action.value
        assert entry.from_state is before.state
        assert entry.to_state is self.ticket.state
        assert self.ticket.state is (rule.target or before.state)
        assert self.ticket.version == before.version + 1
        assert self.ticket.updated_at == at(minutes)
        self.history.append(entry)
        return entry

    def refused(
        self, error: type[LifecycleError], action: Action, actor: Actor, minutes: float,
        **fields: object,
    ) -> None:
        command = Command(action, actor, at(minutes), **fields)  # type: ignore[arg-type]
        with pytest.raises(error):
            apply(self.ticket, command)

    def to_resolved(self, start: float = 1) -> None:
        """From reported (or pending confirmation) to resolved, one minute per step."""
        if self.ticket.state is State.PENDING_CONFIRMATION:
            self.do(Action.CONFIRM, STAFF, start)
        self.do(Action.ACCEPT, STAFF, start + 1)
        self.do(Action.VERIFY, STAFF, start + 2)
        self.do(Action.DISPATCH, STAFF, start + 3, department="engineering", assignee="S-020")
        self.do(Action.START, STAFF, start + 4)
        self.do(Action.RESOLVE, STAFF, start + 5, note="Replaced bulb", photos=("p1.jpg",))


# -- opening ---------------------------------------------------------------------------------


def test_machine_finding_waits_for_confirmation() -> None:
    ticket, entry = machine_ticket()
    assert ticket.state is State.PENDING_CONFIRMATION
    assert ticket.reporter_id is None
    assert ticket.version == 0
    assert ticket.respond_due_at == T0 + SLA.respond
    assert ticket.resolve_due_at == T0 + SLA.resolve
    assert entry == HistoryEntry(
        at=T0, actor=SYSTEM, action="open", from_state=None,
        to_state=State.PENDING_CONFIRMATION, note="Object in fire exit zone",
    )


def test_resident_report_starts_reported() -> None:
    ticket, entry = resident_ticket()
    assert ticket.state is State.REPORTED
    assert ticket.reporter_id == REPORTER.id
    assert ticket.reporters == 1
    assert entry.to_state is State.REPORTED
    assert entry.actor == REPORTER


def test_open_refuses_bad_input() -> None:
    base = dict(
        site="s", category="litter", priority=Priority.NORMAL, description="d",
        building=None, area="lawn", opened_at=T0, sla=SLA, actor=REPORTER,
    )
    with pytest.raises(MissingField):
        open_ticket(**base | {"source": Source.RESIDENT, "channel": Channel.APP})  # type: ignore[arg-type]
    with pytest.raises(MissingField):
        open_ticket(**base | {"source": Source.STAFF, "channel": Channel.PHONE, "area": ""})  # type: ignore[arg-type]
    with pytest.raises(LifecycleError):
        open_ticket(**base | {"source": Source.CAMERA, "channel": Channel.APP})  # type: ignore[arg-type]
    with pytest.raises(LifecycleError):
        open_ticket(
            **base | {"source": Source.RESIDENT, "channel": Channel.DEVICE, "reporter_id": "r"}  # type: ignore[arg-type]
        )
    with pytest.raises(LifecycleError, match="timezone"):
        open_ticket(
            **base | {"source": Source.STAFF, "channel": Channel.FRONT_DESK,  # type: ignore[arg-type]
                      "opened_at": datetime(2025, 3, 3, 8, 0)}
        )


def test_auditor_cannot_open_a_ticket() -> None:
    with pytest.raises(NotAllowed):
        open_ticket(
            site="s", category="litter", priority=Priority.NORMAL, source=Source.STAFF,
            channel=Channel.FRONT_DESK, description="d", building=None, area="lawn",
            opened_at=T0, sla=SLA, actor=AUDITOR,
        )


# -- whole stories ---------------------------------------------------------------------------


def test_machine_finding_full_loop_closed_by_system() -> None:
    s = Story(machine_ticket())
    e = s.do(Action.CONFIRM, STAFF, 5, note="Seen on camera: boxes in the exit")
    assert (e.from_state, e.to_state) == (State.PENDING_CONFIRMATION, State.REPORTED)
    assert e.note == "Seen on camera: boxes in the exit"
    s.do(Action.ACCEPT, STAFF, 10)
    assert s.ticket.responded_at == at(10)
    s.do(Action.VERIFY, STAFF, 15)
    e = s.do(Action.DISPATCH, MANAGER, 20, department="engineering", assignee="S-031")
    assert (s.ticket.department, s.ticket.assignee) == ("engineering", "S-031")
    assert e.data == {"department": "engineering", "assignee": "S-031"}
    s.do(Action.START, STAFF, 25)
    assert s.ticket.state is State.IN_PROGRESS
    e = s.do(Action.RESOLVE, STAFF, 60, note="Boxes removed", photos=("a.jpg", "b.jpg"))
    assert s.ticket.state is State.RESOLVED
    assert s.ticket.result_notes == "Boxes removed"
    assert s.ticket.result_photos == ("a.jpg", "b.jpg")
    assert s.ticket.resolved_at == at(60)
    assert e.note == "Boxes removed"
    assert e.data == {"photos": "a.jpg b.jpg"}
    assert time_to_fix(s.ticket) == timedelta(minutes=60)
    assert response_clock(s.ticket, at(60)) is Clock.MET
    assert resolution_clock(s.ticket, at(60)) is Clock.MET

    # nobody can rate a machine finding: there is no reporter
    s.refused(NotAllowed, Action.RATE, REPORTER, 70, rating=5)
    assert Action.RATE not in allowed_actions(s.ticket, REPORTER)
    e = s.do(Action.CLOSE, SYSTEM, 24 * 60 * 3, note="review window passed")
    assert s.ticket.state is State.CLOSED
    assert s.ticket.closed_at == at(24 * 60 * 3)
    assert s.ticket.rating is None
    assert e.actor.role is Role.SYSTEM
    assert [h.action for h in s.history] == [
        "open", "confirm", "accept", "verify", "dispatch", "start", "resolve", "close",
    ]
    assert s.ticket.version == len(s.history) - 1


def test_resident_report_reopened_once_then_rated() -> None:
    s = Story(resident_ticket())
    s.to_resolved()
    assert s.ticket.state is State.RESOLVED

    e = s.do(Action.REOPEN, REPORTER, 30, reason="Lamp flickers again")
    assert (e.from_state, e.to_state) == (State.RESOLVED, State.DISPATCHED)
    assert e.note == "Lamp flickers again"
    assert s.ticket.reopen_count == 1
    assert s.ticket.resolved_at is None
    assert time_to_fix(s.ticket) is None
    assert s.ticket.state.is_open

    s.do(Action.START, STAFF, 40)
    s.do(Action.RESOLVE, STAFF, 90, note="Replaced fitting", photos=("fit.jpg",))
    assert time_to_fix(s.ticket) == timedelta(minutes=90)

    # a second reopen is refused, whatever the reason
    s.refused(IllegalTransition, Action.REOPEN, REPORTER, 95, reason="still bad")
    assert Action.REOPEN not in allowed_actions(s.ticket, REPORTER)

    e = s.do(Action.RATE, REPORTER, 100, rating=4, note="OK now")
    assert s.ticket.state is State.CLOSED
    assert (s.ticket.rating, s.ticket.rating_comment) == (4, "OK now")
    assert s.ticket.closed_at == at(100)
    assert e.data == {"rating": "4"}
    assert e.note == "OK now"
    # rating only once
    s.refused(IllegalTransition, Action.RATE, REPORTER, 110, rating=5)


def test_rating_after_system_close_keeps_close_time() -> None:
    s = Story(resident_ticket())
    s.to_resolved()
    s.do(Action.CLOSE, SYSTEM, 60 * 24 * 3)
    s.do(Action.RATE, REPORTER, 60 * 24 * 4, rating=2)
    assert s.ticket.state is State.CLOSED
    assert s.ticket.rating == 2
    assert s.ticket.closed_at == at(60 * 24 * 3)


@pytest.mark.parametrize("rating", [0, 6, -1, None])
def test_rating_must_be_one_to_five(rating: int | None) -> None:
    s = Story(resident_ticket())
    s.to_resolved()
    s.refused(MissingField, Action.RATE, REPORTER, 30, rating=rating)


# -- reasons and required fields -------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_rejection_needs_a_reason(reason: str) -> None:
    s = Story(machine_ticket())
    s.refused(MissingField, Action.REJECT, STAFF, 5, reason=reason)
    s.refused(MissingField, Action.REJECT, STAFF, 5, reason=reason, note="a note is no reason")
    assert s.ticket.state is State.PENDING_CONFIRMATION


def test_rejection_records_reason() -> None:
    s = Story(machine_ticket())
    e = s.do(Action.REJECT, STAFF, 5, reason="False alarm: shadow")
    assert s.ticket.state is State.REJECTED
    assert s.ticket.reason == "False alarm: shadow"
    assert s.ticket.closed_at == at(5)
    assert s.ticket.responded_at == at(5)
    assert (e.from_state, e.to_state, e.note) == (
        State.PENDING_CONFIRMATION, State.REJECTED, "False alarm: shadow",
    )


@pytest.mark.parametrize("state_steps", [1, 2, 3])
def test_reject_possible_until_verified_not_after_dispatch(state_steps: int) -> None:
    s = Story(resident_ticket())
    steps = [
        (Action.ACCEPT, {}),
        (Action.VERIFY, {}),
        (Action.DISPATCH, {"department": "engineering", "assignee": "S-1"}),
    ]
    for i, (action, fields) in enumerate(steps[:state_steps]):
        s.do(action, STAFF, i + 1, **fields)
    if s.ticket.state is State.DISPATCHED:
        s.refused(IllegalTransition, Action.REJECT, STAFF, 10, reason="duplicate")
    else:
        s.do(Action.REJECT, STAFF, 10, reason="duplicate of #12")
        assert s.ticket.state is State.REJECTED


def test_unresolvable_needs_a_reason() -> None:
    s = Story(resident_ticket())
    s.do(Action.ACCEPT, STAFF, 1)
    s.refused(MissingField, Action.MARK_UNRESOLVABLE, STAFF, 2)
    s.refused(MissingField, Action.MARK_UNRESOLVABLE, STAFF, 2, reason=" ")
    e = s.do(Action.MARK_UNRESOLVABLE, MANAGER, 3, reason="Needs owners' vote on budget")
    assert s.ticket.state is State.UNRESOLVABLE
    assert s.ticket.reason == "Needs owners' vote on budget"
    assert e.note == "Needs owners' vote on budget"
    assert s.ticket.closed_at == at(3)


def test_unresolvable_not_from_reported_or_resolved() -> None:
    s = Story(resident_ticket())
    s.refused(IllegalTransition, Action.MARK_UNRESOLVABLE, STAFF, 1, reason="x")
    s.to_resolved()
    s.refused(IllegalTransition, Action.MARK_UNRESOLVABLE, STAFF, 20, reason="x")


@pytest.mark.parametrize(
    "fields",
    [
        {"note": "Fixed"},
        {"note": "Fixed", "photos": ()},
        {"photos": ("p.jpg",)},
        {"note": "  ", "photos": ("p.jpg",)},
    ],
)
def test_resolve_needs_notes_and_a_photo(fields: dict[str, object]) -> None:
    s = Story(resident_ticket())
    s.do(Action.ACCEPT, STAFF, 1)
    s.do(Action.VERIFY, STAFF, 2)
    s.do(Action.DISPATCH, STAFF, 3, department="engineering", assignee="S-1")
    s.do(Action.START, STAFF, 4)
    s.refused(MissingField, Action.RESOLVE, STAFF, 5, **fields)
    assert s.ticket.state is State.IN_PROGRESS


def test_resolve_at_most_nine_photos() -> None:
    s = Story(resident_ticket())
    s.do(Action.ACCEPT, STAFF, 1)
    s.do(Action.VERIFY, STAFF, 2)
    s.do(Action.DISPATCH, STAFF, 3, department="engineering", assignee="S-1")
    s.do(Action.START, STAFF, 4)
    photos = tuple(f"p{i}.jpg" for i in range(10))
    s.refused(LifecycleError, Action.RESOLVE, STAFF, 5, note="done", photos=photos)
    s.do(Action.RESOLVE, STAFF, 5, note="done", photos=photos[:9])


def test_resolve_refuses_blank_photo_reference() -> None:
    s = Story(resident_ticket())
    s.do(Action.ACCEPT, STAFF, 1)
    s.do(Action.VERIFY, STAFF, 2)
    s.do(Action.DISPATCH, STAFF, 3, department="engineering", assignee="S-1")
    s.do(Action.START, STAFF, 4)
    s.refused(MissingField, Action.RESOLVE, STAFF, 5, note="done", photos=("  ",))


@pytest.mark.parametrize(
    "fields",
    [{}, {"department": "engineering"}, {"assignee": "S-1"}, {"department": "", "assignee": ""}],
)
def test_dispatch_needs_department_and_person(fields: dict[str, str]) -> None:
    s = Story(resident_ticket())
    s.do(Action.ACCEPT, STAFF, 1)
    s.do(Action.VERIFY, STAFF, 2)
    s.refused(MissingField, Action.DISPATCH, STAFF, 3, **fields)


def test_dispatch_refuses_blank_department_and_person() -> None:
    s = Story(resident_ticket())
    s.do(Action.ACCEPT, STAFF, 1)
    s.do(Action.VERIFY, STAFF, 2)
    s.refused(MissingField, Action.DISPATCH, STAFF, 3, department=" ", assignee=" ")


def test_reassign_needs_reason_and_assignment() -> None:
    s = Story(resident_ticket())
    s.do(Action.ACCEPT, STAFF, 1)
    s.do(Action.VERIFY, STAFF, 2)
    s.do(Action.DISPATCH, STAFF, 3, department="engineering", assignee="S-1")
    s.do(Action.START, STAFF, 4)
    s.refused(MissingField, Action.REASSIGN, STAFF, 5, department="cleaning", assignee="S-9")
    s.refused(MissingField, Action.REASSIGN, STAFF, 5, reason="wrong team")
    e = s.do(Action.REASSIGN, MANAGER, 5, department="cleaning", assignee="S-9",
             reason="wrong team")
    assert s.ticket.state is State.DISPATCHED
    assert (s.ticket.department, s.ticket.assignee) == ("cleaning", "S-9")
    assert e.note == "wrong team"
    assert e.data == {"department": "cleaning", "assignee": "S-9"}


# -- who may do what -------------------------------------------------------------------------


CLEANER = Actor("BJ-002", Role.STAFF, "Zhou", department="cleaning")


def test_staff_of_another_department_may_not_take_a_dispatched_ticket() -> None:
    """The reassign hole: cleaning staff handed engineering's ticket to themselves, then
    started and resolved it. Handing it on is the owning department's, like the handling."""
    s = Story(resident_ticket())
    s.do(Action.ACCEPT, STAFF, 1)
    s.do(Action.VERIFY, STAFF, 2)
    s.do(Action.DISPATCH, CLEANER, 3, department="engineering", assignee="S-020")  # any desk
    s.refused(NotAllowed, Action.REASSIGN, CLEANER, 4, department="cleaning",
              assignee="BJ-002", reason="mine now")
    s.refused(NotAllowed, Action.START, CLEANER, 4)
    assert Action.REASSIGN not in allowed_actions(s.ticket, CLEANER)
    assert Action.REASSIGN in allowed_actions(s.ticket, STAFF)
    s.do(Action.REASSIGN, STAFF, 5, department="cleaning", assignee="BJ-002",
         reason="a cleaning job")
    s.do(Action.START, CLEANER, 6)
    s.refused(NotAllowed, Action.REASSIGN, STAFF, 7, department="engineering",
              assignee="S-020", reason="back")
    s.do(Action.REASSIGN, MANAGER, 8, department="engineering", assignee="S-020",
         reason="back to engineering")
    assert s.ticket.department == "engineering"


def test_only_the_reporter_may_rate_or_reopen() -> None:
    s = Story(resident_ticket())
    s.to_resolved()
    s.refused(NotAllowed, Action.RATE, NEIGHBOUR, 30, rating=1)
    s.refused(NotAllowed, Action.REOPEN, NEIGHBOUR, 30, reason="I don't like it")
    s.refused(NotAllowed, Action.RATE, STAFF, 30, rating=5)
    s.refused(NotAllowed, Action.REOPEN, STAFF, 30, reason="x")
    # a staff member whose id happens to equal the reporter id is still not the reporter
    s.refused(NotAllowed, Action.RATE, Actor(REPORTER.id, Role.STAFF), 30, rating=5)
    assert allowed_actions(s.ticket, NEIGHBOUR) == []
    assert set(allowed_actions(s.ticket, REPORTER)) == {Action.REOPEN, Action.RATE}


def test_reopen_needs_a_reason() -> None:
    s = Story(resident_ticket())
    s.to_resolved()
    s.refused(MissingField, Action.REOPEN, REPORTER, 30)
    s.refused(MissingField, Action.REOPEN, REPORTER, 30, reason="  ", note="bad")
    assert s.ticket.reopen_count == 0


@pytest.mark.parametrize("actor", [REPORTER, NEIGHBOUR, REVIEWER, AUDITOR, SYSTEM])
def test_only_staff_accept(actor: Actor) -> None:
    s = Story(resident_ticket())
    s.refused(NotAllowed, Action.ACCEPT, actor, 1)
    assert Action.ACCEPT not in allowed_actions(s.ticket, actor)
    assert s.ticket.state is State.REPORTED


def test_auditor_can_do_nothing_in_any_state() -> None:
    s = Story(machine_ticket())
    states = [s.ticket]
    for action, fields in [
        (Action.CONFIRM, {}),
        (Action.ACCEPT, {}),
        (Action.VERIFY, {}),
        (Action.DISPATCH, {"department": "engineering", "assignee": "S-1"}),
        (Action.START, {}),
        (Action.RESOLVE, {"note": "done", "photos": ("p.jpg",)}),
        (Action.CLOSE, {}),
    ]:
        s.do(action, STAFF, len(states), **fields)
        states.append(s.ticket)
    full = Command(
        Action.COMMENT, AUDITOR, at(100), note="n", reason="r", department="d", assignee="a",
        photos=("p",), rating=3, breach=Breach.RESPONSE,
    )
    for ticket in states:
        assert allowed_actions(ticket, AUDITOR) == []
        for action in Action:
            with pytest.raises(LifecycleError):
                apply(ticket, replace(full, action=action))


def test_reviewer_sends_back_a_resolution() -> None:
    s = Story(resident_ticket())
    s.to_resolved()
    s.refused(NotAllowed, Action.SEND_BACK, STAFF, 20, reason="photo shows nothing")
    s.refused(MissingField, Action.SEND_BACK, REVIEWER, 20)
    e = s.do(Action.SEND_BACK, REVIEWER, 20, reason="Photo does not show the lamp")
    assert (e.from_state, e.to_state) == (State.RESOLVED, State.IN_PROGRESS)
    assert e.note == "Photo does not show the lamp"
    assert s.ticket.resolved_at is None
    assert s.ticket.reopen_count == 0  # the reporter's one reopen is still available
    s.do(Action.RESOLVE, STAFF, 30, note="New photo", photos=("lamp.jpg",))
    s.do(Action.REOPEN, REPORTER, 40, reason="Went out again")
    assert s.ticket.reopen_count == 1


def test_send_back_only_from_resolved() -> None:
    s = Story(resident_ticket())
    s.refused(IllegalTransition, Action.SEND_BACK, REVIEWER, 1, reason="x")


def test_comment_and_evidence_allowed_in_terminal_states() -> None:
    s = Story(machine_ticket())
    s.do(Action.REJECT, STAFF, 1, reason="false alarm")
    s.do(Action.COMMENT, REVIEWER, 2, note="agreed")
    s.do(Action.ADD_EVIDENCE, SYSTEM, 3, note="zone clear")
    assert s.ticket.state is State.REJECTED
    s.refused(MissingField, Action.COMMENT, STAFF, 4)
    s.refused(NotAllowed, Action.COMMENT, REPORTER, 4, note="why?")


def test_duplicate_reports_add_reporters_while_open() -> None:
    s = Story(resident_ticket())
    s.do(Action.ADD_REPORTER, NEIGHBOUR, 1)
    s.do(Action.ADD_REPORTER, SYSTEM, 2)
    assert s.ticket.reporters == 3
    s.to_resolved(3)
    s.refused(IllegalTransition, Action.ADD_REPORTER, NEIGHBOUR, 30)


def test_flag_breach_only_by_system_with_breach() -> None:
    s = Story(resident_ticket())
    s.refused(NotAllowed, Action.FLAG_BREACH, STAFF, 90, breach=Breach.RESPONSE)
    s.refused(MissingField, Action.FLAG_BREACH, SYSTEM, 90)
    e = s.do(Action.FLAG_BREACH, SYSTEM, 90, breach=Breach.RESPONSE)
    assert s.ticket.breaches == {Breach.RESPONSE}
    assert e.data == {"breach": "response"}


# -- waiting for the reporter ----------------------------------------------------------------


def test_request_and_provide_info_pause_and_move_deadlines() -> None:
    s = Story(resident_ticket())
    s.refused(IllegalTransition, Action.PROVIDE_INFO, REPORTER, 5, note="unasked")
    s.refused(MissingField, Action.REQUEST_INFO, STAFF, 10)
    e = s.do(Action.REQUEST_INFO, STAFF, 10, note="Which floor exactly?")
    assert (e.from_state, e.to_state) == (State.REPORTED, State.REPORTED)
    assert s.ticket.awaiting_reporter_since == at(10)
    assert response_clock(s.ticket, at(200)) is Clock.PAUSED
    s.refused(IllegalTransition, Action.REQUEST_INFO, STAFF, 20, note="again?")
    s.refused(NotAllowed, Action.PROVIDE_INFO, NEIGHBOUR, 30, note="2F")
    s.refused(MissingField, Action.PROVIDE_INFO, REPORTER, 30)

    e = s.do(Action.PROVIDE_INFO, REPORTER, 130, note="Second floor, east")
    assert e.note == "Second floor, east"
    assert s.ticket.awaiting_reporter_since is None
    assert s.ticket.paused_total == timedelta(minutes=120)
    assert s.ticket.respond_due_at == T0 + SLA.respond + timedelta(minutes=120)
    assert s.ticket.resolve_due_at == T0 + SLA.resolve + timedelta(minutes=120)
    assert response_clock(s.ticket, at(150)) is Clock.RUNNING
    s.do(Action.ACCEPT, STAFF, 175)
    assert response_clock(s.ticket, at(175)) is Clock.MET


def test_request_info_needs_a_reporter() -> None:
    s = Story(machine_ticket())
    s.do(Action.CONFIRM, STAFF, 1)
    s.refused(IllegalTransition, Action.REQUEST_INFO, STAFF, 2, note="who?")


def test_reopened_ticket_is_not_left_waiting_for_the_reporter() -> None:
    s = Story(resident_ticket())
    s.do(Action.ACCEPT, STAFF, 1)
    s.do(Action.VERIFY, STAFF, 2)
    s.do(Action.DISPATCH, STAFF, 3, department="engineering", assignee="S-1")
    s.do(Action.START, STAFF, 4)
    s.do(Action.REQUEST_INFO, STAFF, 60, note="Is it the lamp by the lift?")
    s.do(Action.RESOLVE, STAFF, 120, note="Replaced", photos=("p.jpg",))
    s.do(Action.REOPEN, REPORTER, 60 * 50, reason="Out again")
    assert s.ticket.awaiting_reporter_since is None
    assert resolution_clock(s.ticket, at(60 * 60)) is not Clock.PAUSED


# -- times -----------------------------------------------------------------------------------


def test_naive_datetimes_refused() -> None:
    s = Story(resident_ticket())
    naive = datetime(2025, 3, 3, 9, 0)
    with pytest.raises(LifecycleError, match="timezone"):
        apply(s.ticket, Command(Action.ACCEPT, STAFF, naive))
    assert s.ticket.state is State.REPORTED


def test_other_time_zones_are_fine() -> None:
    shanghai = datetime(2025, 3, 3, 16, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # 08:30 UTC
    s = Story(resident_ticket())
    ticket, _ = apply(s.ticket, Command(Action.ACCEPT, STAFF, shanghai))
    assert ticket.responded_at == at(30)
    assert response_clock(ticket, at(30)) is Clock.MET


def test_command_dated_before_the_ticket_opened_is_refused() -> None:
    s = Story(resident_ticket())
    s.to_resolved()
    s.do(Action.REOPEN, REPORTER, 20, reason="again")
    s.do(Action.START, STAFF, 21)
    with pytest.raises(LifecycleError):
        apply(s.ticket, Command(Action.RESOLVE, STAFF, at(-60), note="n", photos=("p",)))


# -- the table itself and allowed_actions ----------------------------------------------------


def test_terminal_states_only_take_comments_evidence_and_late_ratings() -> None:
    for action, rule in TRANSITIONS.items():
        terminal_sources = rule.sources & TERMINAL_STATES
        if action in (Action.COMMENT, Action.ADD_EVIDENCE):
            assert terminal_sources == TERMINAL_STATES
            assert rule.target is None
        elif action is Action.RATE:
            assert terminal_sources == {State.CLOSED}
        else:
            assert not terminal_sources, action


def test_every_action_has_a_rule() -> None:
    assert set(TRANSITIONS) == set(Action)


def test_allowed_actions_by_role_and_state() -> None:
    s = Story(machine_ticket())
    assert set(allowed_actions(s.ticket, STAFF)) == {
        Action.CONFIRM, Action.REJECT, Action.COMMENT, Action.ADD_REPORTER, Action.ADD_EVIDENCE,
    }
    assert set(allowed_actions(s.ticket, SYSTEM)) == {
        Action.ADD_REPORTER, Action.ADD_EVIDENCE, Action.FLAG_BREACH,
    }
    assert set(allowed_actions(s.ticket, REVIEWER)) == {Action.COMMENT}
    # the machine ticket has no reporter: a resident may only add themselves as a reporter
    assert allowed_actions(s.ticket, REPORTER) == [Action.ADD_REPORTER]

    r = Story(resident_ticket())
    assert set(allowed_actions(r.ticket, STAFF)) == {
        Action.ACCEPT, Action.REJECT, Action.REQUEST_INFO, Action.COMMENT,
        Action.ADD_REPORTER, Action.ADD_EVIDENCE,
    }
    r.do(Action.REQUEST_INFO, STAFF, 1, note="?")
    assert Action.REQUEST_INFO not in allowed_actions(r.ticket, STAFF)
    assert set(allowed_actions(r.ticket, REPORTER)) == {Action.PROVIDE_INFO, Action.ADD_REPORTER}
    assert set(allowed_actions(r.ticket, NEIGHBOUR)) == {Action.ADD_REPORTER}

    r.do(Action.PROVIDE_INFO, REPORTER, 2, note="!")
    r.to_resolved(3)
    assert set(allowed_actions(r.ticket, STAFF)) == {
        Action.CLOSE, Action.COMMENT, Action.ADD_EVIDENCE,
    }
    assert set(allowed_actions(r.ticket, MANAGER)) == {
        Action.CLOSE, Action.SEND_BACK, Action.COMMENT, Action.ADD_EVIDENCE,
    }
    r.do(Action.RATE, REPORTER, 20, rating=5)
    assert allowed_actions(r.ticket, REPORTER) == []
    assert set(allowed_actions(r.ticket, STAFF)) == {Action.COMMENT, Action.ADD_EVIDENCE}


def test_allowed_actions_agrees_with_apply() -> None:
    """Every action allowed_actions offers succeeds with the right fields; others fail."""
    complete = {
        "note": "n", "reason": "r", "department": "d", "assignee": "a", "photos": ("p",),
        "rating": 3, "breach": Breach.RESOLUTION,
    }
    s = Story(resident_ticket())
    s.do(Action.REQUEST_INFO, STAFF, 1, note="?")
    tickets = [s.ticket]
    s.do(Action.PROVIDE_INFO, REPORTER, 2, note="!")
    s.to_resolved(3)
    tickets.append(s.ticket)
    for ticket in tickets:
        for actor in (STAFF, MANAGER, REVIEWER, AUDITOR, SYSTEM, REPORTER, NEIGHBOUR):
            offered = allowed_actions(ticket, actor)
            for action in Action:
                command = Command(action, actor, at(100), **complete)  # type: ignore[arg-type]
                if action in offered:
                    apply(ticket, command)
                else:
                    with pytest.raises(LifecycleError):
                        apply(ticket, command)


def test_history_note_prefers_reason_and_keeps_comment() -> None:
    s = Story(resident_ticket())
    s.to_resolved()
    e = s.do(Action.REOPEN, REPORTER, 30, reason="Dark again", note="since last night")
    assert e.note == "Dark again"
    assert e.data == {"comment": "since last night"}
