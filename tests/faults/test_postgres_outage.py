"""Stop PostgreSQL for 30 s while `sunlight ingest` and `sunlight board` run and work
arrives (readings, camera findings, staff and resident reports), then start it again.

Every message the broker acknowledged is stored exactly once; every report answered 2xx
exists exactly once; during the outage the board answers 503 problems with Retry-After
within a few seconds (no 500, no hang) and /api/health says so; both services recover by
themselves; and a resident's report that failed is filed once when sent again with its
Idempotency-Key. The database is a private server, so stopping it disturbs no other test.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest

from services.board.main import POOL_WAIT_S
from services.config import load_config
from services.contract import Finding, Kind, Phase, Rule, encode, topic
from services.stack import start_broker
from services.stack.ports import ephemeral_port
from services.store import open_pool
from services.tickets import Role
from tests.support.mqtt import SITE, Publisher, telemetry, wait_until
from tests.support.processes import (
    ESTATE_FILE,
    Person,
    PrivateDatabase,
    Service,
    person,
    private_database,
    service_env,
    start_board,
    start_ingest,
)
from tests.support.uploads import jpeg

OUTAGE_S = 30
ANSWER_WITHIN_S = POOL_WAIT_S + 3  # the board waits for a connection, then answers 503
RECOVER_WITHIN_S = 12.0  # from the database's return to the board and ingest working
DEVICES = ["temp-pump-room", "temp-clubhouse", "aq-garage"]
CAMERA, ZONE = "cam-b3-stairwell", "exit"


@dataclass(frozen=True)
class Answer:
    kind: str  # "staff" (POST /api/tickets) or "resident" (POST /api/reports)
    description: str
    key: str  # the Idempotency-Key sent (residents)
    status: int  # 0: no answer at all (connection error or timeout)
    seconds: float
    body: dict[str, object]
    headers: dict[str, str]
    sent_at: float  # time.monotonic()


@dataclass
class Load:
    """The work that keeps arriving: readings and findings over MQTT, reports over HTTP,
    and a health check every half second."""

    run: str
    broker_url: str
    base: str
    staff: Person
    resident: Person
    readings: dict[str, mqtt.MQTTMessageInfo] = field(default_factory=dict)
    findings: dict[str, mqtt.MQTTMessageInfo] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    health: list[tuple[float, int]] = field(default_factory=list)  # (sent at, status)
    _stop_work: threading.Event = field(default_factory=threading.Event)
    _stop_health: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._threads = [threading.Thread(target=t) for t in (self._publish, self._report,
                                                               self._check_health)]
        for t in self._threads:
            t.start()

    def stop_work(self) -> None:
        self._stop_work.set()
        for t in self._threads[:2]:
            t.join(60)

    def stop(self) -> None:
        self._stop_work.set()
        self._stop_health.set()
        for t in self._threads:
            t.join(60)

    @staticmethod
    def accepted(sent: dict[str, mqtt.MQTTMessageInfo]) -> list[str]:
        """What the broker acknowledged (PUBACK): it must all be stored."""
        return [key for key, info in sent.items() if info.is_published()]

    def _publish(self) -> None:
        """Readings every 50 ms (three devices), a camera finding every second."""
        publisher = Publisher(self.broker_url)
        try:
            for n in itertools.count():
                if self._stop_work.wait(0.05):
                    break
                message_id = f"{self.run}-r{n:06d}"
                name, body = telemetry(DEVICES[n % len(DEVICES)],
                                       {"temperature_c": 20.0 + n % 5, "humidity_pct": 50.0},
                                       message_id=message_id)
                self.readings[message_id] = publisher.publish(name, body)
                if n % 20 == 0:
                    finding_id = f"{self.run}-f{n:06d}"
                    self.findings[finding_id] = publisher.publish(
                        *finding(finding_id, f"{self.run}-m{n:06d}", n))
            for info in [*self.readings.values(), *self.findings.values()]:
                info.wait_for_publish(timeout=30)
        finally:
            publisher.close()

    def _report(self) -> None:
        """Staff offline reports and resident reports with a photo, one after the other."""
        with httpx.Client(base_url=self.base, timeout=30) as client:
            for n in itertools.count():
                if self._stop_work.wait(0.1):
                    return
                kind, who = ("staff", self.staff) if n % 2 == 0 else ("resident", self.resident)
                self.answers.append(report(client, kind, who, f"{self.run} report {n}",
                                           f"{self.run}-key-{n}"))

    def _check_health(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self._stop_health.wait(0.5):
                sent_at = time.monotonic()
                try:
                    status = client.get("/api/health").status_code
                except httpx.HTTPError:
                    status = 0
                self.health.append((sent_at, status))


def finding(finding_id: str, message_id: str, seq: int) -> tuple[str, bytes]:
    """A blocked fire exit seen by the stairwell camera: one ticket per finding id."""
    now = datetime.now(UTC)
    payload = Finding(finding_id=finding_id, camera_id=CAMERA, rule=Rule.BLOCKED_FIRE_EXIT,
                      zone=ZONE, phase=Phase.START, started_at=now, label="box", score=0.9)
    return topic(SITE, CAMERA, Kind.FINDING), encode(message_id=message_id, device_id=CAMERA,
                                                     sent_at=now, seq=seq, payload=payload)


def report(client: httpx.Client, kind: str, who: Person, description: str, key: str) \
        -> Answer:
    sent_at = time.monotonic()
    try:
        if kind == "staff":
            response = client.post("/api/tickets", headers=who.headers, json={
                "channel": "phone", "category": "repair_routine", "building": "b2",
                "area": "lobby", "description": description})
        else:
            response = client.post(
                "/api/reports", headers=who.headers | {"Idempotency-Key": key},
                data={"category": "lighting", "building": "b3", "area": "stairwell",
                      "description": description},
                files=[("media", ("photo.jpg", jpeg(), "image/jpeg"))])
    except httpx.HTTPError:
        return Answer(kind, description, key, 0, time.monotonic() - sent_at, {}, {}, sent_at)
    body = response.json() if response.content else {}
    return Answer(kind, description, key, response.status_code, time.monotonic() - sent_at,
                  body, dict(response.headers), sent_at)


@dataclass(frozen=True)
class Outage:
    down_at: float  # monotonic: the database has stopped
    restart_at: float  # … is being started again
    back_at: float  # … answers again
    back_wall: datetime  # the same moment by the wall clock (the database's received_at)

    def certainly_down(self, sent_at: float) -> bool:
        """Sent while the database was away, with no chance to wait for its return."""
        return self.down_at <= sent_at < self.restart_at - POOL_WAIT_S - 1


def stored_readings(url: str, run: str) -> dict[str, int]:
    """Rows per message id of this run (each message has two metrics)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT message_id, count(*) FROM readings WHERE message_id LIKE %s"
                            " GROUP BY message_id", (f"{run}-%",)).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def first_stored_after(url: str, run: str, moment: datetime) -> datetime:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT min(received_at) FROM readings WHERE message_id LIKE %s"
                           " AND received_at > %s", (f"{run}-%", moment)).fetchone()
    assert row is not None and row[0] is not None, "nothing stored after the outage"
    first: datetime = row[0]
    return first


def finding_tickets(url: str, run: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT finding_key, count(*) FROM tickets WHERE finding_key LIKE %s"
                            " GROUP BY finding_key", (f"camera/{run}-%",)).fetchall()
    return {str(r[0]).removeprefix("camera/"): int(r[1]) for r in rows}


def filed_reports(url: str, run: str) -> dict[str, list[int]]:
    """Report description -> the tickets it was filed under (one entry per filing)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT description, ticket_id FROM ticket_reports"
                            " WHERE description LIKE %s ORDER BY id", (f"{run} %",)).fetchall()
    filed: dict[str, list[int]] = {}
    for description, ticket_id in rows:
        filed.setdefault(description, []).append(int(ticket_id))
    return filed


def wait_for_ingest(url: str, broker_url: str, run: str, ingest: Service) -> None:
    """Until ingest has subscribed nobody receives: send a probe until it is stored."""
    probe = Publisher(broker_url)
    message = telemetry(DEVICES[0], {"temperature_c": 1.0}, message_id=f"{run}-probe")
    try:
        assert wait_until(lambda: probe.publish_all([message]) > 0 and wait_until(
            lambda: f"{run}-probe" in stored_readings(url, run), timeout=1), timeout=60), \
            ingest.log_tail()
    finally:
        probe.close()


def check_board_answers(load: Load, outage: Outage, board: Service) -> None:
    """Clear 503 problems during the outage, within seconds; never a 500 or a hang."""
    during = [a for a in load.answers if outage.certainly_down(a.sent_at)]
    assert len(during) >= 3, "too few requests reached the board during the outage"
    assert all(a.status == 503 for a in during), during
    for a in load.answers:
        assert a.status in (201, 503), (a, board.log_tail())
        assert a.seconds < ANSWER_WITHIN_S, (a, board.log_tail())
        if a.status == 503:
            assert a.headers["content-type"] == "application/problem+json"
            assert a.body["type"] == "/problems/unavailable"
            assert int(a.headers["retry-after"]) > 0
    later = [a for a in load.answers if a.sent_at > outage.back_at + RECOVER_WITHIN_S]
    assert len(later) >= 2 and all(a.status == 201 for a in later), later


def check_health(load: Load, outage: Outage) -> float:
    """503 while the database is away, 200 again soon after; returns how soon."""
    down = [status for sent_at, status in load.health if outage.certainly_down(sent_at)]
    assert down and all(status == 503 for status in down), load.health
    first_ok = next((t for t, s in load.health if t >= outage.back_at and s == 200), None)
    assert first_ok is not None and first_ok - outage.back_at < RECOVER_WITHIN_S, load.health
    return first_ok - outage.back_at


def check_reports_filed_once(load: Load, url: str) -> None:
    """Every report answered 201 is filed once, under the ticket the answer named; a
    resident's failed report sent again with its key is filed once too."""
    failed = [a for a in load.answers if a.kind == "resident" and a.status != 201]
    with httpx.Client(base_url=load.base, timeout=30) as client:
        retried = [report(client, "resident", load.resident, a.description, a.key)
                   for a in failed]
    assert all(r.status == 201 for r in retried), retried
    filed = filed_reports(url, load.run)
    for a in [*load.answers, *retried]:
        if a.status == 201:
            assert filed.get(a.description) == [a.body["id"]], (a, filed.get(a.description))
    for a in load.answers:  # a staff report without an answer may have been filed, once
        if a.kind == "staff" and a.status != 201:
            assert len(filed.get(a.description, [])) <= 1, a


def check_messages_stored_once(load: Load, url: str) -> None:
    """Two readings per acknowledged message (the probe has one); one ticket per finding."""
    accepted = load.accepted(load.readings)
    assert len(accepted) == len(load.readings), "the broker refused readings"
    readings = stored_readings(url, load.run)
    assert set(readings) == {*accepted, f"{load.run}-probe"}
    assert all(n == 2 for m, n in readings.items() if m != f"{load.run}-probe")
    found = load.accepted(load.findings)
    assert len(found) == len(load.findings), "the broker refused findings"
    assert wait_until(lambda: set(finding_tickets(url, load.run)) == set(found), timeout=30)
    assert set(finding_tickets(url, load.run).values()) == {1}


@pytest.fixture
def database() -> Iterator[PrivateDatabase]:
    with private_database() as db:
        yield db


def test_postgres_outage_loses_nothing_and_both_services_recover(
    database: PrivateDatabase, tmp_path: Path
) -> None:
    run = f"pgout-{uuid.uuid4().hex[:8]}"
    estate = load_config(ESTATE_FILE)
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    with open_pool(database.url, max_size=1, name="outage-test") as pool:
        staff = person(pool, estate, Role.STAFF, staff_id="KF-002")
        resident = person(pool, estate, Role.RESIDENT)
    env = service_env(database.url, broker.url, tmp_path / "data")
    port = ephemeral_port()
    load = Load(run, broker.url, f"http://127.0.0.1:{port}", staff, resident)
    services: list[Service] = []
    try:
        services.append(start_ingest(env, f"{run}-ingest", tmp_path / "ingest.log"))
        services.append(start_board(env, port, tmp_path / "board.log"))
        ingest, board = services
        wait_for_ingest(database.url, broker.url, run, ingest)

        load.start()
        time.sleep(3)
        database.stop()
        down_at = time.monotonic()
        time.sleep(OUTAGE_S)
        restart_at = time.monotonic()
        database.start()
        outage = Outage(down_at, restart_at, time.monotonic(), datetime.now(UTC))
        time.sleep(RECOVER_WITHIN_S + 3)
        load.stop_work()

        # neither service was restarted: both are the processes started above
        assert ingest.alive(), ingest.log_tail()
        assert board.alive(), board.log_tail()
        assert wait_until(lambda: len(stored_readings(database.url, run)) == len(load.readings)
                          + 1, timeout=60), ingest.log_tail()
        ingest_back = (first_stored_after(database.url, run, outage.back_wall)
                       - outage.back_wall).total_seconds()
        assert ingest_back < RECOVER_WITHIN_S, ingest.log_tail()
        check_board_answers(load, outage, board)
        health_back = check_health(load, outage)
        check_reports_filed_once(load, database.url)
        load.stop()
        time.sleep(1)  # nothing more arrives afterwards: no late duplicate
        check_messages_stored_once(load, database.url)
        print(f"\noutage {OUTAGE_S} s: {len(load.readings)} readings messages,"
              f" {len(load.findings)} findings, {len(load.answers)} reports"
              f" ({sum(a.status == 503 for a in load.answers)} answered 503, the slowest in"
              f" {max(a.seconds for a in load.answers):.1f} s); health 200 again"
              f" {health_back:.1f} s and ingest storing {ingest_back:.1f} s after the"
              " database was back")
    finally:
        load.stop()
        for service in services:
            service.stop()
        broker.stop()
