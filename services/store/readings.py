"""Sensor readings: idempotent bulk writes and bucketed reads.

COPY cannot skip conflicts, so rows are copied into a temporary table and moved with
INSERT … ON CONFLICT DO NOTHING: a redelivered message is stored once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from services.store.timescale import Capabilities


@dataclass(frozen=True)
class Reading:
    time: datetime
    site: str
    device_id: str
    metric: str
    value: float
    message_id: str


@dataclass(frozen=True)
class Bucket:
    start: datetime
    count: int
    mean: float
    low: float
    high: float


_COLUMNS = ("time", "site", "device_id", "metric", "value", "message_id")


def insert_readings(conn: psycopg.Connection[tuple[object, ...]], rows: Iterable[Reading]) -> int:
    """Store readings in the caller's transaction; returns how many were new."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS readings_in"
        " (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with conn.cursor() as cur:
        with cur.copy(
            "COPY readings_in (time, site, device_id, metric, value, message_id) FROM STDIN"
        ) as copy:
            for r in rows:
                copy.write_row((r.time, r.site, r.device_id, r.metric, r.value, r.message_id))
        cur.execute(
            # received_at: when the row was written (the commit follows), for lag figures
            "INSERT INTO readings (time, site, device_id, metric, value, message_id,"
            " received_at) SELECT time, site, device_id, metric, value, message_id,"
            " clock_timestamp() FROM readings_in ON CONFLICT DO NOTHING"
        )
        stored = cur.rowcount
        cur.execute("TRUNCATE readings_in")
    return stored


def bucketed(
    conn: psycopg.Connection[tuple[object, ...]],
    caps: Capabilities,
    *,
    device_id: str,
    metric: str,
    width: timedelta,
    start: datetime,
    end: datetime,
) -> list[Bucket]:
    """Readings of one device and metric in [start, end), averaged per bucket of `width`."""
    bucket = caps.bucket_sql("width")
    query = (
        f"SELECT {bucket} AS bucket, count(*)::int, avg(value), min(value), max(value)"
        " FROM readings WHERE device_id = %(device)s AND metric = %(metric)s"
        " AND time >= %(start)s AND time < %(end)s GROUP BY 1 ORDER BY 1"
    )
    rows = conn.execute(
        query.encode(),
        {"width": width, "device": device_id, "metric": metric, "start": start, "end": end},
    ).fetchall()
    return [Bucket(*row) for row in rows]  # type: ignore[arg-type]
