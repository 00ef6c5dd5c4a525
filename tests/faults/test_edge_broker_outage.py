"""Stop Mosquitto for 20 s while an edge agent publishes: afterwards every message is in the
database exactly once, and in the order it was taken."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from edge.agent import Agent
from edge.config import EdgeConfig
from services.config import load_config
from services.ingest.processor import Processor
from services.ingest.service import IngestOptions, IngestService
from services.stack import start_broker
from tests.support.mqtt import wait_until

ROOT = Path(__file__).parents[2]
DEVICES = ["temp-pump-room", "temp-clubhouse", "aq-garage"]
OUTAGE_S = int(os.environ.get("OUTAGE_S", "20"))


@pytest.fixture
def broker_dir(tmp_path: Path) -> Path:
    return tmp_path / "broker"


def rows(pool: ConnectionPool, device: str, prefix: str) -> list[tuple[str, int]]:
    """(message id, order of arrival) for a device's readings of this run."""
    with pool.connection() as conn:
        found = conn.execute(
            "SELECT message_id FROM readings WHERE device_id = %s AND message_id LIKE %s"
            " AND metric = 'temperature_c' ORDER BY received_at, message_id",
            (device, f"{prefix}%")).fetchall()
    return [(r[0], i) for i, r in enumerate(found)]


def test_broker_outage_loses_nothing_duplicates_nothing_keeps_order(
    pool: ConnectionPool, tmp_path: Path, broker_dir: Path
) -> None:
    broker = start_broker(broker_dir, kind="mosquitto")
    port = broker.port
    estate = load_config(ROOT / "deploy" / "estate.example.yaml")
    ingest_stop, agent_stop = threading.Event(), threading.Event()
    service = IngestService(Processor(pool, estate, tmp_path), broker.url,
                            IngestOptions(client_id="outage-ingest"))
    config = EdgeConfig.model_validate({
        "site": estate.site.id, "gateway": "gw-test", "broker": broker.url,
        "queue": {"path": str(tmp_path / "outbox.sqlite")},
        "sensors": [{"device": d, "interval": 0.1,
                     "driver": {"kind": "simulator", "model": "temperature", "seed": i}}
                    for i, d in enumerate(DEVICES)],
    })
    agent = Agent(config)
    threads = [threading.Thread(target=service.run, args=(ingest_stop,), daemon=True),
               threading.Thread(target=agent.run, args=(agent_stop,), daemon=True)]
    try:
        for t in threads:
            t.start()
        prefix = f"{DEVICES[0]}-"
        assert wait_until(lambda: len(rows(pool, DEVICES[0], prefix)) >= 20, timeout=30)
        broker.stop()
        time.sleep(OUTAGE_S)
        queued_during_outage = len(agent.outbox)
        broker = start_broker(broker_dir, kind="mosquitto", port=port)
        time.sleep(5)  # the agent keeps publishing after the broker is back
        assert agent.outbox.dropped() == {}
        agent_stop.set()  # stops reading, flushes what is queued
        threads[1].join(30)
        taken = agent.stats.readings
        assert queued_during_outage >= len(DEVICES) * OUTAGE_S * 5  # ~10 readings/s each
        assert wait_until(lambda: sum(len(rows(pool, d, f"{d}-")) for d in DEVICES) >= taken,
                          timeout=60), (
            f"stored {[len(rows(pool, d, f'{d}-')) for d in DEVICES]} of {taken};"
            f" still queued {len(agent.outbox)}; sent {[agent.links[d].sent for d in DEVICES]}")
        time.sleep(1)
        for device in DEVICES:
            stored = [m for m, _ in rows(pool, device, f"{device}-")]
            assert len(stored) == len(set(stored)), f"{device}: a message stored twice"
            # message ids end in the sequence number: arrival order is sequence order
            seqs = [int(m.rsplit("-", 1)[1]) for m in stored]
            assert seqs == sorted(seqs), f"{device}: out of order"
            assert seqs == list(range(1, len(seqs) + 1)), f"{device}: a gap"
        assert sum(len(rows(pool, d, f"{d}-")) for d in DEVICES) == taken
        assert len(agent.outbox) == 0
    finally:
        agent_stop.set()
        ingest_stop.set()
        for t in threads:
            t.join(15)
        broker.stop()
