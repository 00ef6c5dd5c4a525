"""Who is notified of each ticket change, pinned as data.

Each scenario runs through the ticket service (`TicketStore`, the path the board, ingest,
vision findings and the SLA jobs all take) and reads back the outbox rows it created: for
each history entry, the recipients, kind and channel. The expected rows in
`data/outbox_equivalence.json` were recorded on the code whose decision was still made by
the PL/pgSQL trigger of migration 0007 (run with SUNLIGHT_RECORD_OUTBOX=1 to record them);
the Python decision (`services/tickets/notify.py`) must queue exactly the same. The message
bodies are built from the history entry when sent (`services/store/notifications.py`), so
the entry's action and states, pinned here too, are what the payload is made of.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from services.store import NewTicket, TicketStore
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
)

DATA = Path(__file__).parent / "data" / "outbox_equivalence.json"
SITE = "eq-site"
DESK = Actor("KF-eq", Role.STAFF, "李娜")
FIXER = Actor("GC-eq", Role.STAFF, "陈建国", department="engineering")
REVIEWER = Actor("FH-eq", Role.REVIEWER, "王芳")
TIMER = Actor("sla-timer", Role.SYSTEM, "SLA timer")  # as services/jobs/sla_jobs.py
INGEST = Actor("ingest", Role.SYSTEM, "sensor rules")  # as services/ingest/processor.py
VISION = Actor("vision", Role.SYSTEM, "vision service")
ALICE, BOB, CAROL = "res-eq-a", "res-eq-b", "res-eq-c"
SLA = SlaTarget(timedelta(hours=1), timedelta(days=1))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Story:
    """One scenario's tickets and clock; tickets are named, so rows compare across runs."""

    def __init__(self, store: TicketStore) -> None:
        self.store, self.step = store, 0
        self.place = f"area-{uuid.uuid4().hex[:8]}"  # fresh place: no link to earlier runs
        self.ids: dict[str, int] = {}

    def at(self) -> datetime:
        self.step += 1
        return T0 + timedelta(minutes=self.step)

    def report(self, name: str, person: str | None, *, actor: Actor | None = None,
               category: str = "lighting", source: Source = Source.RESIDENT,
               finding_key: str | None = None, asset: str | None = None,
               area: str | None = None) -> None:
        opened = self.store.open(NewTicket(
            site=SITE, category=category, priority=Priority.NORMAL, source=source,
            channel=Channel.DEVICE if finding_key else Channel.APP, description="灯不亮",
            building="b3", area=area or self.place, opened_at=self.at(), sla=SLA,
            actor=actor or Actor(person or "?", Role.RESIDENT), reporter_id=person,
            asset=asset, finding_key=finding_key,
        ))
        assert opened.ticket.id is not None
        self.ids.setdefault(name, opened.ticket.id)

    def do(self, name: str, action: Action, actor: Actor, **fields: Any) -> None:
        self.store.change(self.ids[name], Command(action, actor, self.at(), **fields))

    def merge(self, duplicate: str, primary: str) -> None:
        self.store.merge_duplicate(self.ids[duplicate], self.ids[primary], DESK, self.at())


def resident(person: str) -> Actor:
    return Actor(person, Role.RESIDENT)


def full_loop(s: Story) -> None:
    """Report → accept → question and answer → verify → dispatch → start → resolve → rate,
    with a second resident's report linked as a duplicate."""
    s.report("t", ALICE)
    s.report("t", BOB)  # same place: linked, Bob follows the ticket
    s.do("t", Action.ACCEPT, DESK)
    s.do("t", Action.REQUEST_INFO, DESK, note="是哪一层？")
    s.do("t", Action.PROVIDE_INFO, resident(ALICE), note="三楼")
    s.do("t", Action.COMMENT, DESK, note="已联系")
    s.do("t", Action.VERIFY, DESK)
    s.do("t", Action.DISPATCH, DESK, department="engineering", assignee="GC-eq")
    s.do("t", Action.START, FIXER)
    s.do("t", Action.RESOLVE, FIXER, note="更换灯管", photos=("result/1.jpg",))
    s.do("t", Action.RATE, resident(ALICE), rating=5, note="谢谢")


def machine_finding(s: Story) -> None:
    """A sensor finding opened by ingest, evidence added, a resident's report at the same
    place linked to it, confirmed, escalated by the SLA jobs, closed by the system."""
    s.report("t", None, actor=INGEST, source=Source.SENSOR, asset="pump-1",
             finding_key=f"sensor/eq/{uuid.uuid4().hex}")
    s.do("t", Action.ADD_EVIDENCE, INGEST, note="condition recurred")
    s.report("t", CAROL)
    s.do("t", Action.CONFIRM, DESK)
    s.do("t", Action.FLAG_BREACH, TIMER, breach=Breach.RESPONSE, note="response missed")
    s.do("t", Action.ACCEPT, DESK)
    s.do("t", Action.VERIFY, DESK)
    s.do("t", Action.DISPATCH, DESK, department="engineering", assignee="GC-eq")
    s.do("t", Action.FLAG_BREACH, TIMER, breach=Breach.RESOLUTION, note="resolution missed")
    s.do("t", Action.START, FIXER)
    s.do("t", Action.RESOLVE, FIXER, note="修好", photos=("result/2.jpg",))
    s.do("t", Action.CLOSE, TIMER)


def camera_finding_rejected(s: Story) -> None:
    """A vision finding opened by ingest and rejected as a false alarm."""
    s.report("t", None, actor=VISION, source=Source.CAMERA, category="fire_exit",
             asset="cam-1/z1", finding_key=f"camera/{uuid.uuid4().hex}")
    s.do("t", Action.ADD_EVIDENCE, VISION, note="still there")
    s.do("t", Action.REJECT, DESK, reason="误报")


def reject(s: Story) -> None:
    s.report("t", ALICE)
    s.do("t", Action.REJECT, DESK, reason="不属于物业")


def reopen_and_send_back(s: Story) -> None:
    s.report("t", ALICE)
    s.do("t", Action.ACCEPT, DESK)
    s.do("t", Action.VERIFY, DESK)
    s.do("t", Action.DISPATCH, DESK, department="engineering", assignee="GC-eq")
    s.do("t", Action.START, FIXER)
    s.do("t", Action.RESOLVE, FIXER, note="修好", photos=("result/3.jpg",))
    s.do("t", Action.REOPEN, resident(ALICE), reason="还是不亮")
    s.do("t", Action.REASSIGN, FIXER, department="engineering", assignee="GC-eq",
         reason="换人")
    s.do("t", Action.START, FIXER)
    s.do("t", Action.RESOLVE, FIXER, note="再修", photos=("result/4.jpg",))
    s.do("t", Action.SEND_BACK, REVIEWER, reason="照片不清")
    s.do("t", Action.MARK_UNRESOLVABLE, FIXER, reason="需业委会决定")


def staff_opened_for_a_resident(s: Story) -> None:
    """Staff take a phone call: the resident is the reporter, staff the actor."""
    s.report("t", CAROL, actor=DESK)
    s.do("t", Action.REQUEST_INFO, DESK, note="几号楼？")
    s.do("t", Action.PROVIDE_INFO, resident(CAROL), note="3号楼")
    s.do("t", Action.ACCEPT, DESK)


def merged_duplicates(s: Story) -> None:
    """Staff link two tickets at different spots: the duplicate's reporter is told of its
    rejection and then follows the primary."""
    s.report("primary", ALICE, area=f"{s.place}-1")
    s.report("dup", BOB, area=f"{s.place}-2")
    s.report("dup", CAROL, area=f"{s.place}-2")
    s.merge("dup", "primary")
    s.do("primary", Action.ACCEPT, DESK)
    s.do("primary", Action.REJECT, DESK, reason="重复")


SCENARIOS: dict[str, Callable[[Story], None]] = {
    f.__name__: f for f in (full_loop, machine_finding, camera_finding_rejected, reject,
                            reopen_and_send_back, staff_opened_for_a_resident,
                            merged_duplicates)
}


def outbox_rows(pool: ConnectionPool, story: Story) -> list[list[Any]]:
    names = {tid: name for name, tid in story.ids.items()}
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT h.ticket_id, h.seq, h.action, h.from_state, h.to_state, d.kind,"
            " d.recipient, d.channel, d.site"
            " FROM ticket_history h LEFT JOIN deliveries d USING (ticket_id, seq)"
            " WHERE h.ticket_id = ANY(%s) ORDER BY h.ticket_id, h.seq, d.recipient, d.channel",
            (list(names),),
        ).fetchall()
    return [[names[r[0]], *r[1:]] for r in rows]


@pytest.fixture(scope="module")
def store(pool: ConnectionPool) -> TicketStore:
    with pool.connection() as conn:
        for person in (ALICE, BOB, CAROL):
            conn.execute("INSERT INTO people (id, role, display_name) VALUES"
                         " (%s, 'resident', %s) ON CONFLICT DO NOTHING", (person, person))
    return TicketStore(pool)


def test_the_outbox_rows_of_each_scenario_are_those_recorded(
        store: TicketStore, pool: ConnectionPool) -> None:
    got: dict[str, list[list[Any]]] = {}
    for name, scenario in SCENARIOS.items():
        story = Story(store)
        scenario(story)
        got[name] = outbox_rows(pool, story)
    if os.environ.get("SUNLIGHT_RECORD_OUTBOX"):
        DATA.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    expected = json.loads(DATA.read_text(encoding="utf-8"))
    for name in SCENARIOS:
        assert got[name] == expected[name], name
    assert sum(1 for rows in got.values() for r in rows if r[5]) > 20  # rows were queued
