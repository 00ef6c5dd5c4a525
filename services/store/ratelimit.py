"""Rate limits counted in PostgreSQL, so they hold across every board worker.

`hit` counts fixed windows in `rate_limits` (failed logins and the like), and `hits`
adds the window before the current one, so that a window boundary never hands out a
fresh allowance: whatever happened in the last `window` is always counted;
`reports_since` counts a resident's reports in a sliding window straight from
`ticket_reports`, under a per-resident lock so two reports at once cannot both pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

__all__ = ["hit", "hits", "lock_reporter", "reports_since"]

Conn = psycopg.Connection[Any]
_EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


def _window_start(now: datetime, window: timedelta) -> datetime:
    return now - (now - _EPOCH) % window


def hit(conn: Conn, bucket: str, now: datetime, window: timedelta) -> int:
    """Count one hit in the current window; returns the window's count including it."""
    start = _window_start(now, window)
    # windows before the previous one are done with: this bucket's, and anyone's older
    # than a day, so the table stays as small as the number of buckets active now
    conn.execute("DELETE FROM rate_limits WHERE (bucket = %s AND window_start < %s)"
                 " OR window_start < %s", (bucket, start - window, now - timedelta(days=1)))
    row = conn.execute(
        "INSERT INTO rate_limits (bucket, window_start, hits) VALUES (%s, %s, 1)"
        " ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1"
        " RETURNING hits",
        (bucket, start),
    ).fetchone()
    assert row is not None
    return int(row[0])


def hits(conn: Conn, bucket: str, now: datetime, window: timedelta) -> int:
    """Hits in the current window and the one before it."""
    start = _window_start(now, window)
    row = conn.execute(
        "SELECT coalesce(sum(hits), 0) FROM rate_limits WHERE bucket = %s"
        " AND window_start IN (%s, %s)", (bucket, start, start - window),
    ).fetchone()
    return int(row[0]) if row else 0


def lock_reporter(conn: Conn, person_id: str) -> None:
    """Serialise one resident's reports until the caller's transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('report:' || %s))", (person_id,))


def reports_since(conn: Conn, person_id: str, since: datetime) -> tuple[int, datetime | None]:
    """How many reports the person filed after `since`, and when the oldest of them was."""
    row = conn.execute(
        "SELECT count(*), min(reported_at) FROM ticket_reports"
        " WHERE reporter_id = %s AND reported_at > %s AND merged_from IS NULL",
        (person_id, since),
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1]
