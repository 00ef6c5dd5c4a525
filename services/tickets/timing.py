"""Time-to-fix and the percentiles the bulletin reports (median and p90, never means)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from services.tickets.lifecycle import Ticket


def time_to_fix(ticket: Ticket) -> timedelta | None:
    """Resolved time minus first report or first detection; None while not resolved."""
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
