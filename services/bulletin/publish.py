"""Publishing a week: compute it, seal it into the site's hash chain, store it once.

Publishing is idempotent: a week already published is returned as it is, so a scheduler
that runs twice (or on several workers) never duplicates it. A correction is a new
publication of the same week with the next revision and the reason, linked to the one it
corrects; nothing published is ever edited (the table refuses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import ConnectionPool

from services.bulletin.document import (
    estate_masker,
    summary,
    ticket_entry,
    trend,
    week_over_week,
)
from services.config import EstateConfig
from services.store import bulletin as store
from services.store.known_terms import known_terms
from services.store.timescale import Capabilities, detect
from services.tickets.bulletin import GENESIS, previous_week, seal, week_bounds, week_of

FORMAT = 1  # of the content; bump when its meaning changes


class BulletinError(ValueError):
    """A week that cannot be published (not over yet, nothing to correct, …)."""


@dataclass(frozen=True)
class Published:
    document: dict[str, Any]
    created: bool  # False: the week was already published, this is that publication


def build_content(conn: Any, estate: EstateConfig, week: str, caps: Capabilities,
                  previous_summary: dict[str, Any] | None) -> dict[str, Any]:
    start, end = week_bounds(week, estate.site.tz)
    figures = store.week_figures(conn, store.Week(estate.site.id, start, end), caps)
    masker = estate_masker(estate, known_terms(conn, estate.site.id))  # read at publication
    this = summary(figures, estate, masker)
    tickets = [ticket_entry(row, estate, masker) for row in figures["rows"]]
    return {
        "format": FORMAT,
        "site": {"id": estate.site.id, "name": estate.site.name,
                 "name_en": estate.site.name_en or estate.site.name,
                 "url": estate.site.public_url},
        "week": week,
        "period": {"start": start.isoformat(), "end": end.isoformat(),
                   "timezone": estate.site.timezone},
        "opened_numbers": sorted(t["number"] for t in tickets if t["opened_in_week"]),
        "tickets": tickets,
        "summary": this,
        "week_over_week": week_over_week(this, previous_summary),
        "trend": trend(figures, estate, start),
    }


def _previous_summary(conn: Any, estate: EstateConfig, week: str, caps: Capabilities) \
        -> dict[str, Any]:
    """Last week's summary: as published, or computed when it never was."""
    earlier = previous_week(week)
    published = store.published_week(conn, estate.site.id, earlier)
    if published:
        return dict(published[-1]["content"]["summary"])
    start, end = week_bounds(earlier, estate.site.tz)
    return summary(store.week_figures(conn, store.Week(estate.site.id, start, end), caps),
                   estate)


def publish(pool: ConnectionPool, estate: EstateConfig, week: str, *,
            now: datetime | None = None, correction: str | None = None) -> Published:
    """Publish `week` (once), or with `correction` (the reason) its next revision."""
    now = now or datetime.now(UTC)
    _, end = week_bounds(week, estate.site.tz)
    if end > now:
        raise BulletinError(f"{week} is not over until {end.isoformat()}")
    site = estate.site.id
    with pool.connection() as conn, conn.transaction():
        store.lock_site(conn, site)
        existing = store.published_week(conn, site, week)
        if correction is None and existing:
            return Published(existing[-1], created=False)
        if correction is not None and not existing:
            raise BulletinError(f"{week} was never published: there is nothing to correct")
        if correction is not None and not correction.strip():
            raise BulletinError("a correction needs its reason")
        caps = detect(conn, install=False)
        content = build_content(conn, estate, week, caps,
                                _previous_summary(conn, estate, week, caps))
        chain = store.chain(conn, site)
        document = seal({
            "n": len(chain) + 1,
            "site": site,
            "week": week,
            "revision": len(existing) + 1,
            "corrects": existing[-1]["hash"] if existing else None,
            "reason": correction.strip() if correction else "",
            "published_at": now.astimezone(estate.site.tz).isoformat(),
            "prev_hash": chain[-1]["hash"] if chain else GENESIS,
            "content": content,
        })
        store.insert(conn, document)
    return Published(document, created=True)


def due_at(estate: EstateConfig, week: str) -> datetime:
    """When `week` is published: the configured weekday and time after it ends."""
    _, end = week_bounds(week, estate.site.tz)
    schedule = estate.site.bulletin
    day = (end + timedelta(days=schedule.weekday.iso - 1)).date()
    return datetime.combine(day, schedule.time, tzinfo=estate.site.tz)


def last_due_week(estate: EstateConfig, now: datetime) -> str:
    """The latest week whose publication time has passed."""
    week = previous_week(week_of(now, estate.site.tz))
    return week if now >= due_at(estate, week) else previous_week(week)
