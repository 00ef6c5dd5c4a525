"""Idempotency keys: what a keyed request created, stored in the transaction that created it.

A retry with the same key reads back the ticket instead of filing the report again. The
per-key advisory lock makes a retry that overlaps the first attempt (the client gave up
waiting, the first is still running) wait for it, and then see what it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

__all__ = ["KEY_TTL", "Remembered", "lock_key", "recall", "remember"]

Conn = psycopg.Connection[Any]
# How long a key is remembered: far longer than any client retries, short enough that the
# table stays small (a person's expired keys go when they send their next keyed request).
KEY_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Remembered:
    ticket_id: int
    created: bool  # False: the report was linked to an open ticket of the same problem
    fingerprint: bytes  # of the request that used the key first


def lock_key(conn: Conn, owner_id: str, key: str) -> None:
    """Serialise requests with one key until the caller's transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                 (f"idempotency:{owner_id}:{key}",))


def recall(conn: Conn, owner_id: str, key: str, now: datetime) -> Remembered | None:
    """What a request with this key created in the last KEY_TTL, if any."""
    row = conn.execute(
        "SELECT ticket_id, created, fingerprint FROM idempotency_keys"
        " WHERE owner_id = %s AND key = %s AND created_at > %s",
        (owner_id, key, now - KEY_TTL),
    ).fetchone()
    if row is None:
        return None
    ticket_id, created, fingerprint = row
    return Remembered(int(ticket_id), bool(created), bytes(fingerprint))


def remember(conn: Conn, *, owner_id: str, key: str, operation: str, fingerprint: bytes,
             ticket_id: int, created: bool, now: datetime) -> None:
    """Record what the keyed request created, in the caller's (creating) transaction."""
    conn.execute("DELETE FROM idempotency_keys WHERE owner_id = %s AND created_at <= %s",
                 (owner_id, now - KEY_TTL))
    conn.execute(
        "INSERT INTO idempotency_keys (owner_id, key, operation, fingerprint, ticket_id,"
        " created, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (owner_id, key, operation, fingerprint, ticket_id, created, now),
    )
