"""The load test (bench/load.py) still runs end to end: a 20-second run with a dozen
sensors and two cameras against the real stack finds nothing lost, opens the sensor
tickets its simulated incidents call for, and prints its figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
        [sys.executable, "-m", "bench.load", "--minutes", "0.33", "--sensors", "12",
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
