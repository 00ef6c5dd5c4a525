"""Stop PostgreSQL for 30 s while `sunlight ingest` and `sunlight board` run and work
arrives (readings, camera findings, staff and resident reports), then start it again.

Every message the broker acknowledged is stored exactly once; every report answered 2xx
exists exactly once; during the outage the board answers 503 problems with Retry-After
within a few seconds (no 500, no hang); /api/health says so; both services recover by
themselves, and a resident's report that failed is filed once when sent again with its
Idempotency-Key. The database is a private server, so stopping it disturbs no other test.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
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

from services.config import load_config
from services.contract import Finding, Kind, Phase, Rule, encode, topic
from services.stack import RunningDatabase, start_broker, start_database
from services.stack.ports import ephemeral_port
from services.store import open_pool, upgrade
from services.tickets import Role
from tests.support.mqtt import SITE, Publisher, telemetry, wait_until
from tests.support.processes import (
    ESTATE_FILE,
    Person,
    Service,
    person,
    service_env,
    start_board,
    start_ingest,
)
from tests.support.uploads import jpeg

OUTAGE_S = 30
ANSWER_WITHIN_S = 8.0  # the board waits 5 s for a connection, then answers 503
RECOVER_WITHIN_S = 20.0  # from the database's return to the board and ingest working
DEVICES = ["temp-pump-room", "temp-clubhouse", "aq-garage"]
CAMERA, ZONE = "cam-b3-stairwell", "exit"


@dataclass
class Sent:
    """What the MQTT load published; `accepted`: the broker acknowledged it (PUBACK)."""

    readings: dict[str, mqtt.MQTTMessageInfo] = field(default_factory=dict)
    findings: dict[str, mqtt.MQTTMessageInfo] = field(default_factory=dict)

    def accepted(self, kind: dict[str, mqtt.MQTTMessageInfo]) -> list[str]:
        return [key for key, info in kind.items() if info.is_published()]


@dataclass(frozen=True)
class Answer:
    kind: str  # "staff" (POST /api/tickets) or "resident" (POST /api/reports)
    description: str
    key: str  # the Idempotency-Key sent (residents)
    status: int  # 0: no answer at all (connection error or timeout)
    seconds: float
    body: dict[str, object]
    headers: dict[str, str]
    at: float  # time.monotonic() when it was sent


@dataclass
class Health:
    samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, status)

    def first_ok_after(self, moment: float) -> float | None:
        return next((t for t, s in self.samples if t >= moment and s == 200), None)


def publish_load(url: str, run: str, sent: Sent, stop: threading.Event) -> None:
    """Readings every 50 ms (three devices) and a camera finding every second."""
    publisher = Publisher(url)
    try:
        for n in itertools.count():
            if stop.wait(0.05):
                break
            device = DEVICES[n % len(DEVICES)]
            message_id = f"{run}-r{n:06d}"
            name, body = telemetry(device, {"temperature_c": 20.0 + n % 5, "humidity_pct": 50.0},
                                   message_id=message_id)
            sent.readings[message_id] = publisher.publish(name, body)
            if n % 20 == 0:
                finding_id = f"{run}-f{n:06d}"
                now = datetime.now(UTC)
                payload = Finding(finding_id=finding_id, camera_id=CAMERA,
                                  rule=Rule.BLOCKED_FIRE_EXIT, zone=ZONE, phase=Phase.START,
                                  started_at=now, label="box", score=0.9)
                body = encode(message_id=f"{run}-m{n:06d}", device_id=CAMERA, sent_at=now,
                              seq=n, payload=payload)
                sent.findings[finding_id] = publisher.publish(
                    topic(SITE, CAMERA, Kind.FINDING), body)
        for info in [*sent.readings.values(), *sent.findings.values()]:
            info.wait_for_publish(timeout=30)
    finally:
        publisher.close()


def report(client: httpx.Client, kind: str, who: Person, description: str, key: str) \
        -> Answer:
    began = time.monotonic()
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
        return Answer(kind, description, key, 0, time.monotonic() - began, {}, {}, began)
    body = response.json() if response.content else {}
    return Answer(kind, description, key, response.status_code, time.monotonic() - began,
                  body, dict(response.headers), began)


def http_load(base: str, staff: Person, resident: Person, run: str, answers: list[Answer],
              stop: threading.Event) -> None:
    """Staff offline reports and resident reports with a photo, one after the other."""
    with httpx.Client(base_url=base, timeout=30) as client:
        for n in itertools.count():
            if stop.wait(0.1):
                return
            kind, who = ("staff", staff) if n % 2 == 0 else ("resident", resident)
            answers.append(report(client, kind, who, f"{run} report {n}", f"{run}-key-{n}"))


def poll_health(base: str, health: Health, stop: threading.Event) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.wait(0.5):
            try:
                status = client.get("/api/health").status_code
            except httpx.HTTPError:
                status = 0
            health.samples.append((time.monotonic(), status))


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


class PrivateDatabase:
    """A PostgreSQL server of this test's own, to stop and start again on the same port.

    Its data lives outside pytest's temporary folders: the server runs as another user
    when the tests run as root, and each new pytest session makes its base folder private
    again (mode 700), which would lock the server's own pg_ctl out of the data halfway."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="sunlight-pg-outage-"))
        self._port = ephemeral_port()
        self.server: RunningDatabase = self.start()

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> RunningDatabase:
        self.server = start_database(self.home, port=self._port, stop_at_exit=False)
        return self.server

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def database() -> Iterator[PrivateDatabase]:
    db = PrivateDatabase()
    try:
        yield db
    finally:
        db.stop()
        shutil.rmtree(db.home, ignore_errors=True)


def test_postgres_outage_loses_nothing_and_both_services_recover(
    database: PrivateDatabase, tmp_path: Path
) -> None:
    run = f"pgout-{uuid.uuid4().hex[:8]}"
    upgrade(database.url)
    estate = load_config(ESTATE_FILE)
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    with open_pool(database.url, max_size=1, name="outage-test") as pool:
        staff = person(pool, estate, Role.STAFF, staff_id="KF-002")
        resident = person(pool, estate, Role.RESIDENT)
    env = service_env(database.url, broker.url, tmp_path / "data")
    port = ephemeral_port()
    base = f"http://127.0.0.1:{port}"
    services: list[Service] = []
    stop_load, stop_health = threading.Event(), threading.Event()
    sent, answers, health = Sent(), list[Answer](), Health()
    threads: list[threading.Thread] = []
    try:
        services.append(start_ingest(env, f"{run}-ingest", tmp_path / "ingest.log"))
        services.append(start_board(env, port, tmp_path / "board.log"))
        ingest, board = services
        probe = Publisher(broker.url)  # until ingest has subscribed, nobody receives
        message = telemetry(DEVICES[0], {"temperature_c": 1.0}, message_id=f"{run}-probe")
        assert wait_until(lambda: probe.publish_all([message]) > 0 and wait_until(
            lambda: f"{run}-probe" in stored_readings(database.url, run), timeout=1), timeout=60), \
            ingest.log_tail()
        probe.close()

        threads = [
            threading.Thread(target=publish_load, args=(broker.url, run, sent, stop_load)),
            threading.Thread(target=http_load, args=(base, staff, resident, run, answers,
                                                     stop_load)),
            threading.Thread(target=poll_health, args=(base, health, stop_health)),
        ]
        for t in threads:
            t.start()
        time.sleep(4)
        outage_began = time.monotonic()
        database.stop()
        time.sleep(OUTAGE_S)
        database.start()
        back_at, back_wall = time.monotonic(), datetime.now(UTC)
        time.sleep(RECOVER_WITHIN_S / 2)
        stop_load.set()
        threads[0].join(60)
        threads[1].join(60)

        # both services were never restarted, and are working again
        assert ingest.alive(), ingest.log_tail()
        assert board.alive(), board.log_tail()
        accepted = sent.accepted(sent.readings)
        assert len(accepted) == len(sent.readings), "the broker refused readings"
        assert wait_until(lambda: len(stored_readings(database.url, run)) >= len(accepted) + 1,
                          timeout=90), ingest.log_tail()
        ingest_back = first_stored_after(database.url, run, back_wall) - back_wall
        assert ingest_back.total_seconds() < RECOVER_WITHIN_S, ingest.log_tail()

        # -- the board during the outage: clear 503s, quickly; never a 500 or a hang
        during = [a for a in answers if outage_began <= a.at < back_at]
        assert len(during) >= 4, "too few requests reached the board during the outage"
        for a in answers:
            assert a.status in (201, 503), (a, board.log_tail())
            assert a.seconds < ANSWER_WITHIN_S, (a, board.log_tail())
            if a.status == 503:
                assert a.headers["content-type"] == "application/problem+json"
                assert a.body["type"] == "/problems/unavailable"
                assert int(a.headers["retry-after"]) > 0
        assert any(a.status == 503 for a in during), "no 503 during the outage"
        assert sum(a.status == 201 for a in answers if a.at > back_at + RECOVER_WITHIN_S / 4) \
            >= 2, f"the board did not take reports again: {answers[-6:]}"

        # -- health follows the database, and the board recovers by itself
        down = [s for t, s in health.samples if outage_began + 6 < t < back_at]
        assert down and all(s == 503 for s in down), down
        first_ok = health.first_ok_after(back_at)
        assert first_ok is not None and first_ok - back_at < RECOVER_WITHIN_S, health.samples

        # -- every report answered 201 is filed exactly once, under the ticket it was told;
        # a resident's failed report sent again with its key is filed once as well
        failed_residents = [a for a in answers if a.kind == "resident" and a.status != 201]
        with httpx.Client(base_url=base, timeout=30) as client:
            retried = [report(client, "resident", resident, a.description, a.key)
                       for a in failed_residents]
        assert all(r.status == 201 for r in retried), retried
        filed = filed_reports(database.url, run)
        for a in [*answers, *retried]:
            if a.status == 201:
                assert filed.get(a.description) == [a.body["id"]], (a, filed.get(a.description))
        for a in answers:  # a staff report without an answer may have been filed, once
            if a.kind == "staff" and a.status != 201:
                assert len(filed.get(a.description, [])) <= 1, a

        # -- every acknowledged message is stored exactly once: two readings per message
        # (plus the probe's one), one ticket per camera finding
        stop_health.set()
        threads[2].join(10)
        time.sleep(1)
        readings = stored_readings(database.url, run)
        assert set(readings) == {*accepted, f"{run}-probe"}
        assert all(n == 2 for m, n in readings.items() if m != f"{run}-probe")
        found = sent.accepted(sent.findings)
        assert len(found) == len(sent.findings)
        assert wait_until(lambda: set(finding_tickets(database.url, run)) == set(found), timeout=30)
        assert set(finding_tickets(database.url, run).values()) == {1}
        print(f"\noutage {OUTAGE_S} s: {len(accepted)} messages, {len(found)} findings,"
              f" {len(answers)} reports ({len(during)} during the outage,"
              f" {sum(a.status == 503 for a in answers)} answered 503, slowest answer"
              f" {max(a.seconds for a in answers):.1f} s); health ok {first_ok - back_at:.1f} s"
              f" and ingest stored again {ingest_back.total_seconds():.1f} s after the database"
              " was back")
    finally:
        stop_load.set()
        stop_health.set()
        for t in threads:
            t.join(30)
        for service in services:
            service.stop()
        broker.stop()

