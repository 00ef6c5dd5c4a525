"""Review before sealing: a week's bulletin is first a draft, read and edited by the
manager (and the owners' committee, if configured), then sealed into the chain.

The draft is made at the configured time after the week ends (Monday 08:00 by default)
with the week's figures, its texts already masked and the masked spans kept as data
(services/bulletin/spans.py). Reviewers may remove a field (已删除), mask a span of it or
replace a measure or reason (the new text masked too), then seal it. Whatever nobody
sealed is sealed at the review deadline (Tuesday 12:00 by default), and a week that was
never drafted (the board was down) is sealed straight away once its deadline passed:
publication is never skipped. Each step is in the audit log, in its own transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from psycopg_pool import ConnectionPool

from services.bulletin import spans as spanning
from services.bulletin.document import estate_masker, mask
from services.bulletin.publish import (
    BulletinError,
    Published,
    build_content,
    build_draft,
    last_due_week,
    last_sealable_week,
    previous_summary,
    seal_by,
    seal_content,
)
from services.config import EstateConfig
from services.store import bulletin_drafts as drafts
from services.store import bulletin_figures as store
from services.store.audit import AuditEntry, record
from services.store.known_terms import known_terms
from services.store.timescale import detect
from services.tickets.bulletin_model import Content
from services.tickets.chain import week_bounds
from services.tickets.commitments import REDACTED

log = logging.getLogger(__name__)

# what a review step writes to the audit log: (action, summary) -> the entry
Audit = Callable[[str, str], AuditEntry]
_FIELD = re.compile(r"^tickets/(\d+)/(description|measures|reason)$")
REPLACEABLE = ("measures", "reason")  # staff-written texts a reviewer may rewrite
TEXT_LIMIT = 500


class DraftNotFound(BulletinError):
    """No draft of that week (never made, or sealed already)."""


def system_audit(estate: EstateConfig, week: str, now: datetime) -> Audit:
    """Audit entries for the scheduler's own steps."""
    def entry(action: str, summary: str) -> AuditEntry:
        return AuditEntry(site=estate.site.id, at=now, role="system", action=action,
                          actor_name="scheduler", target=f"week:{week}", summary=summary)
    return entry


def prepare(pool: ConnectionPool, estate: EstateConfig, week: str,
            now: datetime | None = None) -> drafts.Draft | None:
    """Make the week's draft unless it exists or the week is published (None then)."""
    now = now or datetime.now(UTC)
    _, end = week_bounds(week, estate.site.tz)
    if end > now:
        raise BulletinError(f"{week} is not over until {end.isoformat()}")
    site = estate.site.id
    with pool.connection() as conn, conn.transaction():
        store.lock_site(conn, site)
        if store.published_week(conn, site, week):
            return None
        existing = drafts.get(conn, site, week)
        if existing is not None:
            return existing
        content, spans = build_draft(conn, estate, week)
        draft = drafts.Draft(site, week, now, now, seal_by(estate, week),
                             cast(dict[str, Any], content), spans)
        drafts.save(conn, draft)
    log.info("event=bulletin_drafted site=%s week=%s seal_by=%s", site, week,
             draft.seal_by.isoformat())
    return draft


def read(pool: ConnectionPool, estate: EstateConfig, week: str, audit: Audit) -> drafts.Draft:
    """The draft, for a reviewer (the reading is logged)."""
    with pool.connection() as conn, conn.transaction():
        draft = drafts.get(conn, estate.site.id, week)
        if draft is None:
            raise DraftNotFound(f"{week} has no draft under review")
        record(conn, audit("bulletin.review.view", ""))
    return draft


def listed(pool: ConnectionPool, estate: EstateConfig) -> list[drafts.Draft]:
    with pool.connection() as conn:
        return drafts.listed(conn, estate.site.id)


def _ticket(content: dict[str, Any], field: str) -> tuple[dict[str, Any], str]:
    match = _FIELD.match(field)
    if match:
        number, key = int(match[1]), match[2]
        for ticket in content.get("tickets", []):
            if ticket.get("number") == number and key in ticket:
                return ticket, key
    raise BulletinError(f"the draft has no text field {field!r}"
                        " (tickets/<number>/description|measures|reason)")


def _edit(pool: ConnectionPool, estate: EstateConfig, week: str, *, now: datetime,
          change: Callable[[drafts.Draft], tuple[dict[str, Any], list[spanning.Span], str]],
          action: str, audit: Audit) -> drafts.Draft:
    with pool.connection() as conn, conn.transaction():
        draft = drafts.get(conn, estate.site.id, week, lock=True)
        if draft is None:
            raise DraftNotFound(f"{week} has no draft under review")
        content, spans, summary = change(draft)
        edited = drafts.Draft(draft.site, week, draft.created_at, now, draft.seal_by,
                              content, spans)
        drafts.save(conn, edited)
        record(conn, audit(action, summary))
    return edited


def remove(pool: ConnectionPool, estate: EstateConfig, week: str, *, field: str,
           audit: Audit, now: datetime | None = None) -> drafts.Draft:
    """Replace a field's text by 已删除."""
    def change(draft: drafts.Draft) -> tuple[dict[str, Any], list[spanning.Span], str]:
        content = draft.content
        ticket, key = _ticket(content, field)
        ticket[key] = REDACTED
        new = [spanning.span(field, 0, len(REDACTED), "removed")]
        return content, spanning.set_field(draft.spans, field, new), field
    return _edit(pool, estate, week, now=now or datetime.now(UTC), change=change,
                 action="bulletin.review.remove", audit=audit)


def mask_range(pool: ConnectionPool, estate: EstateConfig, week: str, *, field: str,
               start: int, end: int, audit: Audit, now: datetime | None = None) -> drafts.Draft:
    """Mask [start, end) of a field's text."""
    def change(draft: drafts.Draft) -> tuple[dict[str, Any], list[spanning.Span], str]:
        content = draft.content
        ticket, key = _ticket(content, field)
        try:
            text, spans = spanning.mask_range(ticket[key], draft.spans, field, start, end)
        except ValueError as exc:
            raise BulletinError(str(exc)) from None
        ticket[key] = text
        return content, spans, f"{field} [{start}, {end})"
    return _edit(pool, estate, week, now=now or datetime.now(UTC), change=change,
                 action="bulletin.review.mask", audit=audit)


def mask_text(pool: ConnectionPool, estate: EstateConfig, week: str, *, field: str,
              fragment: str, audit: Audit, now: datetime | None = None) -> drafts.Draft:
    """Mask every occurrence of `fragment` in a field (what a reviewer selected)."""
    fragment = fragment.strip()
    with pool.connection() as conn:
        draft = drafts.get(conn, estate.site.id, week)
    if draft is None:
        raise DraftNotFound(f"{week} has no draft under review")
    ticket, key = _ticket(draft.content, field)
    if not fragment or fragment not in ticket[key]:
        raise BulletinError(f"{fragment!r} is not in the text of {field}")

    def change(draft: drafts.Draft) -> tuple[dict[str, Any], list[spanning.Span], str]:
        content, spans = draft.content, draft.spans
        ticket, key = _ticket(content, field)
        while (at := ticket[key].find(fragment)) >= 0:
            ticket[key], spans = spanning.mask_range(ticket[key], spans, field, at,
                                                     at + len(fragment))
        return content, spans, f"{field}: {len(fragment)} characters"
    return _edit(pool, estate, week, now=now or datetime.now(UTC), change=change,
                 action="bulletin.review.mask", audit=audit)


def replace(pool: ConnectionPool, estate: EstateConfig, week: str, *, field: str,
            text: str, audit: Audit, now: datetime | None = None) -> drafts.Draft:
    """Rewrite a measure or reason (the new text is masked like any staff text)."""
    with pool.connection() as conn:
        masker = estate_masker(estate, known_terms(conn, estate.site.id))

    def change(draft: drafts.Draft) -> tuple[dict[str, Any], list[spanning.Span], str]:
        content = draft.content
        ticket, key = _ticket(content, field)
        if key not in REPLACEABLE:
            raise BulletinError(f"only measures and reasons are rewritten, not {key}")
        if len(text) > TEXT_LIMIT:
            raise BulletinError(f"a text of at most {TEXT_LIMIT} characters")
        public = mask(text, masker=masker)
        found = spanning.found(field, text, public)
        ticket[key] = public
        new = found or ([spanning.span(field, 0, len(public), "replaced")] if public else [])
        return content, spanning.set_field(draft.spans, field, new), field
    return _edit(pool, estate, week, now=now or datetime.now(UTC), change=change,
                 action="bulletin.review.replace", audit=audit)


def seal(pool: ConnectionPool, estate: EstateConfig, week: str, audit: Audit,
         now: datetime | None = None, *, automatic: bool = False) -> Published:
    """Seal the draft as it stands into the chain (the draft is deleted)."""
    now = now or datetime.now(UTC)
    site = estate.site.id
    with pool.connection() as conn, conn.transaction():
        store.lock_site(conn, site)
        existing = store.published_week(conn, site, week)
        draft = drafts.get(conn, site, week, lock=True)
        if existing:
            if draft is not None:  # sealed meanwhile by a direct publish
                drafts.delete(conn, site, week)
            return Published(existing[-1], created=False)
        if draft is None:
            raise DraftNotFound(f"{week} has no draft under review")
        document = seal_content(conn, estate, week, cast(Content[str], draft.content),
                                now=now)
        drafts.delete(conn, site, week)
        record(conn, audit("bulletin.auto_seal" if automatic else "bulletin.seal",
                           f"publication {document['n']}, hash {document['hash']}"))
    return Published(document, created=True)


def seal_week(pool: ConnectionPool, estate: EstateConfig, week: str, now: datetime) \
        -> Published:
    """Seal a week whose deadline passed: its draft, or (never drafted) the week as it
    is computed now; the scheduler's act in the audit log."""
    audit = system_audit(estate, week, now)
    try:
        return seal(pool, estate, week, audit, now, automatic=True)
    except DraftNotFound:
        pass
    site = estate.site.id
    with pool.connection() as conn, conn.transaction():
        store.lock_site(conn, site)
        existing = store.published_week(conn, site, week)
        if existing:
            return Published(existing[-1], created=False)
        caps = detect(conn, install=False)
        content = build_content(conn, estate, week, caps,
                                previous_summary(conn, estate, week, caps))
        document = seal_content(conn, estate, week, content, now=now)
        record(conn, audit("bulletin.auto_seal", f"publication {document['n']} (never"
                           f" drafted), hash {document['hash']}"))
    return Published(document, created=True)


def run_due(pool: ConnectionPool, estate: EstateConfig, now: datetime | None = None) \
        -> list[Published]:
    """What is due now: seal every draft past its deadline and the latest week that must
    be published by now; draft the latest week due for review."""
    now = now or datetime.now(UTC)
    sealed = []
    with pool.connection() as conn:
        overdue = drafts.due(conn, estate.site.id, now)
    for week in [*overdue, last_sealable_week(estate, now)]:
        result = seal_week(pool, estate, week, now)
        if result.created:
            sealed.append(result)
    prepare(pool, estate, last_due_week(estate, now), now)
    return sealed
