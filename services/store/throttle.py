"""Counters of failed sign-ins and invitation-code guesses (`sign_in_throttle`), shared
by every board worker. Each key counts failures since it last went quiet for `forget`,
and carries until when a further try is refused; the delays are the caller's
(services.board.throttle). Reading is one indexed query, so a refusal costs little.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

__all__ = ["clear", "fail", "state"]

Conn = psycopg.Connection[Any]


def state(conn: Conn, keys: Sequence[str], now: datetime, forget: timedelta) \
        -> dict[str, tuple[int, datetime]]:
    """For each of `keys` still remembered: its failures and until when it is blocked."""
    rows = conn.execute(
        "SELECT key, failures, blocked_until FROM sign_in_throttle"
        " WHERE key = ANY(%s) AND last_failure > %s", (list(keys), now - forget),
    ).fetchall()
    return {row[0]: (int(row[1]), row[2]) for row in rows}


def fail(conn: Conn, key: str, now: datetime, *, forget: timedelta, free: int,
         first_delay: timedelta, longest: timedelta) -> tuple[int, datetime]:
    """Count one failure; the `free`-th and each one after it block the key for a delay
    that starts at `first_delay` and doubles, up to `longest`. Returns (failures, blocked
    until)."""
    # keys quiet for a day are done with, so the table stays as small as the attack
    conn.execute("DELETE FROM sign_in_throttle WHERE last_failure < %s",
                 (now - max(forget, timedelta(days=1)),))
    row = conn.execute(
        """
        INSERT INTO sign_in_throttle AS t (key, failures, last_failure, blocked_until)
        VALUES (%(key)s, 1, %(now)s, %(now)s)
        ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN t.last_failure > %(now)s - %(forget)s
                            THEN t.failures + 1 ELSE 1 END,
            last_failure = %(now)s
        RETURNING failures
        """,
        {"key": key, "now": now, "forget": forget},
    ).fetchone()
    assert row is not None
    failures = int(row[0])
    over = failures - free  # from the `free`-th failure on, each one makes the next wait
    blocked_until = now
    if over >= 0:
        blocked_until = now + min(first_delay * 2 ** min(over, 30), longest)
    conn.execute("UPDATE sign_in_throttle SET blocked_until = %s WHERE key = %s",
                 (blocked_until, key))
    return failures, blocked_until


def clear(conn: Conn, key: str) -> None:
    conn.execute("DELETE FROM sign_in_throttle WHERE key = %s", (key,))
