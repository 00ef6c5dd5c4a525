"""SQL for the outbox of notifications (`deliveries`, filled by the ticket service).

Workers lease pending rows with FOR UPDATE SKIP LOCKED, send them outside any transaction,
and record the outcome only while they still hold the lease: two workers never send the
same row at once, and a worker that dies mid-send leaves a lease that expires, so the row
is sent again (at least once). Times of leases and retries are the database's own `now()`,
so the workers' clocks need not agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Pending:
    """A leased delivery with the history entry and the ticket facts it needs."""

    id: int
    kind: str  # status | escalation
    channel: str  # mqtt | webhook
    recipient: str
    attempts: int
    ticket_id: int
    seq: int
    at: datetime
    action: str
    from_state: str | None
    to_state: str
    note: str
    actor_role: str
    breach: str | None
    site: str
    category: str
    priority: str
    state: str
    building: str | None
    area: str
    department: str
    assignee: str
    due_at: datetime | None  # escalation: the deadline that was missed


_CLAIM = """
WITH picked AS (
    SELECT id FROM deliveries
    WHERE site = %(site)s AND done_at IS NULL AND next_attempt_at <= now()
      AND (lease_until IS NULL OR lease_until < now())
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE deliveries d SET leased_by = %(worker)s, lease_until = now() + %(lease)s
    FROM picked WHERE d.id = picked.id
    RETURNING d.*
)
SELECT l.id, l.kind, l.channel, l.recipient, l.attempts, l.ticket_id, l.seq,
       h.at, h.action, h.from_state, h.to_state, h.note, h.actor_role,
       h.data ->> 'breach' AS breach,
       t.site, t.category, t.priority, t.state, t.building, t.area, t.department,
       t.assignee,
       coalesce(b.due_at, CASE h.data ->> 'breach' WHEN 'response' THEN t.respond_due_at
                                                   WHEN 'resolution' THEN t.resolve_due_at
                          END) AS due_at
FROM leased l
JOIN ticket_history h ON h.ticket_id = l.ticket_id AND h.seq = l.seq
JOIN tickets t ON t.id = l.ticket_id
LEFT JOIN sla_breaches b ON b.ticket_id = l.ticket_id AND b.breach = h.data ->> 'breach'
ORDER BY l.id
"""


def claim(conn: Conn, site: str, worker: str, *, limit: int, lease: timedelta) \
        -> list[Pending]:
    """Lease up to `limit` due deliveries of the site for `lease` (commits at once)."""
    with conn.transaction(), conn.cursor(row_factory=class_row(Pending)) as cur:
        return cur.execute(
            _CLAIM, {"site": site, "worker": worker, "limit": limit, "lease": lease}
        ).fetchall()


def finish(conn: Conn, delivery_id: int, worker: str, *, outcome: str, target: str | None,
           error: str | None = None, tried: bool = True) -> bool:
    """Record the final outcome (sent, skipped, failed); False if the lease was lost."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE deliveries SET done_at = now(), outcome = %s, target = %s,"
            " last_error = coalesce(%s, last_error), attempts = attempts + %s,"
            " leased_by = NULL, lease_until = NULL"
            " WHERE id = %s AND leased_by = %s AND done_at IS NULL",
            (outcome, target, error, 1 if tried else 0, delivery_id, worker),
        )
        return cur.rowcount == 1


def retry(conn: Conn, delivery_id: int, worker: str, *, error: str, target: str | None,
          after: timedelta) -> bool:
    """Record a failed attempt and when to try again; False if the lease was lost."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = %s, target = %s,"
            " next_attempt_at = now() + %s, leased_by = NULL, lease_until = NULL"
            " WHERE id = %s AND leased_by = %s AND done_at IS NULL",
            (error, target, after, delivery_id, worker),
        )
        return cur.rowcount == 1


def release(conn: Conn, delivery_ids: list[int], worker: str) -> None:
    """Give leases back untried (stopping, or a target already failing in this batch)."""
    if not delivery_ids:
        return
    with conn.transaction():
        conn.execute(
            "UPDATE deliveries SET leased_by = NULL, lease_until = NULL"
            " WHERE id = ANY(%s) AND leased_by = %s AND done_at IS NULL",
            (delivery_ids, worker),
        )
