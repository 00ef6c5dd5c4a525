"""Salted commitments to a bulletin's free text, so that a field can be redacted later
without breaking the hash chain (document format 2).

Pure: `sunlight bulletin verify` checks a downloaded chain with this module alone.

Why: a published document is hashed and chained; if its text were inside the hash, a
name that slipped through masking could never be taken back (PIPL). So in format 2 the
hash covers, for each free-text field, only a commitment::

    "measures": {"digest": sha256(bytes.fromhex(salt) + text.encode("utf-8")).hexdigest()}

and the served copy carries the opening next to it, outside the hash::

    "measures": {"digest": "…", "salt": "<16 random bytes, hex>", "text": "更换灯管"}

The salt is random per field and publication, so a digest gives nothing away (a short
text like a name cannot be guessed by hashing candidates). A redaction drops a field's
text and salt wherever it is served (the digest stays, so every hash still verifies) and
is itself a publication in the chain: the week's next revision, whose `redactions` list
the fields, whose `published_at` says when, whose `reason` (a committed text too) says
why and whose `by` entries say who. A field without its opening and without a recorded
redaction is a problem: text may not vanish silently.

Fields are named by where they are, stable across a week's revisions:
`tickets/<number>/description|measures|reason` and `reason/<revision>` (a correction's
reason). Format 1 documents (published before commitments) have no `format` key at the
top and are hashed exactly as they were.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

FORMAT = 2  # of the document: salted field commitments
REDACTED = "[已删除]"
TICKET_TEXT_FIELDS = ("description", "measures", "reason")
_SALT = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Opening:
    """What a commitment commits to: the salt and the text."""

    salt: str
    text: str


def document_format(document: Mapping[str, Any]) -> int:
    value = document.get("format", 1)
    return value if isinstance(value, int) else 1


def new_salt() -> str:
    return secrets.token_hex(16)


def salted_digest(salt: str, text: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + text.encode("utf-8")).hexdigest()


def commit(text: str, salt: str | None = None) -> dict[str, str]:
    """A commitment with its opening (the served form of a field)."""
    salt = salt or new_salt()
    return {"digest": salted_digest(salt, text), "salt": salt, "text": text}


def is_commitment(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("digest"), str)


def opening(value: Mapping[str, Any]) -> Opening | None:
    """The opening a served commitment carries, None when withheld (redacted)."""
    salt, text = value.get("salt"), value.get("text")
    if isinstance(salt, str) and isinstance(text, str):
        return Opening(salt, text)
    return None


def checks(value: Mapping[str, Any]) -> bool:
    """Whether the opening a served commitment carries matches its digest."""
    found = opening(value)
    return (found is not None and bool(_SALT.match(found.salt))
            and salted_digest(found.salt, found.text) == value.get("digest"))


def field_slots(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """Every text field of a document: (its name, the mapping that holds it, the key)."""
    if "reason" in document:
        yield f"reason/{document.get('revision')}", document, "reason"
    for ticket in document.get("content", {}).get("tickets", []):
        for key in TICKET_TEXT_FIELDS:
            if key in ticket:
                yield f"tickets/{ticket.get('number')}/{key}", ticket, key


def commitments(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The committed fields of a format 2 document, by name."""
    return {name: holder[key] for name, holder, key in field_slots(document)
            if is_commitment(holder[key])}


def _map_fields(document: Mapping[str, Any], change: Any) -> dict[str, Any]:
    out: dict[str, Any] = copy.deepcopy(dict(document))
    for name, holder, key in list(field_slots(out)):
        assert isinstance(holder, dict)
        holder[key] = change(name, holder[key])
    return out


def sealed_form(document: Mapping[str, Any]) -> dict[str, Any]:
    """What is hashed and kept in the append-only table: commitments without openings."""
    return _map_fields(document, lambda _, v: {"digest": v["digest"]} if is_commitment(v)
                       else v)


def openings(document: Mapping[str, Any]) -> dict[str, Opening]:
    """The openings a served document carries, by field name."""
    out = {}
    for name, value in commitments(document).items():
        found = opening(value)
        if found is not None:
            out[name] = found
    return out


def with_openings(sealed: Mapping[str, Any], found: Mapping[str, Opening]) -> dict[str, Any]:
    """The served form: each commitment with its opening, where one is kept."""
    def attach(name: str, value: Any) -> Any:
        if is_commitment(value) and name in found:
            return {"digest": value["digest"], "salt": found[name].salt,
                    "text": found[name].text}
        return value
    return _map_fields(sealed, attach)


def commit_fields(document: Mapping[str, Any], reuse: Mapping[str, Opening],
                  kept: Mapping[str, str]) -> dict[str, Any]:
    """A plain document (texts as strings) with each text committed. An unchanged text
    keeps the salt it had (`reuse`: the week's last revision), so its digest stays the
    same across revisions; a field named in `kept` (redacted earlier) keeps that digest,
    without an opening, whatever text it has now."""
    def seal_one(name: str, value: Any) -> Any:
        if name in kept:
            return {"digest": kept[name]}
        text = value if isinstance(value, str) else plain(value)
        previous = reuse.get(name)
        return commit(text, previous.salt if previous and previous.text == text else None)
    return _map_fields(document, seal_one)


def withhold(document: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    """The document with these fields' openings dropped (their digests stay)."""
    return _map_fields(document, lambda n, v: {"digest": v["digest"]}
                       if n in names and is_commitment(v) else v)


def plain(value: Any) -> str:
    """A field as a reader sees it: the text, or 已删除 when withheld."""
    if isinstance(value, str):
        return value
    if is_commitment(value):
        found = opening(value)
        return found.text if found is not None else REDACTED
    return ""
