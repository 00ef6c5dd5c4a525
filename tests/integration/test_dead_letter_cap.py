"""The dead letter's budget per device and hour (issue 14): 1,000 random messages of
100 KB from one device, through the real broker and ingest into the real PostgreSQL, add
at most the cap to the dead letters; what is dropped past it is counted in the database
and raises an alert (a device event and a WARNING)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from services.config import load_config
from services.ingest.processor import DEAD_LETTER_BYTES_PER_HOUR, Processor
from services.ingest.service import IngestOptions, IngestService
from tests.support.mqtt import SITE, Publisher, running, wait_until

pytestmark = pytest.mark.integration

ESTATE = Path(__file__).parents[2] / "deploy" / "estate.example.yaml"


@pytest.fixture
def ingest(pool: ConnectionPool, broker_url: str, tmp_path: Path) -> Iterator[IngestService]:
    processor = Processor(pool, load_config(ESTATE), tmp_path)
    service = IngestService(processor, broker_url,
                            IngestOptions(client_id=f"test-cap-{uuid.uuid4().hex[:6]}"))
    with running(service):
        yield service


def _one(pool: ConnectionPool, sql: str, *args: object) -> int:
    with pool.connection() as conn:
        row = conn.execute(sql.encode(), args).fetchone()
    assert row is not None
    return int(row[0] or 0)


def test_one_device_adds_at_most_its_hourly_cap_to_the_dead_letters(
        ingest: IngestService, broker_url: str, pool: ConnectionPool,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="services.ingest")
    device = f"junk-{uuid.uuid4().hex[:8]}"  # a device of its own: its own budget
    name = f"sunlight/v1/{SITE}/{device}/telemetry"
    publisher = Publisher(broker_url)
    try:
        publisher.publish_all((name, os.urandom(100_000)) for _ in range(1000))
    finally:
        publisher.close()
    assert wait_until(lambda: ingest.committed >= 1000 and not ingest._inbox, 60)
    kept_bytes = _one(pool, "SELECT sum(octet_length(payload)) FROM dead_letters"
                            " WHERE topic = %s", name)
    kept = _one(pool, "SELECT count(*) FROM dead_letters WHERE topic = %s", name)
    dropped = _one(pool, "SELECT sum(dropped) FROM dead_letter_budget WHERE device_id = %s",
                   device)
    print(f"dead letters of one device: {kept} kept ({kept_bytes:,} bytes), {dropped} dropped")
    assert 0 < kept_bytes <= DEAD_LETTER_BYTES_PER_HOUR
    assert kept + dropped == 1000
    alerts = _one(pool, "SELECT count(*) FROM device_events WHERE device_id = %s"
                        " AND event = 'dead_letter_cap'", device)
    assert alerts == 1
    assert any("event=dead_letter_cap" in r.getMessage() and device in r.getMessage()
               for r in caplog.records)
