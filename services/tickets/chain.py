"""The weekly exposure bulletin as a document: weeks, the hash chain, and its verification.

Pure: no database, so that `sunlight bulletin verify` works on a downloaded copy alone.

A published bulletin is a JSON document::

    {"n": 7, "site": "…", "week": "2026-W48", "revision": 1, "corrects": null,
     "reason": "", "published_at": "…", "prev_hash": "…", "content": {…}, "hash": "…"}

`n` numbers a site's publications 1, 2, 3, … in the order they were made (a correction
is a later publication of the same week with the next `revision`). `hash` is the SHA-256
of the document's canonical JSON without `hash` (sorted keys, no spaces, UTF-8), and
`prev_hash` is the hash of publication n-1 (64 zeros for the first): changing, removing
or reordering anything breaks the chain from there on. Someone who rewrites the whole
chain is caught by the hash of the latest publication printed on the notice board and
in the owners' group (`verify --anchor`).

Format 2 (`"format": 2` at the top; services/tickets/commitments.py) commits to each
free-text field by a salted hash, so that a field can be redacted by a later correction
(`redactions`) while every hash still verifies; its hash is taken over the document with
the commitments' openings (salt and text) left out. Documents without `format` were
published before that and are hashed, byte for byte, as they always were.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from services.tickets.bulletin_model import Document
from services.tickets.commitments import (
    REDACTED,
    checks,
    commitments,
    document_format,
    opening,
    plain,
    sealed_form,
)

GENESIS = "0" * 64
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(week: str) -> tuple[int, int]:
    match = _WEEK.match(week)
    if not match:
        raise ValueError(f"a week is written like 2026-W48, not {week!r}")
    year, number = int(match[1]), int(match[2])
    try:
        dt.date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{year} has no ISO week {number}") from None
    return year, number


def week_bounds(week: str, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[Monday 00:00, next Monday 00:00) in the estate's time zone."""
    year, number = parse_week(week)
    monday = dt.date.fromisocalendar(year, number, 1)
    start = dt.datetime.combine(monday, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(0), tzinfo=tz)
    return start, end


def week_of(at: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    year, number, _ = at.astimezone(tz).isocalendar()
    return f"{year}-W{number:02d}"


def previous_week(week: str) -> str:
    year, number = parse_week(week)
    monday = dt.date.fromisocalendar(year, number, 1) - dt.timedelta(days=7)
    y, n, _ = monday.isocalendar()
    return f"{y}-W{n:02d}"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


def document_hash(document: Mapping[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "hash"}
    if document_format(document) >= 2:  # the openings are outside the hash
        body = sealed_form(body)
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def seal(document: Mapping[str, Any]) -> Document:
    """The document with its `hash` set (what was built as one of the formats: the tests
    parse what is sealed, services/tickets/bulletin_model.py)."""
    return cast(Document, {**document, "hash": document_hash(document)})


def content_problems(doc: Document) -> list[str]:
    """What is inconsistent inside one bulletin: every ticket opened in the week must be
    listed, and the summary must count the listed tickets. (A downloaded copy may
    lack keys: they are read with `get`, so that a missing one is a problem.)"""
    problems = []
    content = doc.get("content", {})
    tickets = content.get("tickets", [])
    summary = content.get("summary", {})
    numbers = [t.get("number") for t in tickets]
    if len(set(numbers)) != len(numbers):
        problems.append("a ticket is listed twice")
    opened = {t.get("number") for t in tickets if t.get("opened_in_week")}
    declared = set(content.get("opened_numbers", []))
    if declared - opened:
        missing = ", ".join(f"#{n}" for n in sorted(declared - opened))
        problems.append(f"tickets opened in the week are missing from the list: {missing}")
    if opened - declared:
        extra = ", ".join(f"#{n}" for n in sorted(opened - declared))
        problems.append(f"tickets listed as opened in the week but not declared: {extra}")
    if summary.get("listed") != len(tickets):
        problems.append(f"the summary counts {summary.get('listed')} tickets,"
                        f" the list has {len(tickets)}")
    if summary.get("opened") != len(declared):
        problems.append(f"the summary counts {summary.get('opened')} tickets opened,"
                        f" {len(declared)} are declared")
    by_status = summary.get("by_status", {})
    if sum(by_status.values()) != len(tickets):
        problems.append("the counts by status do not add up to the list")
    return problems


def verify_chain(documents: Sequence[Document], *, week: str | None = None,
                 anchor: str | None = None) -> list[str]:
    """Every problem found in a site's chain (empty: it holds). With `week`, that week
    must be in the chain; with `anchor`, the latest publication must have that hash."""
    problems: list[str] = []
    docs = sorted(documents, key=lambda d: int(d.get("n", 0)))
    redacted = {(r.week, r.field) for r in redactions(docs)}
    expected_prev = GENESIS
    for i, doc in enumerate(docs, start=1):
        label = f"publication {doc.get('n')} ({doc.get('week')} revision {doc.get('revision')})"
        if doc.get("n") != i:
            problems.append(f"{label}: expected publication number {i}: one is missing")
        if doc.get("prev_hash") != expected_prev:
            problems.append(f"{label}: does not link to the publication before it")
        if document_hash(doc) != doc.get("hash"):
            problems.append(f"{label}: its content does not match its hash (altered)")
        problems.extend(f"{label}: {p}" for p in content_problems(doc))
        problems.extend(f"{label}: {p}" for p in _text_problems(doc, redacted))
        expected_prev = str(doc.get("hash"))
    if week is not None and not any(d.get("week") == week for d in docs):
        problems.append(f"no bulletin for {week} in the chain")
    if anchor is not None and (not docs or docs[-1].get("hash") != anchor):
        problems.append("the latest publication's hash is not the published anchor:"
                        " the chain was rewritten or is incomplete")
    return problems


def latest_revisions(documents: Sequence[Document]) -> dict[str, Document]:
    """Each week's current revision (a correction supersedes, never replaces, the old)."""
    out: dict[str, Document] = {}
    for doc in sorted(documents, key=lambda d: int(d.get("n", 0))):
        out[str(doc.get("week"))] = doc
    return out


def _text_problems(doc: Document, redacted: set[tuple[str, str]]) -> list[str]:
    """Each committed text must open to its digest, or be withheld by a recorded
    redaction of its week."""
    if document_format(doc) < 2:
        return []
    problems = []
    for name, value in commitments(doc).items():
        if opening(value) is not None:
            if not checks(value):
                problems.append(f"the text of {name} does not match its commitment (altered)")
        elif (str(doc.get("week")), name) not in redacted:
            problems.append(f"the text of {name} is withheld without a recorded redaction")
    return problems


@dataclass(frozen=True)
class Redaction:
    """A field removed by a correction: which, in which publications, when, why, by whom."""

    week: str
    field: str
    n: int  # the publication that recorded it
    at: str  # its published_at
    reason: str  # the correction's reason (已删除 if that was redacted too)
    by: str
    withheld_in: tuple[int, ...]  # the publications of the week whose text is gone


def redactions(documents: Sequence[Document]) -> list[Redaction]:
    """Every redaction recorded in a chain, in order."""
    docs = sorted(documents, key=lambda d: int(d.get("n", 0)))
    out = []
    for doc in docs:
        recorded: Any = cast(Mapping[str, Any], doc).get("redactions")  # format 2 only
        for entry in recorded or []:
            week, name = str(doc.get("week")), str(entry.get("field"))
            withheld = tuple(int(d.get("n", 0)) for d in docs if d.get("week") == week
                             and name in commitments(d)
                             and opening(commitments(d)[name]) is None)
            out.append(Redaction(week, name, int(doc.get("n", 0)),
                                 str(doc.get("published_at")),
                                 plain(doc.get("reason")) or REDACTED,
                                 str(entry.get("by", "")), withheld))
    return out
