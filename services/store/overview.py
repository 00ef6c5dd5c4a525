"""The manager's overview: open tickets counted by state and department, and the late ones.

Counts are grouped in SQL (an estate may hold years of tickets); whether a deadline is
missed is the domain's call, so `late_candidates` only narrows the rows to ask about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from services.store.tickets import ticket_from_row
from services.tickets import State, Ticket
from services.tickets.states import OPEN

__all__ = ["OpenCount", "late_candidates", "open_counts"]

Conn = psycopg.Connection[Any]
_OPEN = sorted(s.value for s in OPEN)


@dataclass(frozen=True)
class OpenCount:
    state: State
    department: str  # '' until the ticket is dispatched
    category: str
    tickets: int
    breached: int  # of them, flagged for a missed deadline


def open_counts(conn: Conn, site: str) -> list[OpenCount]:
    rows = conn.execute(
        "SELECT state, department, category, count(*),"
        " count(*) FILTER (WHERE breaches <> '{}')"
        " FROM tickets WHERE site = %s AND state = ANY(%s)"
        " GROUP BY state, department, category",
        (site, _OPEN),
    ).fetchall()
    return [OpenCount(State(state), department, category, int(n), int(late))
            for state, department, category, n, late in rows]


def late_candidates(conn: Conn, site: str, now: datetime, *, limit: int = 50) -> list[Ticket]:
    """Open tickets flagged late, or past a deadline (a paused clock may still save them)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM tickets WHERE site = %s AND state = ANY(%s)"
            " AND (breaches <> '{}' OR resolve_due_at < %s"
            "      OR (responded_at IS NULL AND respond_due_at < %s))"
            " ORDER BY resolve_due_at, id LIMIT %s",
            (site, _OPEN, now, now, limit),
        ).fetchall()
    return [ticket_from_row(r) for r in rows]
