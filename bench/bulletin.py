"""Bulletin benchmark: the time to compute and publish one week for an estate with two
years of history (about 100,000 tickets with their histories, and 10 million sensor
readings).

Run: .venv/bin/python -m bench.bulletin [--tickets 100000] [--readings 10000000]

The history is generated in SQL (generate_series) into a fresh database on the real
PostgreSQL (DATABASE_URL's server, default 127.0.0.1:5432): tickets of every category,
source and outcome spread over 104 weeks, each with an open, accept, dispatch and resolve
(or reject) in its history, some rated; readings from 200 sensors. Then the last complete
week is published (compute, seal, store) five times on fresh copies of the chain, and the
median is reported; the database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg

from bench.history import generate, scratch_database
from services.bulletin.publish import publish
from services.config import load_config
from services.store.db import open_pool
from services.tickets.chain import week_bounds, week_of

ESTATE = load_config("deploy/estate.example.yaml")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with scratch_database("sunlight_bench_bulletin") as url:
        _run(url, args)


def _run(url: str, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    week = week_of(now - timedelta(days=7), ESTATE.site.tz)
    _, end = week_bounds(week, ESTATE.site.tz)
    site = ESTATE.site.id
    started = time.perf_counter()
    generate(url, site, end, args.tickets, args.readings)
    with psycopg.connect(url, autocommit=True) as conn:
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()
        history = conn.execute("SELECT count(*) FROM ticket_history").fetchone()
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()
    print(f"generated in {time.perf_counter() - started:.0f} s: {tickets[0]:,} tickets,"
          f" {history[0]:,} history entries, {readings[0]:,} readings over 104 weeks")
    pool = open_pool(url, max_size=2, name="bench-bulletin")
    times = []
    try:
        for run in range(args.runs):
            with pool.connection() as conn:  # a fresh chain each run (bench only)
                conn.execute("ALTER TABLE bulletins DISABLE TRIGGER USER")
                conn.execute("DELETE FROM bulletin_texts")  # the openings refer to them
                conn.execute("DELETE FROM bulletins")
                conn.execute("ALTER TABLE bulletins ENABLE TRIGGER USER")
            t0 = time.perf_counter()
            result = publish(pool, ESTATE, week, now=now)
            times.append(time.perf_counter() - t0)
            if run == 0:
                s = result.document["content"]["summary"]
                print(f"week {week}: {s['listed']} tickets listed ({s['opened']} opened),"
                      f" {len(s['hot_spots'])} hot spots")
    finally:
        pool.close()
    print(f"compute and publish one week: median {statistics.median(times) * 1000:.0f} ms"
          f" (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}) over {args.runs}"
          " runs; last week not yet published each time, so its summary is computed too")


if __name__ == "__main__":
    main()
