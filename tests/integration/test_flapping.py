"""A flapping sensor through the real Mosquitto and PostgreSQL: its ticket's history stays
bounded (repeats are counted per hour, services/store/evidence_runs.py), the counts are
exact, and ingest keeps its pace."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from services.config import EstateConfig, load_config
from services.ingest.processor import Processor
from services.ingest.service import IngestOptions, IngestService
from services.store.evidence_runs import hour_of
from services.store.tickets import TicketStore
from tests.support.mqtt import Publisher, running, telemetry, wait_until

EXAMPLE = Path(__file__).parents[2] / "deploy" / "estate.example.yaml"
DEVICE = "leak-garage-2"  # a leak sensor no other test uses
FLAPS = 2000
# per ticket and hour of flapping: the first recurrence and the first clearing as they
# happened, and one entry summing up each kind once the hour is over
ROWS_PER_HOUR = 4
SUMMARY = re.compile(r"^condition (recurred|cleared) ([\d,]+) times between ")


@pytest.fixture
def estate() -> EstateConfig:
    return load_config(EXAMPLE)


@pytest.fixture
def ingest(pool: ConnectionPool, estate: EstateConfig, broker_url: str, tmp_path: Path) \
        -> Iterator[IngestService]:
    service = IngestService(Processor(pool, estate, tmp_path), broker_url,
                            IngestOptions(client_id="test-ingest-flapping"))
    with running(service):
        yield service


def last_seen(pool: ConnectionPool) -> datetime | None:
    with pool.connection() as conn:
        row = conn.execute("SELECT last_time FROM sensor_conditions WHERE rule_id = 'water-leak'"
                           " AND device_id = %s", (DEVICE,)).fetchone()
    return row[0] if row else None


def test_a_flapping_sensor_keeps_its_ticket_readable(ingest: IngestService, pool: ConnectionPool,
                                                     estate: EstateConfig, broker_url: str,
                                                     tmp_path: Path) -> None:
    now = datetime.now(UTC)
    t0 = hour_of(now) - timedelta(hours=2) + timedelta(minutes=30)
    values = [1.0 - i % 2 for i in range(2 * FLAPS)]  # 1, 0, 1, 0 …: water, dry, water …
    times = [t0 + timedelta(seconds=i) for i in range(len(values))]
    # what the ticket must count: the first water opens it, each later one recurs
    expected = Counter((("recurred" if v else "cleared"), hour_of(t))
                       for i, (t, v) in enumerate(zip(times, values, strict=True)) if i > 0)

    publisher = Publisher(broker_url)
    started = time.monotonic()
    try:
        publisher.publish_all(telemetry(DEVICE, {"leak": v}, at=t)
                              for t, v in zip(times, values, strict=True))
        assert wait_until(lambda: last_seen(pool) == times[-1], timeout=120)
    finally:
        publisher.close()
    seconds = time.monotonic() - started

    # the hours are over: the next tick sums them up
    later = Processor(pool, estate, tmp_path, clock=lambda: datetime.now(UTC) + timedelta(hours=3))
    later.tick()
    store = TicketStore(pool)
    ticket = store.by_finding(f"sensor/water-leak/{DEVICE}/{t0.isoformat()}")
    assert ticket is not None and ticket.id is not None
    history = store.history(ticket.id)
    hours = {hour for _, hour in expected}
    print(f"\n{FLAPS} flaps ({len(values)} messages) in {seconds:.1f} s"
          f" ({len(values) / seconds:,.0f} msg/s): {len(history)} history entries")
    assert len(history) <= 2 + ROWS_PER_HOUR * len(hours), [h.note for h in history]

    counted: Counter[str] = Counter()
    for entry in history:
        if match := SUMMARY.match(entry.note):
            counted[match.group(1)] += int(match.group(2).replace(",", ""))
    assert counted == {"recurred": FLAPS - 1, "cleared": FLAPS}, [h.note for h in history]
    firsts = [h.note for h in history if h.note.startswith("condition recurred: ")]
    assert len(firsts) == len({hour for kind, hour in expected if kind == "recurred"})
