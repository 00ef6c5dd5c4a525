"""SQL for the SLA timers: tickets near their deadlines, breach claims, the job table.

`sla_jobs` is APScheduler's job store table (created by migration 0007); the timer service
reads its ids and run times directly to reconcile it with the tickets, which is far cheaper
than unpickling every job through APScheduler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from services.store.tickets import ticket_from_row
from services.tickets import Breach, Ticket

Conn = psycopg.Connection[Any]

JOB_TABLE = "sla_jobs"

# Open tickets with an unflagged deadline due by `until`; the domain decides the rest
# (a paused ticket's deadline moves, so it may not be missed after all).
_NEAR_DEADLINE = """
SELECT * FROM tickets
WHERE site = %(site)s
  AND ticket_is_open(state)  -- migration 0017; tickets_due's predicate
  AND ((responded_at IS NULL AND NOT 'response' = ANY (breaches)
        AND respond_due_at <= %(until)s)
       OR (NOT 'resolution' = ANY (breaches) AND resolve_due_at <= %(until)s))
ORDER BY id
"""


def tickets_near_deadline(conn: Conn, site: str, until: datetime) -> list[Ticket]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_NEAR_DEADLINE, {"site": site, "until": until}).fetchall()
    return [ticket_from_row(row) for row in rows]


def claim_breach(conn: Conn, ticket_id: int, breach: Breach, *, due_at: datetime,
                 at: datetime, worker: str) -> bool:
    """Record that this worker flags the breach; False if some worker already has.

    Run it in the transaction that flags the ticket: the claim and the flag commit or
    roll back together, so a breach is flagged (and escalated) once, by whoever claims it.
    """
    row = conn.execute(
        "INSERT INTO sla_breaches (ticket_id, breach, due_at, flagged_at, worker)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (ticket_id, breach.value, due_at, at, worker),
    ).fetchone()
    return row is not None


def scheduled_jobs(conn: Conn, prefix: str) -> dict[str, float | None]:
    """Job id -> next run time (UTC epoch seconds) of the jobs whose id starts with prefix."""
    rows = conn.execute(
        "SELECT id, next_run_time FROM sla_jobs WHERE starts_with(id, %s)", (prefix,)
    ).fetchall()
    return {str(r[0]): (float(r[1]) if r[1] is not None else None) for r in rows}
