"""Flapping benchmark: one water-leak sensor flapping (water, dry, water …) through one
`sunlight ingest` process; how fast it is taken in, and what its ticket's history becomes.

Run: .venv/bin/python -m bench.flapping [--flaps 2000]

A private Mosquitto, a scratch database on DATABASE_URL's server (default
127.0.0.1:5432). The readings are one second apart, ending now, published at once by
`mosquitto_pub -l`; the rate is messages over the time until the sensor rule has judged
the last one.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg

from bench.ingest import SITE, scratch, start_ingest, wait_ready
from services.contract import Kind, Telemetry, encode, topic

DEVICE = "leak-pump-room"


def last_judged(url: str) -> datetime | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT last_time FROM sensor_conditions WHERE rule_id = 'water-leak'"
                           " AND device_id = %s", (DEVICE,)).fetchone()
    return row[0] if row else None


def history(url: str) -> tuple[int, int]:
    """Entries and bytes of note in the flapping sensor's ticket's history."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(octet_length(h.note)), 0) FROM ticket_history h"
            " JOIN tickets t ON t.id = h.ticket_id WHERE t.finding_key LIKE %s",
            (f"sensor/water-leak/{DEVICE}/%",)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flaps", type=int, default=2000)
    args = parser.parse_args()
    if not shutil.which("mosquitto_pub"):
        sys.exit("needs mosquitto_pub (Debian: mosquitto-clients)")

    ingest = None
    with scratch() as stack:
        db_url, work, broker = stack.db_url, stack.work, stack.broker
        try:
            ingest = start_ingest(db_url, broker.url, work)
            wait_ready(db_url, broker.port)
            n = 2 * args.flaps
            t0 = datetime.now(UTC) - timedelta(seconds=n)
            times = [t0 + timedelta(seconds=i) for i in range(n)]
            lines = [encode(message_id=f"flap-{i:07d}", device_id=DEVICE, sent_at=t, seq=i,
                            payload=Telemetry(readings={"leak": float(1 - i % 2)}))
                     for i, t in enumerate(times)]
            path = work / "flaps.txt"
            path.write_bytes(b"\n".join(lines) + b"\n")
            started = time.perf_counter()
            with path.open("rb") as stdin:
                subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q",
                                "1", "-l", "-t", topic(SITE, DEVICE, Kind.TELEMETRY)], stdin=stdin,
                               check=True)
            while last_judged(db_url) != times[-1]:
                if time.perf_counter() - started > 600:
                    raise RuntimeError("not judged within 10 minutes")
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            entries, size = history(db_url)
            print(f"flapping  {args.flaps:,} flaps ({n:,} messages) in {seconds:.1f} s:"
                  f" {n / seconds:,.0f} msg/s; the ticket's history: {entries:,} entries,"
                  f" {size / 1024:,.1f} KiB of notes (before the hour's summaries)")
        finally:
            if ingest is not None:
                ingest.terminate()
                ingest.wait(30)


if __name__ == "__main__":
    main()
