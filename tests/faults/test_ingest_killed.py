"""SIGKILL the ingest process in the middle of a 50,000-message burst, then restart it:
every message is stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from services.stack import start_broker
from tests.support.mqtt import Publisher, telemetry, wait_until

ROOT = Path(__file__).parents[2]
BURST = 50_000
DEVICES = ["temp-pump-room", "temp-clubhouse", "aq-garage"]


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    try:
        yield broker.url
    finally:
        broker.stop()


def start_ingest(database_url: str, broker_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": database_url,
        "MQTT_URL": broker_url,
        "SUNLIGHT_CONFIG": str(ROOT / "deploy" / "estate.example.yaml"),
        "SUNLIGHT_DATA_DIR": str(data_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "ingest", "--client-id", "kill-test-ingest",
         "--metrics-port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def stored(pool: ConnectionPool, prefix: str) -> tuple[int, int]:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM readings WHERE message_id LIKE %s",
            (f"{prefix}%",),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_sigkill_mid_burst_loses_nothing_and_duplicates_nothing(
    database_url: str, pool: ConnectionPool, broker_url: str, tmp_path: Path
) -> None:
    prefix = f"kill-{int(time.time())}-"
    ingest = start_ingest(database_url, broker_url, tmp_path)
    try:
        # the first start creates the persistent session and its shared subscription
        # (until it subscribes, nobody receives: send the same probe until it is stored)
        probe = Publisher(broker_url)
        message = telemetry(DEVICES[0], {"temperature_c": 1.0}, message_id=f"{prefix}probe")

        def probe_stored() -> bool:
            probe.publish_all([message])
            return wait_until(lambda: stored(pool, f"{prefix}probe")[0] == 1, timeout=1)

        assert wait_until(probe_stored, timeout=60)

        messages = [
            telemetry(DEVICES[i % len(DEVICES)], {"temperature_c": i % 40, "humidity_pct": 50.0},
                      message_id=f"{prefix}{i:06d}")
            for i in range(BURST)
        ]
        publisher = Publisher(broker_url)
        sender = threading.Thread(target=publisher.publish_all, args=(messages,))
        sender.start()
        assert wait_until(lambda: stored(pool, prefix)[1] >= 5_000, timeout=60)
        ingest.send_signal(signal.SIGKILL)
        ingest.wait(10)
        at_kill = stored(pool, prefix)[1]
        sender.join(120)
        assert not sender.is_alive()
        publisher.close()
        probe.close()
        assert at_kill < BURST + 1, "the burst was over before the kill: nothing was tested"

        ingest = start_ingest(database_url, broker_url, tmp_path)
        expected = (BURST * 2 + 1, BURST + 1)  # two readings per message, plus the probe
        assert wait_until(lambda: stored(pool, prefix) == expected, timeout=180), \
            f"stored {stored(pool, prefix)} of {expected}; killed at {at_kill} messages"
        time.sleep(1)  # nothing more arrives afterwards
        assert stored(pool, prefix) == expected
    finally:
        ingest.terminate()
        try:
            ingest.wait(15)
        except subprocess.TimeoutExpired:
            ingest.kill()
