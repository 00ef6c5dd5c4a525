"""SLA timers on the real PostgreSQL and Mosquitto: a missed deadline is flagged once and
escalated once (MQTT and webhook), with two schedulers on one job store; a paused ticket
is not flagged while paused; deadlines missed while no scheduler ran are caught at start."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from services.config import EstateConfig, SchedulerOptions, Settings, SlaSpec, load_config
from services.contract.notify import escalation_topic
from services.jobs.scheduler import SchedulerHandle, start_scheduler
from services.jobs.sla_jobs import Outcome, SlaRuntime, flag_if_due, job_id
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
    Ticket,
)
from tests.support.mqtt import wait_until
from tests.support.notify import Subscriber, WebhookReceiver, local_estate

EXAMPLE = Path(__file__).parents[2] / "deploy" / "estate.example.yaml"
DESK = Actor("KF-002", Role.STAFF, "李娜")
RESIDENT = "res-sla-1"
# timers, not the sweep, must fire in the tests that say so: the sweep runs only at start
TIMERS_ONLY = SchedulerOptions(sweep_seconds=600, deliver_seconds=0.2, retry_base_seconds=0.5)


def sla(respond: str, resolve: str) -> SlaTarget:
    """Short targets, written as the estate config writes them."""
    return SlaSpec.model_validate({"respond": respond, "resolve": resolve}).target


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def estate(receiver: WebhookReceiver) -> EstateConfig:
    return local_estate(load_config(EXAMPLE), webhook=receiver.url)


@pytest.fixture
def store(pool: ConnectionPool) -> TicketStore:
    with pool.connection() as conn:
        conn.execute("INSERT INTO people (id, role) VALUES (%s, 'resident')"
                     " ON CONFLICT DO NOTHING", (RESIDENT,))
    return TicketStore(pool)


@dataclass
class Rig:
    """One estate on its own site id, its webhook receiver, and its schedulers."""

    pool: ConnectionPool
    store: TicketStore
    estate: EstateConfig
    broker_url: str
    receiver: WebhookReceiver
    started: list[SchedulerHandle] = field(default_factory=list)

    def start(self, options: SchedulerOptions = TIMERS_ONLY) -> SchedulerHandle:
        handle = start_scheduler(Settings(), self.estate, self.pool, self.broker_url,
                                 options=options)
        self.started.append(handle)
        return handle

    def heads(self, department: str = "engineering") -> Subscriber:
        return Subscriber(self.broker_url, escalation_topic(self.estate.site.id, department))


@pytest.fixture
def rig(pool: ConnectionPool, store: TicketStore, estate: EstateConfig, broker_url: str,
        receiver: WebhookReceiver) -> Iterator[Rig]:
    made = Rig(pool, store, estate, broker_url, receiver)
    try:
        yield made
    finally:
        for handle in made.started:
            handle.stop()


def open_ticket(store: TicketStore, estate: EstateConfig, target: SlaTarget, *,
                opened_at: datetime | None = None, reporter: str | None = None) -> Ticket:
    """A lighting fault (engineering answers for it) at the front desk or from a resident."""
    resident = reporter is not None
    new = NewTicket(
        site=estate.site.id, category="lighting", priority=Priority.NORMAL,
        source=Source.RESIDENT if resident else Source.STAFF,
        channel=Channel.APP if resident else Channel.FRONT_DESK,
        description="楼道灯不亮", building="b3", area="stairwell",
        opened_at=opened_at or datetime.now(UTC), sla=target,
        actor=Actor(reporter, Role.RESIDENT) if reporter else DESK, reporter_id=reporter,
    )
    return store.open(new, link_duplicates=False).ticket


def flags(store: TicketStore, ticket_id: int) -> list[str]:
    return [e.data["breach"] for e in store.history(ticket_id) if e.action == "flag_breach"]


def test_a_missed_response_is_flagged_and_escalated_once_by_two_schedulers(rig: Rig) -> None:
    store, site = rig.store, rig.estate.site.id
    heads = rig.heads()
    try:
        ticket = open_ticket(store, rig.estate, sla("3s", "1m"))
        assert ticket.id is not None
        a, b = rig.start(), rig.start()
        # the start sweeps set one timer for the response deadline, shared by both
        timer = job_id(site, ticket.id, Breach.RESPONSE)

        def timer_set() -> bool:
            with rig.pool.connection() as conn:
                return conn.execute("SELECT 1 FROM sla_jobs WHERE id = %s",
                                    (timer,)).fetchone() is not None

        assert wait_until(timer_set, timeout=5)
        assert flags(store, ticket.id) == []

        assert wait_until(lambda: len(heads.received()) >= 1
                          and len(rig.receiver.accepted()) >= 1, timeout=10)
        time.sleep(1.0)  # room for a second flag or message, which must not come
        assert flags(store, ticket.id) == ["response"]
        flagged_at = next(e.at for e in store.history(ticket.id) if e.action == "flag_breach")
        assert flagged_at > ticket.respond_due_at
        assert (a.sla.stats + b.sla.stats)[Outcome.FLAGGED] == 1

        [message] = heads.received()
        [post] = rig.receiver.accepted()
        assert post.path == "/heads/engineering"
        assert post.body == message
        assert message["type"] == "sla_breach" and message["breach"] == "response"
        assert message["ticket_id"] == ticket.id and message["department"] == "engineering"
        assert message["head"] == "GC-001"
        assert datetime.fromisoformat(message["due_at"]) == ticket.respond_due_at
        assert post.headers["X-Sunlight-Event"] == "sla_breach"
        with rig.pool.connection() as conn:
            rows = conn.execute("SELECT channel, outcome, attempts FROM deliveries"
                                " WHERE ticket_id = %s ORDER BY channel", (ticket.id,)).fetchall()
        assert rows == [("mqtt", "sent", 1), ("webhook", "sent", 1)]
    finally:
        heads.close()


def test_many_workers_flagging_at_once_flag_once(rig: Rig) -> None:
    ticket = open_ticket(rig.store, rig.estate, sla("1m", "1h"),
                         opened_at=datetime.now(UTC) - timedelta(minutes=5))
    assert ticket.id is not None
    workers = [SlaRuntime(rig.pool, rig.estate.site.id, f"w{i}", timedelta(hours=1))
               for i in range(6)]
    ready = threading.Barrier(len(workers))
    outcomes: Counter[Outcome] = Counter()
    lock = threading.Lock()

    def race(rt: SlaRuntime) -> None:
        ready.wait()
        result = flag_if_due(rt, ticket.id or 0, Breach.RESPONSE)
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=race, args=(rt,)) for rt in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert outcomes == Counter({Outcome.FLAGGED: 1, Outcome.ALREADY: len(workers) - 1})
    assert flags(rig.store, ticket.id) == ["response"]
    with rig.pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM sla_breaches WHERE ticket_id = %s",
                           (ticket.id,)).fetchone()
        queued = conn.execute("SELECT count(*) FROM deliveries WHERE ticket_id = %s"
                              " AND kind = 'escalation'", (ticket.id,)).fetchone()
    assert row == (1,) and queued == (2,)  # one escalation: on MQTT and by webhook


def test_a_paused_ticket_is_not_flagged_until_its_moved_deadline(rig: Rig) -> None:
    store = rig.store
    ticket = open_ticket(store, rig.estate, sla("2s", "1m"), reporter=RESIDENT)
    assert ticket.id is not None
    store.change(ticket.id, Command(Action.REQUEST_INFO, DESK, datetime.now(UTC),
                                    note="哪一层的灯？"))
    rig.start(SchedulerOptions(sweep_seconds=0.3, deliver_seconds=0.2))
    time.sleep(max((ticket.respond_due_at - datetime.now(UTC)).total_seconds(), 0) + 1.5)
    assert flags(store, ticket.id) == []  # 1.5 s past the original deadline, paused

    resumed = store.change(ticket.id, Command(Action.PROVIDE_INFO,
                                              Actor(RESIDENT, Role.RESIDENT),
                                              datetime.now(UTC), note="三楼"))
    assert resumed.respond_due_at > ticket.respond_due_at + timedelta(seconds=1)
    assert wait_until(lambda: flags(store, ticket.id or 0) == ["response"], timeout=8)
    flagged_at = next(e.at for e in store.history(ticket.id) if e.action == "flag_breach")
    assert flagged_at > resumed.respond_due_at


def test_deadlines_missed_while_no_scheduler_ran_are_caught_at_start(rig: Rig) -> None:
    store, receiver = rig.store, rig.receiver
    heads = rig.heads()
    try:
        long_ago = datetime.now(UTC) - timedelta(minutes=10)
        both = open_ticket(store, rig.estate, sla("1m", "5m"), opened_at=long_ago)
        one = open_ticket(store, rig.estate, sla("1m", "1h"), opened_at=long_ago)
        assert both.id is not None and one.id is not None
        started = time.monotonic()
        rig.start()
        assert wait_until(lambda: len(heads.received()) >= 3 and len(receiver.accepted()) >= 3,
                          timeout=10)
        assert time.monotonic() - started < 8
        assert sorted(flags(store, both.id)) == ["resolution", "response"]
        assert flags(store, one.id) == ["response"]
        time.sleep(0.5)
        sent = sorted((m["ticket_id"], m["breach"]) for m in heads.received())
        assert sent == sorted([(both.id, "resolution"), (both.id, "response"),
                               (one.id, "response")])
        assert sorted((r.body["ticket_id"], r.body["breach"]) for r in receiver.accepted()) \
            == sent
    finally:
        heads.close()


def test_timers_follow_the_tickets(rig: Rig) -> None:
    """A met deadline loses its timer; a deadline beyond the horizon gets none yet."""
    store, site = rig.store, rig.estate.site.id
    ticket = open_ticket(store, rig.estate, sla("30s", "50s"))
    far = open_ticket(store, rig.estate, sla("1h", "7d"))
    assert ticket.id is not None and far.id is not None

    def timers() -> set[str]:
        with rig.pool.connection() as conn:
            return {r[0] for r in conn.execute(
                "SELECT id FROM sla_jobs WHERE starts_with(id, %s)", (f"sla:{site}:",))}

    rig.start(SchedulerOptions(sweep_seconds=0.3, deliver_seconds=0.5, horizon_seconds=120))
    respond, resolve = (job_id(site, ticket.id, b) for b in (Breach.RESPONSE,
                                                             Breach.RESOLUTION))
    assert wait_until(lambda: timers() == {respond, resolve}, timeout=5)
    store.change(ticket.id, Command(Action.ACCEPT, DESK, datetime.now(UTC)))
    assert wait_until(lambda: timers() == {resolve}, timeout=5)
    store.change(ticket.id, Command(Action.REJECT, DESK, datetime.now(UTC), reason="误报"))
    assert wait_until(lambda: timers() == set(), timeout=5)
    assert flags(store, ticket.id) == [] and flags(store, far.id) == []


def test_a_scheduler_stops_cleanly_and_only_once(rig: Rig) -> None:
    before = {t.ident for t in threading.enumerate()}
    handle = rig.start(SchedulerOptions(sweep_seconds=0.1, deliver_seconds=0.1))
    time.sleep(0.5)
    began = time.monotonic()
    handle.stop()
    handle.stop()
    assert time.monotonic() - began < 3
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert left == []
