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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = "0" * 64
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
DONE_STATES = frozenset({"resolved", "closed", "rejected", "unresolvable"})


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
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its `hash` set."""
    return {**document, "hash": document_hash(document)}


def content_problems(doc: Mapping[str, Any]) -> list[str]:
    """What is inconsistent inside one bulletin: every ticket opened in the week must be
    listed, and the summary must count the listed tickets."""
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


def verify_chain(documents: Sequence[Mapping[str, Any]], *, week: str | None = None,
                 anchor: str | None = None) -> list[str]:
    """Every problem found in a site's chain (empty: it holds). With `week`, that week
    must be in the chain; with `anchor`, the latest publication must have that hash."""
    problems: list[str] = []
    docs = sorted(documents, key=lambda d: int(d.get("n", 0)))
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
        expected_prev = str(doc.get("hash"))
    if week is not None and not any(d.get("week") == week for d in docs):
        problems.append(f"no bulletin for {week} in the chain")
    if anchor is not None and (not docs or docs[-1].get("hash") != anchor):
        problems.append("the latest publication's hash is not the published anchor:"
                        " the chain was rewritten or is incomplete")
    return problems


def latest_revisions(documents: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each week's current revision (a correction supersedes, never replaces, the old)."""
    out: dict[str, Mapping[str, Any]] = {}
    for doc in sorted(documents, key=lambda d: int(d.get("n", 0))):
        out[str(doc.get("week"))] = doc
    return out
