"""Repeated evidence counted per hour, so that a flapping sensor cannot flood a ticket.

A ticket's history is append-only, so repeats are not folded into its last entry: the
first of each kind in an hour is recorded as usual, the rest only counted here; once the
hour is over (and no late reading has touched it for QUIET), `close_runs` hands the count
back, for one entry that sums it up, and forgets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

HOUR = timedelta(hours=1)
# A run is closed this long after its last count, so a device replaying buffered readings
# of a past hour keeps adding to one run rather than opening a new one each tick.
QUIET = timedelta(minutes=1)


@dataclass(frozen=True)
class Run:
    """What happened to one ticket, of one kind, in one hour of the sensor's time."""

    ticket_id: int
    kind: str
    hour: datetime
    metric: str
    count: int
    first_at: datetime
    last_at: datetime
    low: float
    high: float


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def count_evidence(conn: psycopg.Connection[Any], *, ticket_id: int, kind: str, metric: str,
                   at: datetime, value: float, now: datetime) -> int:
    """Count one `kind` on the ticket at `at`; returns how many its hour has so far (1:
    the first, which the caller records in the history)."""
    row = conn.execute(
        "INSERT INTO evidence_runs AS r (ticket_id, kind, hour, metric, count, first_at,"
        " last_at, low, high, touched_at)"
        " VALUES (%(ticket)s, %(kind)s, %(hour)s, %(metric)s, 1, %(at)s, %(at)s, %(value)s,"
        " %(value)s, %(now)s)"
        " ON CONFLICT (ticket_id, kind, hour) DO UPDATE SET count = r.count + 1,"
        " first_at = least(r.first_at, EXCLUDED.first_at),"
        " last_at = greatest(r.last_at, EXCLUDED.last_at),"
        " low = least(r.low, EXCLUDED.low), high = greatest(r.high, EXCLUDED.high),"
        " touched_at = EXCLUDED.touched_at"
        " RETURNING count",
        {"ticket": ticket_id, "kind": kind, "hour": hour_of(at), "metric": metric, "at": at,
         "value": value, "now": now},
    ).fetchone()
    assert row is not None
    return int(row[0])


def close_runs(conn: psycopg.Connection[Any], now: datetime, *, most: int = 1000) -> list[Run]:
    """Take the runs whose hour is over and that have been quiet for QUIET (removed; the
    caller records them in the same transaction). Runs another instance holds are skipped."""
    with conn.cursor(row_factory=class_row(Run)) as cur:
        return cur.execute(
            "DELETE FROM evidence_runs WHERE (ticket_id, kind, hour) IN ("
            " SELECT ticket_id, kind, hour FROM evidence_runs"
            " WHERE hour + %(hour)s <= %(now)s AND touched_at <= %(quiet)s"
            " ORDER BY hour, ticket_id, kind LIMIT %(most)s FOR UPDATE SKIP LOCKED)"
            " RETURNING ticket_id, kind, hour, metric, count, first_at, last_at, low, high",
            {"hour": HOUR, "now": now, "quiet": now - QUIET, "most": most},
        ).fetchall()
