"""Stop Mosquitto for 20 s while an edge agent publishes: afterwards every message is in the
database exactly once, and each device's messages were stored in the order they were taken.

Why the order holds: a device link has one message in flight and takes the next from its
outbox only after the broker acknowledged it (a PUBACK), so the broker receives a
device's messages for the first time in order; paho may send copies again after a
reconnect, but only of the message in flight, and a copy changes nothing once the first
is stored. The broker queues them first in, first out in the ingest's persistent session
(kept across the restart in Mosquitto's persistence file), and ingest writes them with
one writer, batch after batch. Order can only break if the broker loses a message it
acknowledged (a session it could not save) and a late copy comes after later messages: a
loss, which this test reports as one, before it looks at the order.

How it is measured: by the ingest's transactions (one writer, so their ids rise in commit
order), then by the time of the row within a batch. `received_at` alone is the server's
wall clock, which a loaded machine may step back between two batches.

The broker keeps its persistence file outside pytest's temporary folders: Mosquitto runs
as its own user when the tests run as root, and every new pytest session on the machine
makes its base folder private again (mode 700); Mosquitto then cannot save its sessions
when it stops, and loses the ingest's session with the messages queued in it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from edge.agent import Agent
from edge.config import EdgeConfig
from edge.settings import load_edge_settings
from services.config import load_config
from services.ingest.processor import Processor
from services.ingest.service import IngestOptions, IngestService
from services.stack import start_broker
from tests.support.mqtt import wait_until

ROOT = Path(__file__).parents[2]
DEVICES = ["temp-pump-room", "temp-clubhouse", "aq-garage"]
OUTAGE_S = int(os.environ.get("OUTAGE_S", "20"))


@dataclass(frozen=True)
class Stored:
    seq: int
    message_id: str
    xid: int  # the transaction that stored it
    received_at: datetime


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="sunlight-broker-outage-"))
    try:
        yield home / "broker"
    finally:
        shutil.rmtree(home, ignore_errors=True)


def stored(pool: ConnectionPool, device: str, prefix: str) -> list[Stored]:
    """This run's readings of a device, in the order ingest stored them."""
    with pool.connection() as conn:
        found = conn.execute(
            "SELECT message_id, xmin::text::bigint AS xid, received_at FROM readings"
            " WHERE device_id = %s AND message_id LIKE %s AND metric = 'temperature_c'"
            " ORDER BY xid, received_at, message_id", (device, f"{prefix}%")).fetchall()
    # message ids end in the sequence number
    return [Stored(int(m.rsplit("-", 1)[1]), m, int(x), r) for m, x, r in found]


def first_inversion(rows: list[Stored]) -> str:
    at = next(i for i in range(1, len(rows)) if rows[i].seq < rows[i - 1].seq)
    return "\n".join(f"  seq {r.seq} xid {r.xid} at {r.received_at.isoformat()}"
                     for r in rows[max(0, at - 3):at + 3])


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
    agent = Agent(config, load_edge_settings(config))
    # this run's messages only: an earlier run in the same database used other boot ids
    prefixes = {d: agent.links[d].id_prefix for d in DEVICES}
    threads = [threading.Thread(target=service.run, args=(ingest_stop,), daemon=True),
               threading.Thread(target=agent.run, args=(agent_stop,), daemon=True)]

    def count() -> int:
        return sum(len(stored(pool, d, prefixes[d])) for d in DEVICES)

    try:
        for t in threads:
            t.start()
        assert wait_until(lambda: len(stored(pool, DEVICES[0], prefixes[DEVICES[0]])) >= 20,
                          timeout=30)
        broker.stop()
        time.sleep(OUTAGE_S)
        queued_during_outage = len(agent.outbox)
        broker = start_broker(broker_dir, kind="mosquitto", port=port)
        time.sleep(5)  # the agent keeps publishing after the broker is back
        assert agent.outbox.dropped() == {}
        agent_stop.set()  # stops reading, flushes what is queued
        threads[1].join(30)
        taken = agent.stats.readings
        assert taken == sum(agent.links[d].numbered for d in DEVICES)
        # the outage left a backlog to replay: the agent reads ~10 times a second per device,
        # a loaded machine less (this once saw fewer than half), and 2 a second is plenty
        assert queued_during_outage >= len(DEVICES) * OUTAGE_S * 2, queued_during_outage
        assert wait_until(lambda: count() >= taken, timeout=60), (
            f"stored {count()} of {taken}; still queued {len(agent.outbox)};"
            f" sent {[agent.links[d].sent for d in DEVICES]}")
        time.sleep(1)  # nothing more arrives afterwards
        for device in DEVICES:
            rows = stored(pool, device, prefixes[device])
            seqs = [r.seq for r in rows]
            numbered = agent.links[device].numbered
            assert set(seqs) == set(range(1, numbered + 1)), \
                f"{device}: lost {sorted(set(range(1, numbered + 1)) - set(seqs))[:20]}"
            assert len(seqs) == numbered, f"{device}: a message stored twice"
            assert seqs == sorted(seqs), f"{device}: out of order\n{first_inversion(rows)}"
        assert count() == taken
        assert len(agent.outbox) == 0
    finally:
        agent_stop.set()
        ingest_stop.set()
        for t in threads:
            t.join(15)
        broker.stop()
