"""A new report, checked against the estate config: category, place, priority and SLA.

Shared by the resident API, Open311 and the staff's offline reports, so a report means
the same whichever way it comes in. A report sent with an Idempotency-Key is filed once,
however often the client sends it again (`KeyedReport`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi import UploadFile
from pydantic import ValidationError

from services.board.problems import Problem
from services.config import EstateConfig, Location
from services.store import NewTicket, Opened, TicketStore
from services.store.idempotency import lock_key, recall, remember
from services.tickets import Actor, Channel, Priority, Source

__all__ = ["IDEMPOTENCY_HEADER", "REPLAYED_HEADER", "KeyedReport", "fingerprint", "new_report"]


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


# --- Idempotency-Key ---------------------------------------------------------------------

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"  # on the answer to a retry: "true"
_CHUNK = 1 << 20


def fingerprint(fields: Mapping[str, str | None], files: Sequence[UploadFile]) -> bytes:
    """SHA-256 of a report as sent: its form fields and the bytes of each file."""
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode())
    for upload in files:
        upload.file.seek(0)
        part = hashlib.sha256()
        while chunk := upload.file.read(_CHUNK):
            part.update(chunk)
        upload.file.seek(0)
        digest.update(part.digest())
    return digest.digest()


class KeyedReport:
    """A report sent with an Idempotency-Key (the `Once` of `Workflow.open`).

    The key is remembered with the ticket in the transaction that files the report; a
    retry with the key gets that ticket back and files nothing, and `replayed` says so.
    A key is per person; sending it again with another report is refused (422), since the
    client would otherwise believe a report was filed that never was.
    """

    def __init__(self, tickets: TicketStore, *, owner_id: str, key: str, fingerprint: bytes,
                 now: datetime) -> None:
        self._tickets, self.owner_id, self.key = tickets, owner_id, key
        self._fingerprint, self._now = fingerprint, now
        self.replayed = False

    def recall(self, conn: Any) -> Opened | None:
        """What an earlier request with this key filed (without waiting for one running)."""
        found = recall(conn, self.owner_id, self.key, self._now)
        if found is None:
            return None
        if found.fingerprint != self._fingerprint:
            raise Problem.field(422, "validation", IDEMPOTENCY_HEADER,
                                f"this key was used for another report (#{found.ticket_id});"
                                " send a new key with a new report", where="header")
        self.replayed = True
        return Opened(self._tickets.get(found.ticket_id, conn=conn), created=found.created)

    def earlier(self, conn: Any) -> Opened | None:
        lock_key(conn, self.owner_id, self.key)  # a retry overlapping the first waits for it
        return self.recall(conn)

    def remember(self, conn: Any, opened: Opened) -> None:
        assert opened.ticket.id is not None
        remember(conn, owner_id=self.owner_id, key=self.key, operation="report",
                 fingerprint=self._fingerprint, ticket_id=opened.ticket.id,
                 created=opened.created, now=self._now)
