"""Test oracles for the bulletin's figures: what SQL computes, written plainly in Python.

The authority is SQL (services/store/bulletin_figures.py): the bulletin computes its figures
over the history in the database, at any scale. These functions say the same thing one
ticket at a time, so that tests can check the SQL on generated histories
(tests/integration/test_bulletin_oracle.py); no service computes a published figure
with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from services.tickets.lifecycle import Ticket
from services.tickets.states import DECLINED


def time_to_fix(ticket: Ticket) -> timedelta | None:
    """Resolved time minus first report or first detection; None while not resolved (a
    reopened ticket counts from its last resolution)."""
    if ticket.resolved_at is None:
        return None
    return ticket.resolved_at - ticket.opened_at


def percentile(values: Sequence[timedelta], q: float) -> timedelta | None:
    """Linear-interpolated percentile (as PostgreSQL's percentile_cont), q in [0, 1]."""
    if not 0 <= q <= 1:
        raise ValueError("q must be between 0 and 1")
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def bulletin_sla(ticket: Ticket, cutoff: datetime) -> tuple[str, str]:
    """How the bulletin judges a ticket's response and resolution at the week's cut-off
    (`ticket` as it stood then): `met`, `breached`, `running`, or `n/a` for the
    resolution of a declined ticket.

    Unlike the live clocks (services/tickets/sla.py), a pause for the reporter does not
    hold the judgement: a deadline passed by the cut-off is missed unless the ticket was
    answered (or resolved) by it."""
    if ticket.responded_at is not None:
        response = "met" if ticket.responded_at <= ticket.respond_due_at else "breached"
    else:
        response = "breached" if ticket.respond_due_at < cutoff else "running"
    if ticket.state in DECLINED:
        resolution = "n/a"
    elif ticket.resolved_at is not None:
        resolution = "met" if ticket.resolved_at <= ticket.resolve_due_at else "breached"
    else:
        resolution = "breached" if ticket.resolve_due_at < cutoff else "running"
    return response, resolution
