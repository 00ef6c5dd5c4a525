"""What a draft highlights for its reviewers: spans of the public text that were masked.

A span is data, `{"field": "tickets/12/measures", "start": 4, "end": 7, "kind": "masked"}`
(offsets into the field's public text), so the review page only draws them. `found`
finds them: today's `mask` (services/bulletin/document.py) returns only the text, so what
it replaced is found by a diff against the whitespace-collapsed raw text; a masker that
reports its own spans replaces `found`.

Kinds: `masked` (the masker replaced it), `manual` (a reviewer masked it), `removed`
(a reviewer removed the whole field), `replaced` (a reviewer wrote the text anew).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

Span = dict[str, Any]
MASK = "＊＊＊"
KINDS = ("masked", "manual", "removed", "replaced")


def replaced_ranges(original: str, public: str) -> list[tuple[int, int]]:
    """Where `public` differs from `original` (offsets into `public`)."""
    source = " ".join(original.split())
    matcher = difflib.SequenceMatcher(None, source, public, autojunk=False)
    return [(j1, j2) for op, _, _, j1, j2 in matcher.get_opcodes()
            if op in ("replace", "insert") and j2 > j1]


def found(field: str, original: str, public: str) -> list[Span]:
    """The spans the masker replaced in a field's public text."""
    return [span(field, a, b, "masked") for a, b in replaced_ranges(original, public)]


def span(field: str, start: int, end: int, kind: str) -> Span:
    return {"field": field, "start": start, "end": end, "kind": kind}


def of_field(spans: Iterable[Span], field: str) -> list[Span]:
    return sorted((s for s in spans if s["field"] == field), key=lambda s: s["start"])


def mask_range(text: str, spans: Sequence[Span], field: str, start: int, end: int) \
        -> tuple[str, list[Span]]:
    """The text with [start, end) masked by a reviewer, and every span of the field moved
    to match (those inside the range are absorbed by it)."""
    if not 0 <= start < end <= len(text):
        raise ValueError(f"the range {start}–{end} is not inside the text ({len(text)} chars)")
    shift = len(MASK) - (end - start)
    out = []
    for s in spans:
        if s["field"] != field or s["end"] <= start:
            out.append(s)
        elif s["start"] >= end:
            out.append({**s, "start": s["start"] + shift, "end": s["end"] + shift})
        # overlapping spans are covered by the new one
    out.append(span(field, start, start + len(MASK), "manual"))
    return text[:start] + MASK + text[end:], out


def set_field(spans: Sequence[Span], field: str, new: Sequence[Span]) -> list[Span]:
    """The spans with the field's replaced by `new`."""
    return [s for s in spans if s["field"] != field] + list(new)


def segments(text: str, spans: Sequence[Span]) -> list[tuple[str, str | None]]:
    """The text cut into (piece, kind) for drawing: kind None for plain text."""
    out: list[tuple[str, str | None]] = []
    at = 0
    for s in sorted(spans, key=lambda s: s["start"]):
        start, end = max(s["start"], at), min(s["end"], len(text))
        if end <= start:
            continue
        if start > at:
            out.append((text[at:start], None))
        out.append((text[start:end], str(s["kind"])))
        at = end
    if at < len(text):
        out.append((text[at:], None))
    return out
