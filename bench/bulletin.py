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
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.conninfo import make_conninfo

from services.bulletin.publish import publish
from services.config import load_config
from services.store import migrate
from services.store.db import open_pool
from services.tickets.bulletin import week_bounds, week_of

SERVER = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ESTATE = load_config("deploy/estate.example.yaml")

_TICKETS = """
INSERT INTO tickets (site, category, priority, source, channel, state, description,
    building, area, asset, opened_at, sla_respond, sla_resolve, respond_due_at,
    resolve_due_at, department, assignee, responded_at, resolved_at, closed_at,
    result_notes, reason, rating, updated_at)
SELECT %(site)s, c.code, 'normal', s.source,
       CASE WHEN s.source IN ('camera', 'sensor') THEN 'device' ELSE 'app' END,
       CASE WHEN f.rejected THEN 'rejected' WHEN f.open_now THEN 'in_progress'
            WHEN f.rated THEN 'closed' ELSE 'resolved' END,
       'generated', 'b' || (1 + g %% 6), 'lobby',
       CASE WHEN g %% 5 = 0 THEN 'lamp-' || (g %% 300) END,
       o.opened, interval '4 hours', interval '24 hours',
       o.opened + interval '4 hours', o.opened + interval '24 hours',
       c.department, c.person,
       o.opened + (g %% 9) * interval '1 hour',
       CASE WHEN f.fixed THEN o.opened + (2 + g %% 47) * interval '1 hour' END,
       CASE WHEN f.rated THEN o.opened + (3 + g %% 47) * interval '1 hour' END,
       'fixed', CASE WHEN f.rejected THEN 'duplicate' ELSE '' END,
       CASE WHEN f.rated THEN 1 + g %% 5 END,
       o.opened + (3 + g %% 47) * interval '1 hour'
FROM generate_series(1, %(n)s) AS g
CROSS JOIN LATERAL (SELECT %(end)s::timestamptz - (g::float / %(n)s) * interval '728 days'
                    AS opened) o
-- a twentieth rejected; a seventh of the last two weeks' still in progress; a third rated
CROSS JOIN LATERAL (SELECT g %% 20 = 0 AS rejected,
                           g %% 20 <> 0 AND g %% 7 = 0 AND g * 728 < %(n)s * 14 AS open_now)
                    f0
CROSS JOIN LATERAL (SELECT f0.rejected, f0.open_now,
                           NOT f0.rejected AND NOT f0.open_now AS fixed,
                           NOT f0.rejected AND NOT f0.open_now AND g %% 3 = 0 AS rated) f
CROSS JOIN LATERAL (SELECT (ARRAY['resident', 'camera', 'sensor', 'staff'])[1 + g %% 4]
                    AS source) s
CROSS JOIN LATERAL (SELECT * FROM (VALUES
    (0, 'lighting', 'engineering', 'GC-007'), (1, 'litter', 'cleaning', 'BJ-002'),
    (2, 'repair_routine', 'engineering', 'GC-003'), (3, 'fire_exit', 'security', 'AB-002'),
    (4, 'cleaning', 'cleaning', 'BJ-003')) v(k, code, department, person)
    WHERE v.k = g %% 5) c
"""

# each ticket's history, consistent with its row: open, accept, dispatch, then its end
_HISTORY = """
INSERT INTO ticket_history (ticket_id, seq, at, actor_id, actor_role, action, from_state,
    to_state, note, data)
SELECT t.id, e.seq, e.at, 'gen', e.role, e.action, e.from_state, e.to_state, e.note, e.data
FROM tickets t
CROSS JOIN LATERAL (VALUES
    (1, t.opened_at, 'resident', 'open', NULL, 'reported', '', '{}'::jsonb),
    (2, t.responded_at, 'staff',
        CASE WHEN t.state = 'rejected' THEN 'reject' ELSE 'accept' END, 'reported',
        CASE WHEN t.state = 'rejected' THEN 'rejected' ELSE 'accepted' END, t.reason,
        '{}'::jsonb),
    (3, t.responded_at + interval '1 minute', 'staff', 'dispatch', 'accepted', 'dispatched',
        '', jsonb_build_object('department', t.department, 'assignee', t.assignee)),
    (4, t.resolved_at, 'staff', 'resolve', 'in_progress', 'resolved', t.result_notes,
        '{}'::jsonb),
    (5, t.closed_at, 'resident', 'rate', 'resolved', 'closed', '',
        jsonb_build_object('rating', t.rating::text))
) AS e(seq, at, role, action, from_state, to_state, note, data)
WHERE e.at IS NOT NULL AND (t.state <> 'rejected' OR e.seq <= 2)
"""

_READINGS = """
INSERT INTO readings (time, site, device_id, metric, value, message_id)
SELECT %(end)s::timestamptz - (g::float / %(n)s) * interval '728 days', %(site)s,
       'sensor-' || (g %% 200), 'value', (g %% 1000) / 10.0, 'r-' || g
FROM generate_series(1, %(n)s) AS g
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    name = f"sunlight_bench_bulletin_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    url = make_conninfo(SERVER, dbname=name)
    try:
        migrate.upgrade(url)
        now = datetime.now(UTC)
        week = week_of(now - timedelta(days=7), ESTATE.site.tz)
        _, end = week_bounds(week, ESTATE.site.tz)
        site = ESTATE.site.id
        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            conn.execute("ALTER TABLE ticket_history DISABLE TRIGGER USER")  # bulk load only
            conn.execute(_TICKETS, {"site": site, "n": args.tickets, "end": end})
            conn.execute(_HISTORY)
            conn.execute("ALTER TABLE ticket_history ENABLE TRIGGER USER")
            conn.execute(_READINGS, {"site": site, "n": args.readings, "end": end})
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
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
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)'.encode())


if __name__ == "__main__":
    main()
