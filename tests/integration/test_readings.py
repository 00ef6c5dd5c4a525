"""Readings: idempotent COPY writes and buckets that match time_bucket's alignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from services.store.readings import Reading, bucketed, insert_readings
from services.store.timescale import Capabilities, detect

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def _rows(device: str) -> list[Reading]:
    return [
        Reading(T0 + timedelta(minutes=m), "test-estate", device, "temperature_c", float(m),
                f"{device}-{m}")
        for m in range(120)
    ]


def test_redelivered_readings_are_stored_once(database_url: str) -> None:
    rows = _rows("temp-dup")
    with psycopg.connect(database_url) as conn:
        assert insert_readings(conn, rows) == 120
        assert insert_readings(conn, rows[:50] + rows[-10:]) == 0
        conn.commit()
        count = conn.execute(
            "SELECT count(*) FROM readings WHERE device_id = 'temp-dup'"
        ).fetchone()
    assert count == (120,)


def test_buckets_on_this_server(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        insert_readings(conn, _rows("temp-bucket"))
        conn.commit()
        caps = detect(conn, install=False)
        buckets = bucketed(conn, caps, device_id="temp-bucket", metric="temperature_c",
                           width=timedelta(minutes=15), start=T0, end=T0 + timedelta(hours=2))
    assert len(buckets) == 8
    assert buckets[0].start == T0 and buckets[1].start == T0 + timedelta(minutes=15)
    assert [b.count for b in buckets] == [15] * 8
    assert buckets[0].mean == 7.0 and (buckets[0].low, buckets[0].high) == (0.0, 14.0)


def test_week_buckets_start_on_monday_like_time_bucket(database_url: str) -> None:
    """date_bin with time_bucket's origin (2000-01-03, a Monday) gives the same weeks."""
    plain = Capabilities(timescale=False, tsl=False)
    sunday = datetime(2026, 11, 29, 12, tzinfo=UTC)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            f"SELECT {plain.bucket_sql('w', '%(t)s::timestamptz')}".encode(),
            {"w": timedelta(days=7), "t": sunday},
        ).fetchone()
    assert row is not None
    assert row[0] == datetime(2026, 11, 23, tzinfo=UTC)
    assert Capabilities(timescale=True, tsl=False).bucket_sql("w").startswith("time_bucket(")
