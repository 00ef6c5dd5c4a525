"""SLA (时限): calendar-time deadlines, paused while waiting for the reporter.

Deadlines are set when a ticket opens (`open_ticket`) and move when a pause ends
(`lifecycle._resume_clock`). These functions judge them at a moment in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.tickets.lifecycle import Breach, Ticket
from services.tickets.model import Priority, SlaTarget

# SPEC §3 defaults, used when the estate config does not say otherwise.
DEFAULT_TARGETS: dict[tuple[str, Priority], SlaTarget] = {
    ("repair_emergency", Priority.EMERGENCY): SlaTarget(timedelta(hours=1), timedelta(hours=24)),
    ("fire_exit", Priority.HIGH): SlaTarget(timedelta(minutes=30), timedelta(hours=4)),
    ("cleaning", Priority.NORMAL): SlaTarget(timedelta(hours=4), timedelta(hours=24)),
    ("litter", Priority.NORMAL): SlaTarget(timedelta(hours=4), timedelta(hours=24)),
    ("repair_routine", Priority.NORMAL): SlaTarget(timedelta(hours=24), timedelta(days=7)),
}
FALLBACK_TARGET = SlaTarget(timedelta(hours=24), timedelta(days=7))


class SlaPolicyError(LookupError):
    pass


@dataclass(frozen=True)
class SlaPolicy:
    """Response and resolution targets per (category, priority)."""

    targets: dict[tuple[str, Priority], SlaTarget]

    def target(self, category: str, priority: Priority) -> SlaTarget:
        try:
            return self.targets[(category, priority)]
        except KeyError:
            raise SlaPolicyError(f"no SLA for category {category!r} at priority {priority}") \
                from None


class Clock(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # waiting for the reporter
    MET = "met"
    BREACHED = "breached"


def _paused_for(ticket: Ticket, now: datetime) -> timedelta:
    since = ticket.awaiting_reporter_since
    return max(now - since, timedelta(0)) if since else timedelta(0)


def response_clock(ticket: Ticket, now: datetime) -> Clock:
    if ticket.responded_at is not None:
        return Clock.MET if ticket.responded_at <= ticket.respond_due_at else Clock.BREACHED
    return _running(ticket, ticket.respond_due_at, now)


def resolution_clock(ticket: Ticket, now: datetime) -> Clock:
    if ticket.resolved_at is not None:
        return Clock.MET if ticket.resolved_at <= ticket.resolve_due_at else Clock.BREACHED
    if not ticket.is_open:  # rejected or unresolvable: no resolution to judge
        return Clock.MET if Breach.RESOLUTION not in ticket.breaches else Clock.BREACHED
    return _running(ticket, ticket.resolve_due_at, now)


def _running(ticket: Ticket, due: datetime, now: datetime) -> Clock:
    if ticket.awaiting_reporter_since is not None:
        # the deadline moves with the pause, so a paused ticket cannot newly breach
        return Clock.BREACHED if ticket.awaiting_reporter_since > due else Clock.PAUSED
    return Clock.BREACHED if now > due else Clock.RUNNING


def new_breaches(ticket: Ticket, now: datetime) -> list[Breach]:
    """Deadlines missed at `now` that have not been flagged yet: what to escalate."""
    if not ticket.is_open:
        return []
    found = []
    if response_clock(ticket, now) is Clock.BREACHED:
        found.append(Breach.RESPONSE)
    if resolution_clock(ticket, now) is Clock.BREACHED:
        found.append(Breach.RESOLUTION)
    return [b for b in found if b not in ticket.breaches]


def remaining(ticket: Ticket, due: datetime, now: datetime) -> timedelta:
    """Time left before `due`, with any running pause added back (negative when late)."""
    return due + _paused_for(ticket, now) - now
