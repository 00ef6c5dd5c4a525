"""Sensor readings: idempotent bulk writes and bucketed reads.

COPY cannot skip conflicts, so rows are copied into a temporary table, the rows of a
message stored before are dropped there (its id is claimed, services/store/message_ids.py)
and the rest moved with one INSERT … SELECT: a redelivered message is stored once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from services.store.message_ids import claim_staged
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


def insert_readings(conn: psycopg.Connection[tuple[object, ...]], rows: Iterable[Reading], *,
                    seen_at: datetime | None = None) -> int:
    """Store readings in the caller's transaction, each message once (its id claimed at
    `seen_at`, default now); returns how many rows were new."""
    stage_readings(conn, rows)
    claim_staged(conn, "readings_in", seen_at)
    return move_readings(conn)


def stage_readings(conn: psycopg.Connection[tuple[object, ...]], rows: Iterable[Reading]) \
        -> None:
    """COPY readings into the transaction's temporary table `readings_in`."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS readings_in"
        " (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with conn.cursor() as cur, cur.copy(
        "COPY readings_in (time, site, device_id, metric, value, message_id) FROM STDIN"
    ) as copy:
        for r in rows:
            copy.write_row((r.time, r.site, r.device_id, r.metric, r.value, r.message_id))


def move_readings(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Store what `readings_in` holds; returns how many rows were new."""
    with conn.cursor() as cur:
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
