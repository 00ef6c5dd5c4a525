"""Which SLA deadlines of a ticket need a timer, and which are already missed.

The timer service asks this of every open ticket near its deadlines: `overdue` deadlines
are flagged now, `upcoming` ones get a timer at their due time. A paused ticket (waiting
for the reporter) gets no timer: its deadlines move when the pause ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.tickets.lifecycle import Breach, Ticket
from services.tickets.sla import new_breaches


@dataclass(frozen=True)
class Deadline:
    ticket_id: int
    breach: Breach
    due_at: datetime


def due_at(ticket: Ticket, breach: Breach) -> datetime:
    return ticket.respond_due_at if breach is Breach.RESPONSE else ticket.resolve_due_at


def _deadline(ticket: Ticket, breach: Breach) -> Deadline:
    if ticket.id is None:
        raise ValueError("a ticket needs its id for a deadline timer")
    return Deadline(ticket.id, breach, due_at(ticket, breach))


def overdue(ticket: Ticket, now: datetime) -> list[Deadline]:
    """Deadlines missed at `now` and not flagged yet (the domain's `new_breaches`)."""
    return [_deadline(ticket, b) for b in new_breaches(ticket, now)]


def upcoming(ticket: Ticket, now: datetime) -> list[Deadline]:
    """Deadlines still running at `now` that could be missed: each needs a timer."""
    if not ticket.is_open or ticket.awaiting_reporter_since is not None:
        return []
    pending = []
    if ticket.responded_at is None and Breach.RESPONSE not in ticket.breaches:
        pending.append(Breach.RESPONSE)
    if ticket.resolved_at is None and Breach.RESOLUTION not in ticket.breaches:
        pending.append(Breach.RESOLUTION)
    return [_deadline(ticket, b) for b in pending if due_at(ticket, b) >= now]
