"""A past week's tickets for the simulated estate, so that `sunlight up` has a bulletin to
publish at once: machine-found and resident-reported tickets taken through the real
lifecycle (through the ticket service, with the history it writes), dated last week.

Seeded once, on a database with no tickets before the current week.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg_pool import ConnectionPool

from services.config import EstateConfig
from services.store.accounts import add_person_once
from services.store.ticket_queries import opened_before
from services.store.tickets import NewTicket, TicketStore
from services.tickets import Action, Actor, Channel, Command, Role, Source
from services.tickets.chain import week_bounds

log = logging.getLogger(__name__)

DEMO_RESIDENT = "demo-resident"
VISION = Actor("vision", Role.SYSTEM, "vision service")
INGEST = Actor("ingest", Role.SYSTEM, "sensor rules")


@dataclass(frozen=True)
class _Story:
    """One ticket: when it was opened (days, hours into last week) and how it went."""

    category: str
    source: Source
    building: str | None
    area: str
    day: float
    outcome: str  # fixed, late, rejected, unresolvable, open
    hours: float = 6.0  # to fix
    asset: str | None = None
    rating: int | None = None


STORIES = (
    _Story("lighting", Source.RESIDENT, "b1", "stairwell", 0.4, "fixed", 20, "lamp-b1-s3", 5),
    _Story("fire_exit", Source.CAMERA, "b3", "stairwell", 0.6, "fixed", 1.5),
    _Story("litter", Source.CAMERA, None, "waste-station", 1.3, "fixed", 3),
    _Story("water_leak", Source.SENSOR, "b2", "garage-entrance", 1.8, "fixed", 9),
    _Story("elevator", Source.RESIDENT, "b4", "elevator-hall", 2.2, "late", 40, None, 2),
    _Story("cleaning", Source.RESIDENT, "b2", "lobby", 2.9, "rejected"),
    _Story("lighting", Source.SENSOR, "b1", "stairwell", 3.4, "fixed", 30, "lamp-b1-s3"),
    _Story("repair_routine", Source.STAFF, "b5", "lobby", 3.7, "unresolvable"),
    _Story("litter", Source.RESIDENT, None, "waste-station", 4.5, "fixed", 5, None, 4),
    _Story("lighting", Source.RESIDENT, "b1", "stairwell", 5.3, "fixed", 10, "lamp-b1-s3", 3),
    _Story("repair_routine", Source.RESIDENT, "b3", "lobby", 6.2, "open"),
)


def seed_week(pool: ConnectionPool, estate: EstateConfig, week: str) -> int:
    """Open the week's demo tickets unless the site already has tickets that old; returns
    how many were opened."""
    start, end = week_bounds(week, estate.site.tz)
    with pool.connection() as conn:
        if opened_before(conn, estate.site.id, end):
            return 0
        add_person_once(conn, DEMO_RESIDENT, Role.RESIDENT, "演示住户")
    store = TicketStore(pool)
    for story in STORIES:
        _tell(store, estate, story, start + timedelta(days=story.day))
    log.info("event=demo_history_seeded tickets=%d week_start=%s", len(STORIES),
             start.isoformat())
    return len(STORIES)


def _tell(store: TicketStore, estate: EstateConfig, story: _Story, opened: datetime) -> None:
    category = estate.category(story.category)
    department = estate.department(category.department)
    staff = Actor(department.staff[-1].id, Role.STAFF, department.staff[-1].name,
                  department=department.id)
    desk = Actor(estate.departments[0].staff[-1].id, Role.STAFF,
                 department=estate.departments[0].id)
    resident = Actor(DEMO_RESIDENT, Role.RESIDENT)
    opener = {Source.RESIDENT: resident, Source.STAFF: desk, Source.CAMERA: VISION,
              Source.SENSOR: INGEST}[story.source]
    channel = {Source.RESIDENT: Channel.APP, Source.STAFF: Channel.PHONE}.get(
        story.source, Channel.DEVICE)
    machine = story.source in (Source.CAMERA, Source.SENSOR)
    ticket = store.open(NewTicket(
        site=estate.site.id, category=story.category, priority=category.default_priority,
        source=story.source, channel=channel,
        description=f"{category.name}（演示）", building=story.building, area=story.area,
        opened_at=opened, sla=estate.sla_target(story.category, category.default_priority),
        actor=opener, reporter_id=DEMO_RESIDENT if story.source is Source.RESIDENT else None,
        asset=story.asset,
        finding_key=f"demo/{estate.site.id}/{story.category}/{opened.isoformat()}"
        if machine else None,
    ), link_duplicates=False).ticket
    assert ticket.id is not None
    t = opened
    steps: list[tuple[Action, Actor, dict[str, object]]] = []
    if machine:
        steps.append((Action.CONFIRM, desk, {}))
    if story.outcome == "rejected":
        steps.append((Action.REJECT, desk, {"reason": "重复报告，已并入前一工单"}))
    elif story.outcome == "unresolvable":
        steps += [(Action.ACCEPT, desk, {}),
                  (Action.MARK_UNRESOLVABLE, staff, {"reason": "需业委会批准专项维修资金"})]
    else:
        steps += [(Action.ACCEPT, desk, {}), (Action.VERIFY, staff, {}),
                  (Action.DISPATCH, desk, {"department": department.id,
                                           "assignee": staff.id}),
                  (Action.START, staff, {})]
    gap = timedelta(minutes=20)
    for action, actor, fields in steps:
        t += gap
        store.change(ticket.id, Command(action, actor, t, **fields))  # type: ignore[arg-type]
    if story.outcome in ("fixed", "late"):
        fixed = opened + timedelta(hours=story.hours)
        store.change(ticket.id, Command(Action.RESOLVE, staff, max(fixed, t + gap),
                                        note="已处理，现场恢复正常",
                                        photos=("demo/result.jpg",)))
        if story.rating is not None:
            store.change(ticket.id, Command(Action.RATE, resident,
                                            max(fixed, t + gap) + timedelta(hours=2),
                                            rating=story.rating))
