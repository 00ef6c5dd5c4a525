"""Duplicate reports: the same category near the same place while a ticket is open."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.tickets.lifecycle import Ticket


@dataclass(frozen=True)
class Place:
    site: str
    category: str
    building: str | None
    area: str
    asset: str | None = None


def same_place(ticket: Ticket, place: Place) -> bool:
    if (ticket.site, ticket.category) != (place.site, place.category):
        return False
    if place.asset and ticket.asset:
        return place.asset == ticket.asset
    return (ticket.building, ticket.area) == (place.building, place.area)


def find_duplicate(place: Place, candidates: Iterable[Ticket]) -> Ticket | None:
    """The oldest open ticket a new report at `place` duplicates, if any."""
    matches = [t for t in candidates if t.is_open and same_place(t, place)]
    return min(matches, key=lambda t: t.opened_at, default=None)
