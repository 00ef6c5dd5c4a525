"""The load test (bench/load.py) still runs end to end: a 15-second run with a dozen
sensors and two cameras against the real stack finds nothing lost, opens the sensor
tickets its simulated incidents call for, and prints its figures; and its accounting
does see a reading lost or stored twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.load_checks import stored_readings
from services.store import upgrade

SERVER_URL = os.environ.get("SUNLIGHT_TEST_DATABASE_URL",
                            "postgresql://postgres@127.0.0.1:5432/postgres")

ROOT = Path(__file__).parents[2]


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in the report:\n{text}"
    return int(found.group(1).replace(",", ""))


def test_a_short_load_run_loses_nothing() -> None:
    # incidents every minute or so per sensor: leaks and alarms open tickets at once
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", "--minutes", "0.25", "--sensors", "12",
         "--cameras", "2", "--incidents-per-day", "2000", "--sample-every", "2"],
        cwd=ROOT, env=os.environ | {"DATABASE_URL": SERVER_URL}, capture_output=True,
        text=True, timeout=120, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "nothing lost" in out
    acknowledged = _number(r"([\d,]+) acknowledged by the broker", out)
    assert acknowledged >= 12  # every sensor read at least once
    assert _number(r"; ([\d,]+) stored \(0 duplicates, 0 sequence gaps", out) == acknowledged
    assert _number(r"([\d,]+) analysed,", out) > 0
    assert _number(r"sensor tickets: (\d+) opened", out) > 0
    for process in ("ingest", "vision", "board", "mosquitto", "postgres"):
        assert re.search(rf"^{process} +[\d.]+%", out, re.MULTILINE), process


def test_the_checks_see_a_reading_lost_or_stored_twice(empty_database_url: str) -> None:
    """The accounting that makes the run fail: a sequence gap, a duplicate, and a sensor
    with fewer readings stored than the broker acknowledged."""
    upgrade(empty_database_url)
    at = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    rows = [("leak-1", "leak-1-boot-000000001", at), ("leak-1", "leak-1-boot-000000003", at),
            ("leak-1", "leak-1-boot-000000001", at + timedelta(seconds=1)),  # again
            ("smoke-1", "smoke-1-boot-000000001", at)]
    with psycopg.connect(empty_database_url) as conn:
        conn.cursor().executemany(
            "INSERT INTO readings (time, site, device_id, metric, value, message_id)"
            " VALUES (%s, 'site', %s, 'value', 0, %s)", [(t, d, m) for d, m, t in rows])
        stored = stored_readings(conn, {"leak-1": 3, "smoke-1": 1})
    assert (stored.rows, stored.messages, stored.duplicates, stored.gaps) == (4, 3, 1, 1)
    assert stored.short == ["leak-1"]
