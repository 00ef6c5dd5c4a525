"""The ingest service against the real Mosquitto and PostgreSQL."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from services.config import EstateConfig, load_config
from services.contract import Finding, Kind, Phase, Rule, Status, encode, topic
from services.ingest.processor import Processor
from services.ingest.service import IngestOptions, IngestService
from services.stack import start_broker
from services.store.tickets import TicketStore
from services.tickets import Source, State
from tests.support.mqtt import SITE, Publisher, running, telemetry, wait_until

EXAMPLE = Path(__file__).parents[2] / "deploy" / "estate.example.yaml"
# the smallest valid JPEG header is enough: ingest stores evidence, it does not decode it
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9").decode()


@pytest.fixture(scope="module")
def estate() -> EstateConfig:
    return load_config(EXAMPLE)


@pytest.fixture
def ingest(pool: ConnectionPool, estate: EstateConfig, broker_url: str, tmp_path: Path) \
        -> Iterator[IngestService]:
    processor = Processor(pool, estate, tmp_path)
    # one stable client id, as in production: an offline member of a shared subscription
    # with a persistent session still gets its share of messages, queued for its return
    service = IngestService(processor, broker_url,
                            IngestOptions(client_id="test-ingest", tick_every_s=0.2))
    with running(service):
        yield service


@pytest.fixture
def publisher(broker_url: str) -> Iterator[Publisher]:
    p = Publisher(broker_url)
    try:
        yield p
    finally:
        p.close()


def count(pool: ConnectionPool, sql: str, *args: object) -> int:
    with pool.connection() as conn:
        row = conn.execute(sql.encode(), args).fetchone()
    assert row is not None
    return int(row[0])


def test_readings_are_stored_once_even_when_sent_twice(ingest, publisher, pool) -> None:
    messages = [telemetry("temp-clubhouse", {"temperature_c": 20 + i / 10}) for i in range(200)]
    publisher.publish_all(messages + messages[:50])
    ids = [json.loads(body)["message_id"] for _, body in messages]

    def stored() -> int:
        return count(pool, "SELECT count(*) FROM readings WHERE message_id = ANY(%s)", ids)

    assert wait_until(lambda: stored() == 200)
    assert wait_until(lambda: not ingest._inbox)
    assert stored() == 200


def test_every_kind_of_bad_input_lands_in_the_dead_letter(ingest, publisher, pool) -> None:
    now = datetime.now(UTC)
    t_ok = topic(SITE, "temp-clubhouse", Kind.TELEMETRY)
    marker = uuid.uuid4().hex[:8]
    good = telemetry("temp-clubhouse", {"temperature_c": 21.0})
    bad = {
        "malformed": (t_ok, b"{not json " + marker.encode()),
        "schema": (t_ok, json.dumps({"message_id": f"m-{marker}-1", "device_id": "temp-clubhouse",
                                     "sent_at": now.isoformat(), "seq": 1, "schema_version": 1,
                                     "payload": {"readings": {"t": "hot"}}}).encode()),
        "unknown_device": telemetry("no-such-device", {"x": 1.0}),
        "oversize": (t_ok, b"{" + b" " * 20000 + marker.encode() + b"}"),
        "future": telemetry("temp-clubhouse", {"temperature_c": 1.0},
                            at=now + timedelta(hours=2)),
        "past": telemetry("temp-clubhouse", {"temperature_c": 1.0}, at=now - timedelta(days=30)),
        "mismatch": (t_ok, telemetry("temp-pump-room", {"temperature_c": 1.0})[1]),
    }
    before = count(pool, "SELECT count(*) FROM dead_letters")
    publisher.publish_all([*bad.values(), good])
    good_id = json.loads(good[1])["message_id"]
    assert wait_until(lambda: count(pool, "SELECT count(*) FROM readings WHERE message_id = %s",
                                    good_id) == 1)
    wait_until(lambda: count(pool, "SELECT count(*) FROM dead_letters") - before == len(bad))
    with pool.connection() as conn:
        reasons = [r[0] for r in conn.execute(
            "SELECT reason FROM dead_letters ORDER BY id DESC LIMIT %s", (len(bad),))]
    text = "\n".join(reasons)
    assert len(reasons) == len(bad), text
    for needle in ("JSON", "readings.t", "unknown device", "exceeds", "future", "past",
                   "does not match"):
        assert needle in text, f"no dead letter mentions {needle!r}:\n{text}"


def test_water_leak_opens_one_sensor_ticket(ingest, publisher, pool) -> None:
    device = _device_of(load_config(EXAMPLE), "water_leak")
    t0 = datetime.now(UTC) - timedelta(seconds=30)
    readings = [telemetry(device, {"leak": v}, at=t0 + timedelta(seconds=i))
                for i, v in enumerate([0, 1, 1, 1, 0, 1, 1])]
    publisher.publish_all(readings)
    store = TicketStore(pool)

    def tickets() -> list[int]:
        with pool.connection() as conn:
            return [r[0] for r in conn.execute(
                "SELECT id FROM tickets WHERE source = 'sensor' AND finding_key LIKE %s",
                (f"sensor/water-leak/{device}/%",))]

    assert wait_until(lambda: len(tickets()) == 1 and len(store.history(tickets()[0])) >= 4)
    ticket = store.get(tickets()[0])
    assert ticket.state is State.PENDING_CONFIRMATION and ticket.source is Source.SENSOR
    assert ticket.opened_at == t0 + timedelta(seconds=1)  # first detection
    notes = [h.note for h in store.history(ticket.id or 0)]
    assert any(n.startswith("readings of") for n in notes)
    assert any("cleared" in n for n in notes) and any("recurred" in n for n in notes)


def test_offline_by_last_will_opens_a_ticket_after_its_duration(ingest, publisher, pool,
                                                                  estate, tmp_path) -> None:
    device = _device_of(estate, "elevator")
    connected = datetime.now(UTC) - timedelta(days=9)  # a will is composed at connect time
    body = encode(message_id=f"will-{uuid.uuid4().hex}", device_id=device, sent_at=connected,
                  seq=0, payload=Status(state="offline"))
    publisher.publish_all([(topic(SITE, device, Kind.STATUS), body)])
    assert wait_until(lambda: count(pool, "SELECT count(*) FROM device_status"
                                    " WHERE device_id = %s AND state = 'offline'", device) == 1)
    key = f"sensor/device-offline/{device}/%"
    assert count(pool, "SELECT count(*) FROM tickets WHERE finding_key LIKE %s", key) == 0
    # the rule's duration is 10 minutes: the periodic tick opens the ticket after it
    later = Processor(pool, estate, tmp_path,
                      clock=lambda: datetime.now(UTC) + timedelta(minutes=10, seconds=5))
    assert later.tick() >= 1
    assert count(pool, "SELECT count(*) FROM tickets WHERE finding_key LIKE %s", key) == 1


def test_a_finding_becomes_one_camera_ticket_with_its_evidence(ingest, publisher, pool,
                                                                 estate) -> None:
    camera = estate.cameras[0]
    zone = next(z for z in camera.zones if z.kind == "fire_exit")
    started = datetime.now(UTC) - timedelta(minutes=3)
    finding_id = f"f-{uuid.uuid4().hex}"

    def message(phase: Phase, seq: int) -> tuple[str, bytes]:
        payload = Finding(finding_id=finding_id, camera_id=camera.id,
                          rule=Rule.BLOCKED_FIRE_EXIT, zone=zone.id, phase=phase,
                          started_at=started, box=(0.1, 0.2, 0.3, 0.4), label="box",
                          score=0.9, evidence_jpeg_b64=JPEG)
        return topic(SITE, camera.id, Kind.FINDING), encode(
            message_id=f"{finding_id}-{seq}", device_id=camera.id,
            sent_at=started + timedelta(seconds=seq), seq=seq, payload=payload)

    start, update, end = message(Phase.START, 1), message(Phase.UPDATE, 2), message(Phase.END, 3)
    publisher.publish_all([start, start, update, end, end])  # redeliveries included
    store = TicketStore(pool)
    assert wait_until(lambda: (t := store.by_finding(f"camera/{finding_id}")) is not None
                      and len(store.history(t.id or 0)) == 4)
    ticket = store.by_finding(f"camera/{finding_id}")
    assert ticket is not None
    assert ticket.source is Source.CAMERA and ticket.category == "fire_exit"
    assert ticket.opened_at == started
    history = store.history(ticket.id or 0)
    assert [h.action for h in history] == ["open", "add_evidence", "add_evidence",
                                           "add_evidence"]
    assert history[-1].note.startswith("zone clear again (at ")
    assert all(h.data.get("photos", "").endswith(".jpg") for h in history[1:])


def _device_of(estate: EstateConfig, kind: str) -> str:
    return next(d.id for d in estate.devices if d.kind == kind)


def test_no_ticket_storm_from_repeated_bin_readings(ingest, publisher, pool, estate) -> None:
    device = _device_of(estate, "bin_level")
    t0 = datetime.now(UTC) - timedelta(minutes=40)
    values = [95, 85, 95, 60, 92, 40, 99, 91, 93, 95]  # never below 30: one condition
    publisher.publish_all([telemetry(device, {"fill_pct": v}, at=t0 + timedelta(minutes=4 * i))
                           for i, v in enumerate(values)])
    assert wait_until(lambda: count(pool, "SELECT count(*) FROM tickets WHERE finding_key LIKE %s",
                                    f"sensor/bin-full/{device}/%") == 1)
    with psycopg.connect(pool.conninfo) as conn:
        row = conn.execute("SELECT phase FROM sensor_conditions WHERE rule_id = 'bin-full'"
                           " AND device_id = %s", (device,)).fetchone()
    assert row == ("active",)


def test_ingest_over_mqtt_311_on_the_embedded_amqtt_broker(pool, estate, tmp_path) -> None:
    """`sunlight up` falls back to amqtt (MQTT 3.1.1 only) where Mosquitto is absent."""
    broker = start_broker(tmp_path / "amqtt", kind="amqtt")
    stop = threading.Event()
    try:
        assert broker.url.endswith("?protocol=3.1.1")
        service = IngestService(Processor(pool, estate, tmp_path), broker.url,
                                IngestOptions(client_id="test-ingest-311"))
        thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
        thread.start()
        assert service.connected.wait(10)
        publisher = Publisher(broker.url)
        messages = [telemetry("temp-clubhouse", {"temperature_c": float(i)}) for i in range(50)]
        publisher.publish_all(messages + messages[:10])
        publisher.close()
        ids = [json.loads(body)["message_id"] for _, body in messages]
        assert wait_until(lambda: count(
            pool, "SELECT count(*) FROM readings WHERE message_id = ANY(%s)", ids) == 50)
    finally:
        stop.set()
        broker.stop()


def test_metrics_count_what_happened(ingest, publisher, pool) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = value("sunlight_ingest_received_total"), value("sunlight_ingest_dead_lettered_total")
    publisher.publish_all([telemetry("temp-clubhouse", {"temperature_c": 1.0}),
                           (topic(SITE, "temp-clubhouse", Kind.TELEMETRY), b"garbage")])
    assert wait_until(lambda: value("sunlight_ingest_received_total") - before[0] == 2)
    assert value("sunlight_ingest_dead_lettered_total") - before[1] == 1
    assert value("sunlight_ingest_stored_total", table="readings") >= 1
    assert value("sunlight_ingest_batch_seconds_count") >= 1


def test_two_instances_split_the_load_through_a_shared_subscription(pool, estate, broker_url,
                                                                      publisher, tmp_path) -> None:
    stop = threading.Event()
    services = [IngestService(Processor(pool, estate, tmp_path), broker_url,
                              IngestOptions(client_id=f"test-shared-{i}", group="ingest"))
                for i in range(2)]
    threads = [threading.Thread(target=s.run, args=(stop,), daemon=True) for s in services]
    try:
        for t in threads:
            t.start()
        assert all(s.connected.wait(10) for s in services)
        messages = [telemetry("temp-pump-room", {"temperature_c": float(i)}) for i in range(400)]
        publisher.publish_all(messages)
        ids = [json.loads(body)["message_id"] for _, body in messages]
        assert wait_until(lambda: count(
            pool, "SELECT count(*) FROM readings WHERE message_id = ANY(%s)", ids) == 400)
        # each message went to one instance, and both instances took part
        assert wait_until(lambda: sum(s.committed for s in services) == 400)
        assert all(s.committed > 0 for s in services), [s.committed for s in services]
    finally:
        stop.set()
        for t in threads:
            t.join(10)
