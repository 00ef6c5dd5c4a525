"""A published document as its readers see it, whatever format it was sealed in: each
committed text as its text, or 已删除 where it was redacted (format 2), and the fields
later formats added filled in (services/bulletin/document.py `readable`)."""

from __future__ import annotations

import copy
from typing import Any, cast

from services.bulletin import document as shaped
from services.tickets.bulletin_model import Document, ReadableDocument
from services.tickets.commitments import TICKET_TEXT_FIELDS, document_format, plain


def readable(document: Document) -> ReadableDocument:
    if document_format(document) < 2:
        return shaped.readable(cast(ReadableDocument, document))
    doc: dict[str, Any] = copy.deepcopy(dict(document))
    doc["reason"] = plain(doc.get("reason"))
    content = doc["content"]
    reasons = {}
    for ticket in content.get("tickets", []):
        for key in TICKET_TEXT_FIELDS:
            if key in ticket:
                ticket[key] = plain(ticket[key])
        reasons[ticket.get("number")] = ticket.get("reason", "")
    summary = content.get("summary", {})
    for key in ("rejected", "unresolvable"):
        summary[key] = [{"number": r["number"], "reason": reasons.get(r["number"], "")}
                        for r in summary.get(key, [])]
    return shaped.readable(cast(ReadableDocument, doc))
