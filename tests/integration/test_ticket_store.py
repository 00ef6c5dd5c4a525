"""The ticket service against the real PostgreSQL: lifecycle, conflicts, duplicates."""

from __future__ import annotations

import contextlib
import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import ConnectionPool

from services.store import ConflictError, NewTicket, NotFoundError, TicketStore
from services.tickets import (
    Action,
    Actor,
    Channel,
    Command,
    IllegalTransition,
    MissingField,
    Priority,
    Role,
    SlaTarget,
    Source,
    State,
)
from services.tickets.oracle import time_to_fix

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
SLA = SlaTarget(timedelta(hours=4), timedelta(hours=24))
CAMERA = Actor("vision", Role.SYSTEM, "vision service")
STAFF_A = Actor("KF-001", Role.STAFF, "王敏")
STAFF_B = Actor("KF-002", Role.STAFF, "李强")
WORKER = Actor("BJ-003", Role.STAFF, "张桂兰", department="cleaning")


def finding(key: str, area: str = "corridor-3") -> NewTicket:
    return NewTicket(
        site="test-estate", category="litter", priority=Priority.NORMAL, source=Source.CAMERA,
        channel=Channel.DEVICE, description="地面有杂物", building="b3", area=area,
        opened_at=T0, sla=SLA, actor=CAMERA, finding_key=key,
    )


def resident_report(reporter: str, area: str, at: datetime = T0) -> NewTicket:
    return NewTicket(
        site="test-estate", category="lighting", priority=Priority.NORMAL,
        source=Source.RESIDENT, channel=Channel.APP, description="楼道灯不亮", building="b1",
        area=area, opened_at=at, sla=SLA, actor=Actor(reporter, Role.RESIDENT),
        reporter_id=reporter,
    )


@pytest.fixture
def store(pool: ConnectionPool) -> TicketStore:
    with pool.connection() as conn:
        for person in ("res-1", "res-2", "res-3", "res-4", "res-5"):
            conn.execute(
                "INSERT INTO people (id, role) VALUES (%s, 'resident') ON CONFLICT DO NOTHING",
                (person,),
            )
    return TicketStore(pool)


def test_whole_lifecycle_is_stored_and_read_back(store: TicketStore) -> None:
    opened = store.open(finding("cam-1/zone-floor/1"))
    assert opened.created
    tid = opened.ticket.id
    assert tid is not None
    steps = [
        Command(Action.CONFIRM, STAFF_A, T0 + timedelta(minutes=5)),
        Command(Action.ACCEPT, STAFF_A, T0 + timedelta(minutes=6)),
        Command(Action.VERIFY, STAFF_A, T0 + timedelta(minutes=10), note="现场核实"),
        Command(Action.DISPATCH, STAFF_A, T0 + timedelta(minutes=11), department="cleaning",
                assignee="BJ-003"),
        Command(Action.START, WORKER, T0 + timedelta(minutes=20)),
        Command(Action.RESOLVE, WORKER, T0 + timedelta(minutes=50), note="已清理",
                photos=("evidence/after-1.jpg",)),
        Command(Action.CLOSE, CAMERA, T0 + timedelta(days=3), note="review window passed"),
    ]
    for step in steps:
        store.change(tid, step)
    ticket = store.get(tid)
    assert ticket.state is State.CLOSED
    assert ticket.version == len(steps)
    assert (ticket.department, ticket.assignee) == ("cleaning", "BJ-003")
    assert ticket.result_photos == ("evidence/after-1.jpg",)
    assert time_to_fix(ticket) == timedelta(minutes=50)
    assert ticket.responded_at == T0 + timedelta(minutes=6)
    history = store.history(tid)
    assert [h.action for h in history] == ["open"] + [s.action.value for s in steps]
    assert [h.to_state for h in history][-1] is State.CLOSED
    assert history[4].data == {"department": "cleaning", "assignee": "BJ-003"}
    assert history[5].actor == WORKER
    assert all(a.at <= b.at for a, b in itertools.pairwise(history))


def test_refused_command_writes_nothing(store: TicketStore) -> None:
    tid = store.open(finding("cam-1/zone-floor/2")).ticket.id
    assert tid is not None
    with pytest.raises(MissingField):
        store.change(tid, Command(Action.REJECT, STAFF_A, T0))
    with pytest.raises(IllegalTransition):
        store.change(tid, Command(Action.RESOLVE, STAFF_A, T0, note="x", photos=("p.jpg",)))
    assert store.get(tid).version == 0
    assert len(store.history(tid)) == 1
    with pytest.raises(NotFoundError):
        store.change(10**9, Command(Action.ACCEPT, STAFF_A, T0))


def test_two_staff_at_once_one_wins_the_other_gets_a_conflict(store: TicketStore) -> None:
    tid = store.open(resident_report("res-1", "hall-conflict")).ticket.id
    assert tid is not None
    seen = store.get(tid).version
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def act(actor: Actor, command: Command) -> None:
        barrier.wait()
        try:
            outcomes[actor.id] = store.change(tid, command, expected_version=seen)
        except ConflictError as exc:
            outcomes[actor.id] = exc

    accept = Command(Action.ACCEPT, STAFF_A, T0 + timedelta(minutes=1))
    reject = Command(Action.REJECT, STAFF_B, T0 + timedelta(minutes=1), reason="重复报修")
    threads = [threading.Thread(target=act, args=(STAFF_A, accept)),
               threading.Thread(target=act, args=(STAFF_B, reject))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conflicts = [o for o in outcomes.values() if isinstance(o, ConflictError)]
    assert len(conflicts) == 1
    assert "changed by someone else" in str(conflicts[0])
    final = store.get(tid)
    assert final.version == seen + 1
    assert final.state in (State.ACCEPTED, State.REJECTED)
    history = store.history(tid)
    assert history[0].action == "open"
    assert len(history) == 2  # the winner's entry, nothing of the loser's


def test_duplicate_reports_are_linked_not_lost(store: TicketStore) -> None:
    first = store.open(resident_report("res-1", "lobby-dup"))
    second = store.open(resident_report("res-2", "lobby-dup", T0 + timedelta(hours=1)))
    elsewhere = store.open(resident_report("res-3", "garage-dup"))
    assert first.created and not second.created and elsewhere.created
    assert second.ticket.id == first.ticket.id
    assert second.ticket.reporters == 2
    assert first.ticket.id is not None
    stored = store.get(first.ticket.id)
    assert stored.extra_reporters == 1
    assert stored.reporter_id == "res-1"  # the first reporter stays the reporter
    assert [h.action for h in store.history(first.ticket.id)] == ["open", "add_reporter"]


def test_a_duplicate_stamped_before_the_tickets_last_change_is_still_linked(
        store: TicketStore) -> None:
    """Found by bench/board: staff accepted the ticket between a resident's report being
    stamped and it being linked; the link used to be refused as back-dated."""
    first = store.open(resident_report("res-4", "lobby-late"))
    assert first.ticket.id is not None
    store.change(first.ticket.id, Command(Action.ACCEPT, STAFF_A, T0 + timedelta(minutes=10)))
    late = store.open(resident_report("res-5", "lobby-late", T0 + timedelta(minutes=5)))
    assert not late.created and late.ticket.id == first.ticket.id
    entry = store.history(first.ticket.id)[-1]
    assert entry.action == "add_reporter" and entry.at == T0 + timedelta(minutes=10)


def test_one_ongoing_finding_opens_one_ticket(store: TicketStore) -> None:
    a = store.open(finding("cam-2/fire-exit/77", area="exit-1"))
    b = store.open(finding("cam-2/fire-exit/77", area="exit-1"))
    assert a.created and not b.created
    assert a.ticket.id == b.ticket.id
    assert store.by_finding("cam-2/fire-exit/77") == store.get(a.ticket.id or 0)


def test_staff_merge_duplicates(store: TicketStore) -> None:
    a = store.open(resident_report("res-1", "merge-a")).ticket
    b = store.open(resident_report("res-2", "merge-b")).ticket
    assert a.id is not None and b.id is not None
    primary = store.merge_duplicate(b.id, a.id, STAFF_A, T0 + timedelta(minutes=3))
    assert primary.reporters == 2
    dup = store.get(b.id)
    assert dup.state is State.REJECTED and dup.reason == f"duplicate of #{a.id}"


def test_pooled_connections_come_back_as_they_went(store: TicketStore, pool: ConnectionPool) \
        -> None:
    """The ticket service reads dict rows; the pool's other users still get tuples."""
    for i in range(4):
        store.open(resident_report("res-1", f"pool-check-{i}"))
    size = pool.get_stats()["pool_size"]
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(pool.connection()) for _ in range(size)]
        assert all(c.execute("SELECT 1").fetchone() == (1,) for c in conns)
