"""A new report, checked against the estate config: category, place, priority and SLA.

Shared by the resident API, Open311 and the staff's offline reports, so a report means
the same whichever way it comes in.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from services.board.problems import Problem
from services.config import EstateConfig, Location
from services.store import NewTicket
from services.tickets import Actor, Channel, Priority, Source

__all__ = ["new_report"]


def _location(estate: EstateConfig, building: str | None, area: str) -> None:
    try:
        location = Location(building=building or None, area=area)
    except ValidationError:
        raise Problem.field(422, "validation", "area", f"'{area}' is not a place id") from None
    if location.building is not None:
        try:
            estate.building(location.building)
        except KeyError as exc:
            raise Problem.field(422, "validation", "building", str(exc.args[0])) from None
    try:
        estate.area(location)
    except KeyError as exc:
        raise Problem.field(422, "validation", "area", str(exc.args[0])) from None


def new_report(estate: EstateConfig, *, category: str, building: str | None, area: str,
               description: str, actor: Actor, source: Source, channel: Channel,
               reporter_id: str | None, at: datetime, priority: Priority | None = None) \
        -> NewTicket:
    """The ticket a report opens (or is linked to); 422 problems name the bad field."""
    try:
        found = estate.category(category)
    except KeyError as exc:
        raise Problem.field(422, "validation", "category", str(exc.args[0])) from None
    _location(estate, building, area)
    description = description.strip()
    if not description:
        raise Problem.field(422, "validation", "description", "say what the problem is")
    chosen = priority or found.default_priority
    try:
        sla = estate.sla_target(category, chosen)
    except KeyError as exc:
        raise Problem.field(422, "validation", "priority", str(exc.args[0])) from None
    return NewTicket(
        site=estate.site.id, category=category, priority=chosen, source=source,
        channel=channel, description=description, building=building or None, area=area,
        opened_at=at, sla=sla, actor=actor, reporter_id=reporter_id,
    )
