"""Repeated evidence counted per hour, so that a flapping sensor cannot flood a ticket.

A ticket's history is append-only, so repeats are not folded into its last entry: the
first of each kind in an hour is recorded as usual, the rest only counted here; once the
hour is over (and no late reading has touched it for QUIET), `close_runs` hands the count
back, for one entry that sums it up, and forgets it.
"""

from __future__ import annotations

from collections.abc import Mapping
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


RunKey = tuple[int, str, datetime]  # (ticket_id, kind, hour)


@dataclass
class Tally:
    """One batch's count of a run, kept in memory until the batch is written."""

    metric: str
    count: int
    first_at: datetime
    first_value: float
    last_at: datetime
    low: float
    high: float

    @classmethod
    def one(cls, metric: str, at: datetime, value: float) -> Tally:
        return cls(metric, 1, at, value, at, value, value)

    def add(self, at: datetime, value: float) -> None:
        self.count += 1
        if at < self.first_at:
            self.first_at, self.first_value = at, value
        self.last_at = max(self.last_at, at)
        self.low, self.high = min(self.low, value), max(self.high, value)


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def add_runs(conn: psycopg.Connection[Any], tallies: Mapping[RunKey, Tally], now: datetime) \
        -> set[RunKey]:
    """Add a batch's counts to their runs (one statement); returns the runs that begin
    with this batch: their first is for the caller to record in the history."""
    if not tallies:
        return set()
    keys, values = list(tallies), list(tallies.values())
    rows = conn.execute(
        "INSERT INTO evidence_runs AS r (ticket_id, kind, hour, metric, count, first_at,"
        " last_at, low, high, touched_at)"
        " SELECT *, %s FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[],"
        " %s::int[], %s::timestamptz[], %s::timestamptz[], %s::float8[], %s::float8[])"
        " ON CONFLICT (ticket_id, kind, hour) DO UPDATE SET count = r.count + EXCLUDED.count,"
        " first_at = least(r.first_at, EXCLUDED.first_at),"
        " last_at = greatest(r.last_at, EXCLUDED.last_at),"
        " low = least(r.low, EXCLUDED.low), high = greatest(r.high, EXCLUDED.high),"
        " touched_at = EXCLUDED.touched_at"
        " RETURNING ticket_id, kind, hour, count",
        (now, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
         [t.metric for t in values], [t.count for t in values],
         [t.first_at for t in values], [t.last_at for t in values],
         [t.low for t in values], [t.high for t in values]),
    ).fetchall()
    # a run that existed had at least one count before: only a new one has the batch's
    return {(r[0], r[1], r[2]) for r in rows if r[3] == tallies[(r[0], r[1], r[2])].count}


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
