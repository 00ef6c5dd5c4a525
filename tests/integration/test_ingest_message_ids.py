"""A message is stored once by its (device, message_id), whatever `sent_at` each copy
carries, through the real Mosquitto and PostgreSQL (docs/mqtt.md, "Delivery")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from services.config import load_config
from services.contract import Event, Kind, encode, topic
from services.ingest.processor import Processor
from services.ingest.service import IngestOptions, IngestService
from services.store.message_ids import HORIZON, claim, prune
from tests.support.mqtt import SITE, Publisher, running, telemetry, wait_until

EXAMPLE = Path(__file__).parents[2] / "deploy" / "estate.example.yaml"


@pytest.fixture
def ingest(pool: ConnectionPool, broker_url: str, tmp_path: Path) -> Iterator[IngestService]:
    processor = Processor(pool, load_config(EXAMPLE), tmp_path)
    service = IngestService(processor, broker_url, IngestOptions(client_id="test-ingest-ids"))
    with running(service):
        yield service


@pytest.fixture
def publisher(broker_url: str) -> Iterator[Publisher]:
    p = Publisher(broker_url)
    try:
        yield p
    finally:
        p.close()


def rows(pool: ConnectionPool, table: str, message_id: str) -> list[tuple[object, ...]]:
    with pool.connection() as conn:
        return conn.execute(
            f"SELECT device_id, time FROM {table} WHERE message_id = %s ORDER BY time".encode(),
            (message_id,)).fetchall()


def settle(publisher: Publisher, pool: ConnectionPool) -> None:
    """Publish a marker and wait until it is stored: everything sent before it is handled
    (one ingest writer, batches committed in the order the broker delivers)."""
    marker = f"marker-{uuid.uuid4().hex}"
    publisher.publish_all([telemetry("temp-pump-room", {"temperature_c": 1.0},
                                     message_id=marker)])
    assert wait_until(lambda: len(rows(pool, "readings", marker)) == 1)


def repeated() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("sunlight_ingest_repeated_total") or 0.0


def test_a_retry_with_a_new_sent_at_is_stored_once(ingest: IngestService, publisher: Publisher,
                                                    pool: ConnectionPool) -> None:
    before = repeated()
    message_id = f"restamped-{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    copies = [telemetry("temp-clubhouse", {"temperature_c": 20.0 + i}, message_id=message_id,
                        at=now - timedelta(minutes=10 - i)) for i in range(5)]
    publisher.publish_all(copies[:2])  # most likely in one batch
    settle(publisher, pool)
    for copy in copies[2:]:  # each in a batch of its own
        publisher.publish_all([copy])
        settle(publisher, pool)
    stored = rows(pool, "readings", message_id)
    assert stored == [("temp-clubhouse", now - timedelta(minutes=10))], stored
    assert repeated() - before == 4  # counted, as copies left out


def test_events_too_and_ids_are_per_device(ingest: IngestService, publisher: Publisher,
                                          pool: ConnectionPool) -> None:
    message_id = f"event-{uuid.uuid4().hex}"
    now = datetime.now(UTC)

    def door(device: str, minutes_ago: int) -> tuple[str, bytes]:
        return topic(SITE, device, Kind.EVENT), encode(
            message_id=message_id, device_id=device, sent_at=now - timedelta(minutes=minutes_ago),
            seq=1, payload=Event(event="door_opened"))

    for minutes_ago in (5, 4, 3):
        publisher.publish_all([door("door-b3-stairwell", minutes_ago)])
        settle(publisher, pool)
    # another device may use the same id: ids are unique per device
    publisher.publish_all([door("door-b1-stairwell", 2)])
    settle(publisher, pool)
    stored = sorted(r[0] for r in rows(pool, "device_events", message_id))
    assert stored == ["door-b1-stairwell", "door-b3-stairwell"], stored


def test_ids_are_kept_for_the_horizon_then_pruned(database_url: str) -> None:
    device = f"dev-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    old, recent = (device, "old-message-id"), (device, "recent-message-id")
    with psycopg.connect(database_url) as conn:
        assert claim(conn, [old], now - HORIZON - timedelta(hours=1)) == {old}
        assert claim(conn, [recent], now - HORIZON + timedelta(hours=1)) == {recent}
        assert claim(conn, [old, recent], now) == set()  # both still known
        assert prune(conn, now) >= 1
        assert claim(conn, [old, recent], now) == {old}  # the old one was forgotten
        conn.rollback()


def test_the_ingest_tick_prunes_old_ids(pool: ConnectionPool, tmp_path: Path) -> None:
    key = (f"dev-{uuid.uuid4().hex[:8]}", "pruned-by-tick")
    now = datetime.now(UTC)
    with pool.connection() as conn:
        assert claim(conn, [key], now - HORIZON - timedelta(minutes=1)) == {key}
    Processor(pool, load_config(EXAMPLE), tmp_path, clock=lambda: now).tick()
    with pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM message_ids WHERE device_id = %s",
                           (key[0],)).fetchone()
    assert row == (0,)
