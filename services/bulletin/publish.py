"""Publishing a week: compute it, seal it into the site's hash chain, store it once.

Publishing is idempotent: a week already published is returned as it is, so a scheduler
that runs twice (or on several workers) never duplicates it. A correction is a new
publication of the same week with the next revision and the reason, linked to the one it
corrects; nothing published is ever edited (the table refuses it). A week with a draft
under review (services/bulletin/review.py) is sealed from that draft, as reviewed.

Documents are sealed in format 2 (services/tickets/commitments.py): every free text is
committed by a salted digest, so that `redact` can later remove a field by a correction
while the chain still verifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from psycopg import Connection
from psycopg_pool import ConnectionPool

from services.bulletin.document import (
    estate_masker,
    summary,
    ticket_entry,
    trend,
    week_over_week,
)
from services.bulletin.spans import Span, found
from services.config import EstateConfig
from services.store import bulletin_drafts as drafts
from services.store import bulletin_figures as store
from services.store.audit import AuditEntry, record
from services.store.known_terms import known_terms
from services.store.timescale import Capabilities, detect
from services.tickets.bulletin_model import Content, Document, Summary
from services.tickets.chain import GENESIS, previous_week, seal, week_bounds, week_of
from services.tickets.commitments import (
    FORMAT as DOCUMENT_FORMAT,
)
from services.tickets.commitments import (
    commit,
    commit_fields,
    commitments,
    document_format,
    opening,
    openings,
    withhold,
)

# of the content; bump when its meaning changes (2: the summary's rejected and
# unresolvable list numbers only, their reasons are the tickets' committed ones)
FORMAT = 2
TEXT_SOURCES = {"measures": "measures", "reason": "reason"}  # content field: SQL column
MACHINE_SOURCES = ("camera", "sensor")


class BulletinError(ValueError):
    """A week that cannot be published (not over yet, nothing to correct, …)."""


@dataclass(frozen=True)
class Published:
    document: Document
    created: bool  # False: the week was already published, this is that publication


def _build(conn: Connection[Any], estate: EstateConfig, week: str, caps: Capabilities,
           previous_summary: Summary | None) -> tuple[Content[str], list[dict[str, Any]]]:
    start, end = week_bounds(week, estate.site.tz)
    figures = store.week_figures(conn, store.Week(estate.site.id, start, end), caps)
    masker = estate_masker(estate, known_terms(conn, estate.site.id))  # read at publication
    this = summary(figures, estate, masker)
    tickets = [ticket_entry(row, estate, masker) for row in figures["rows"]]
    content: Content[str] = {
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
    return content, figures["rows"]


def build_content(conn: Connection[Any], estate: EstateConfig, week: str, caps: Capabilities,
                  previous_summary: Summary | None) -> Content[str]:
    """The week's content with its texts as plain (masked) strings."""
    return _build(conn, estate, week, caps, previous_summary)[0]


def build_draft(conn: Connection[Any], estate: EstateConfig, week: str) \
        -> tuple[Content[str], list[Span]]:
    """The week's content, and the spans of its texts the masker replaced."""
    caps = detect(conn, install=False)
    content, rows = _build(conn, estate, week, caps,
                           previous_summary(conn, estate, week, caps))
    spans: list[Span] = []
    for row, entry in zip(rows, content["tickets"], strict=True):
        raw = {key: row[column] or "" for key, column in TEXT_SOURCES.items()}
        if row["source"] in MACHINE_SOURCES:  # people's tickets: category and place only
            raw["description"] = row["description"] or ""
        for key, text in raw.items():
            public = cast(dict[str, Any], entry)[key]  # description, measures or reason
            spans += found(f"tickets/{entry['number']}/{key}", text, public)
    return content, spans


def previous_summary(conn: Connection[Any], estate: EstateConfig, week: str,
                     caps: Capabilities) -> Summary:
    """Last week's summary: as published, or computed when it never was."""
    earlier = previous_week(week)
    published = store.published_week(conn, estate.site.id, earlier)
    if published:
        return published[-1]["content"]["summary"].copy()
    start, end = week_bounds(earlier, estate.site.tz)
    return summary(store.week_figures(conn, store.Week(estate.site.id, start, end), caps),
                   estate)


def _format_2(content: Content[str]) -> Content[str]:
    """The content as sealed: each reason once, in its ticket (committed there)."""
    summary_ = content["summary"].copy()
    summary_["rejected"] = [{"number": r["number"]} for r in summary_.get("rejected", [])]
    summary_["unresolvable"] = [{"number": r["number"]}
                                for r in summary_.get("unresolvable", [])]
    return {**content, "format": FORMAT, "summary": summary_}


def seal_content(conn: Connection[Any], estate: EstateConfig, week: str,
                 content: Content[str], *, now: datetime, reason: str = "") -> Document:
    """Seal plain content as the week's next publication and store it (the caller holds
    the site's lock, in its transaction). Fields redacted in the week stay redacted."""
    site = estate.site.id
    existing = store.published_week(conn, site, week)
    chain = store.chain(conn, site)
    last = existing[-1] if existing else None
    reuse, kept = {}, {}
    if last is not None and document_format(last) >= 2:
        reuse = openings(last)
        kept = {name: str(value["digest"]) for name, value in commitments(last).items()
                if opening(value) is None}
    revision = len(existing) + 1
    plain = commit_fields({
        "format": DOCUMENT_FORMAT,
        "n": len(chain) + 1,
        "site": site,
        "week": week,
        "revision": revision,
        "corrects": last["hash"] if last else None,
        "reason": reason,
        "published_at": now.astimezone(estate.site.tz).isoformat(),
        "prev_hash": chain[-1]["hash"] if chain else GENESIS,
        "content": _format_2(content),
        "redactions": [],
    }, reuse, {k: v for k, v in kept.items() if k != f"reason/{revision}"})
    document = seal(plain)
    store.insert(conn, document)
    return document


def publish(pool: ConnectionPool, estate: EstateConfig, week: str, *,
            now: datetime | None = None, correction: str | None = None) -> Published:
    """Publish `week` (once), or with `correction` (the reason) its next revision. A week
    with a draft is sealed as the draft stands."""
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
        draft = drafts.get(conn, site, week, lock=True) if correction is None else None
        if draft is not None:
            content = cast(Content[str], draft.content)  # as built by build_draft, reviewed
            drafts.delete(conn, site, week)
        else:
            caps = detect(conn, install=False)
            content = build_content(conn, estate, week, caps,
                                    previous_summary(conn, estate, week, caps))
        document = seal_content(conn, estate, week, content, now=now,
                                reason=correction.strip() if correction else "")
    return Published(document, created=True)


def redact(pool: ConnectionPool, estate: EstateConfig, week: str, fields: Sequence[str], *,
           reason: str, by: str, now: datetime | None = None,
           audit: AuditEntry | None = None) -> Published:
    """Remove these fields' text from every publication of the week, by a correction that
    records the redaction (when, why, by whom): the week's next revision, its content the
    last one's with the fields' digests kept and their text gone."""
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise BulletinError("a redaction needs its reason")
    names = sorted(set(fields))
    if not names:
        raise BulletinError("name the fields to redact, like tickets/12/measures")
    site = estate.site.id
    with pool.connection() as conn, conn.transaction():
        store.lock_site(conn, site)
        existing = store.published_week(conn, site, week)
        if not existing:
            raise BulletinError(f"{week} was never published: there is nothing to redact")
        last = existing[-1]
        if document_format(last) < 2:
            raise BulletinError(f"{week} was published before texts were committed one by"
                                " one (format 1): its text is inside the hash")
        committed = commitments(last)
        for name in names:
            if not name.startswith("tickets/") or name not in committed:
                raise BulletinError(f"{week} has no ticket text field {name!r}")
            if opening(committed[name]) is None:
                raise BulletinError(f"{name} of {week} is already redacted")
        chain = store.chain(conn, site)
        revision = len(existing) + 1
        document = seal({
            "format": DOCUMENT_FORMAT,
            "n": len(chain) + 1,
            "site": site,
            "week": week,
            "revision": revision,
            "corrects": last["hash"],
            "reason": commit(reason.strip()),
            "published_at": now.astimezone(estate.site.tz).isoformat(),
            "prev_hash": chain[-1]["hash"],
            "content": withhold(last, set(names))["content"],
            "redactions": [{"field": name, "by": by} for name in names],
        })
        store.insert(conn, document)
        store.withhold(conn, site, week, names)
        if audit is not None:
            record(conn, audit)
    return Published(document, created=True)


def due_at(estate: EstateConfig, week: str) -> datetime:
    """When `week`'s draft is made: the configured weekday and time after it ends."""
    _, end = week_bounds(week, estate.site.tz)
    schedule = estate.site.bulletin
    day = (end + timedelta(days=schedule.weekday.iso - 1)).date()
    return datetime.combine(day, schedule.time, tzinfo=estate.site.tz)


def seal_by(estate: EstateConfig, week: str) -> datetime:
    """When `week`'s draft is sealed if nobody sealed it sooner (the review deadline)."""
    _, end = week_bounds(week, estate.site.tz)
    review = estate.site.bulletin.review
    day = (end + timedelta(days=review.seal_weekday.iso - 1)).date()
    return datetime.combine(day, review.seal_time, tzinfo=estate.site.tz)


def last_due_week(estate: EstateConfig, now: datetime) -> str:
    """The latest week whose draft time has passed."""
    week = previous_week(week_of(now, estate.site.tz))
    return week if now >= due_at(estate, week) else previous_week(week)


def last_sealable_week(estate: EstateConfig, now: datetime) -> str:
    """The latest week whose review deadline has passed: it must be published by now."""
    week = previous_week(week_of(now, estate.site.tz))
    return week if now >= seal_by(estate, week) else previous_week(week)
