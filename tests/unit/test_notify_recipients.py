"""Who is told of each change, over the lifecycle's transitions (the decision the outbox
trigger of migration 0007 made; tests/integration/test_outbox_equivalence.py checks that
the ticket service queues the same rows the trigger did)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.tickets import (
    TRANSITIONS,
    Action,
    Actor,
    Breach,
    Channel,
    Command,
    HistoryEntry,
    Priority,
    Role,
    SlaTarget,
    Source,
    State,
    Ticket,
    apply,
    open_ticket,
)
from services.tickets.notify import Notice, NoticeChannel, NoticeKind, needs_followers, notices

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DESK = Actor("KF-1", Role.STAFF)
FIXER = Actor("GC-1", Role.STAFF, department="engineering")
ALICE, BOB = Actor("alice", Role.RESIDENT), Actor("bob", Role.RESIDENT)
TIMER = Actor("sla-timer", Role.SYSTEM)
SENSOR = Actor("ingest", Role.SYSTEM)


def status(*people: str) -> list[Notice]:
    return [Notice(NoticeKind.STATUS, p, c) for p in people for c in NoticeChannel]


def opened(reporter: Actor | None) -> tuple[Ticket, HistoryEntry]:
    return open_ticket(
        site="s", category="lighting", priority=Priority.NORMAL,
        source=Source.RESIDENT if reporter else Source.SENSOR,
        channel=Channel.APP if reporter else Channel.DEVICE,
        description="灯不亮", building="b1", area="hall", opened_at=T0,
        sla=SlaTarget(timedelta(hours=1), timedelta(days=1)), actor=reporter or SENSOR,
        reporter_id=reporter.id if reporter else None,
    )


def step(ticket: Ticket, action: Action, actor: Actor, **fields: Any) \
        -> tuple[Ticket, HistoryEntry]:
    return apply(replace(ticket, id=1), Command(action, actor, T0 + timedelta(minutes=1),
                                                **fields))


def test_the_reporter_and_the_followers_hear_of_each_change_of_state_but_not_their_own() \
        -> None:
    ticket, entry = opened(ALICE)
    assert notices(ticket, entry, ["bob"]) == []  # opening: nobody is waiting yet
    loop: list[tuple[Action, Actor, dict[str, Any], list[Notice]]] = [
        (Action.ACCEPT, DESK, {}, status("alice", "bob")),
        (Action.REQUEST_INFO, DESK, {"note": "哪一层？"}, status("alice")),  # only she answers
        (Action.PROVIDE_INFO, ALICE, {"note": "三楼"}, []),
        (Action.COMMENT, DESK, {"note": "已联系"}, []),
        (Action.VERIFY, DESK, {}, status("alice", "bob")),
        (Action.DISPATCH, DESK, {"department": "engineering", "assignee": "GC-1"},
         status("alice", "bob")),
        (Action.FLAG_BREACH, TIMER, {"breach": Breach.RESOLUTION},
         [Notice(NoticeKind.ESCALATION, "", c) for c in NoticeChannel]),
        (Action.START, FIXER, {}, status("alice", "bob")),
        (Action.RESOLVE, FIXER, {"note": "修好", "photos": ("r.jpg",)}, status("alice", "bob")),
        (Action.REOPEN, ALICE, {"reason": "还是不亮"}, status("bob")),  # not her own action
        (Action.START, FIXER, {}, status("alice", "bob")),
        (Action.RESOLVE, FIXER, {"note": "再修", "photos": ("s.jpg",)}, status("alice", "bob")),
        (Action.RATE, ALICE, {"rating": 5}, status("bob")),
    ]
    for action, actor, fields, expected in loop:
        ticket, entry = step(ticket, action, actor, **fields)
        # the reporter among the followers (her own report is linked too) is told once
        assert notices(ticket, entry, ["alice", "bob", None]) == expected, action


def test_a_machine_finding_tells_only_the_residents_whose_reports_joined_it() -> None:
    ticket, entry = opened(None)
    ticket, entry = step(ticket, Action.ADD_EVIDENCE, SENSOR, note="again")
    assert notices(ticket, entry, ["carol"]) == []
    ticket, entry = step(ticket, Action.CONFIRM, DESK)
    assert notices(ticket, entry, []) == []  # nobody reported it
    assert notices(ticket, entry, ["carol"]) == status("carol")
    question = HistoryEntry(T0, DESK, Action.REQUEST_INFO.value, State.REPORTED,
                            State.REPORTED, note="?")
    assert notices(ticket, question, ["carol"]) == []  # a question is for a reporter only


def test_a_reject_is_news_to_the_reporter() -> None:
    ticket, _ = opened(ALICE)
    ticket, entry = step(ticket, Action.REJECT, DESK, reason="不属于物业")
    assert notices(ticket, entry) == status("alice")


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_only_changes_of_state_breaches_and_questions_are_worth_a_message(
        action: Action) -> None:
    """Over every row of the table: an entry that keeps the state is silent unless it is
    a breach or a question; one that moves it tells the reporter; and the followers are
    looked up exactly when they are needed."""
    rule = TRANSITIONS[action]
    for source in sorted(rule.sources):
        target = rule.target or source
        ticket, _ = opened(ALICE)
        entry = HistoryEntry(T0, DESK, action.value, source, target)
        got = notices(ticket, entry, ["bob"])
        if action is Action.FLAG_BREACH:
            assert {n.kind for n in got} == {NoticeKind.ESCALATION}
        elif action is Action.REQUEST_INFO:
            assert got == status("alice")
        elif target != source:
            assert got == status("alice", "bob")
        else:
            assert got == []
        assert needs_followers(entry) == (
            target != source and action not in (Action.FLAG_BREACH, Action.REQUEST_INFO))
