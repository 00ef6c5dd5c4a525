"""Read queries over tickets for the board: lists, a resident's reports, photos, reports.

Writes never happen here (they go through `TicketStore`). Lists for the public and the
auditor read the `public_tickets` view, which cannot reach personal data; staff lists
and a resident's own tickets read `tickets`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from services.store.reads import Read
from services.store.tickets import ticket_from_row
from services.tickets import Channel, Priority, Source, State, Ticket

__all__ = [
    "PhotoEntry",
    "PublicTicket",
    "Report",
    "TicketFilter",
    "has_reported",
    "has_reported_read",
    "list_public_read",
    "list_tickets_read",
    "opened_before",
    "own_words_read",
    "photo_entries",
    "photo_entries_read",
    "public_ticket_read",
    "reported_among_read",
    "reports_of_read",
    "tickets_reported_by",
]

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class PublicTicket:
    """A row of the `public_tickets` view: what anyone may know about a ticket."""

    id: int
    site: str
    category: str
    priority: Priority
    source: Source
    channel: Channel
    state: State
    description: str
    building: str | None
    area: str
    asset: str | None
    opened_at: datetime
    respond_due_at: datetime
    resolve_due_at: datetime
    department: str
    assignee: str
    responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    result_notes: str
    result_photos: list[str]
    reason: str
    reopen_count: int
    rating: int | None
    extra_reporters: int
    breaches: list[str]
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.state.is_open

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> PublicTicket:
        """From a row of `_PUBLIC_SELECT`'s columns, in order (lists make 50 at a time)."""
        values = list(row)
        for i, members in _ENUM_COLUMNS:
            values[i] = members[values[i]]
        return cls(*values)


_PUBLIC_COLUMNS = [f.name for f in fields(PublicTicket)]
_PUBLIC_SELECT = sql.SQL(", ").join(sql.Identifier(c) for c in _PUBLIC_COLUMNS)
# where the enums are among those columns, each with its members by value
_ENUM_COLUMNS = [(_PUBLIC_COLUMNS.index(name), {m.value: m for m in kind})
                 for name, kind in (("priority", Priority), ("source", Source),
                                    ("channel", Channel), ("state", State))]


@dataclass(frozen=True)
class TicketFilter:
    """Optional filters; empty means any. `before` pages by id, newest first."""

    states: tuple[State, ...] = ()
    category: str | None = None
    department: str | None = None
    source: Source | None = None
    ids: tuple[int, ...] = ()
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    before: int | None = None
    oldest_first: bool = False
    limit: int = 50


def _where(site: str, f: TicketFilter) -> tuple[sql.Composable, list[Any]]:
    clauses: list[sql.Composable] = [sql.SQL("site = %s")]
    params: list[Any] = [site]
    checks: list[tuple[LiteralString, Any]] = [
        ("state = ANY(%s)", [s.value for s in f.states] if f.states else None),
        ("category = %s", f.category),
        ("department = %s", f.department),
        ("source = %s", f.source.value if f.source else None),
        ("id = ANY(%s)", list(f.ids) if f.ids else None),
        ("opened_at >= %s", f.opened_from),
        ("opened_at < %s", f.opened_to),
        ("id < %s", f.before),
    ]
    for clause, value in checks:
        if value is not None:
            clauses.append(sql.SQL(clause))
            params.append(value)
    return sql.SQL(" AND ").join(clauses), params


def _select(table: LiteralString, site: str, f: TicketFilter) -> tuple[sql.Composed, list[Any]]:
    where, params = _where(site, f)
    order = sql.SQL("id ASC" if f.oldest_first else "id DESC")
    columns = sql.SQL("*") if table == "tickets" else _PUBLIC_SELECT
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT %s").format(
        columns, sql.Identifier(table), where, order)
    return query, [*params, f.limit]


def list_tickets_read(site: str, f: TicketFilter) -> Read[list[Ticket]]:
    """Full tickets, for staff."""
    query, params = _select("tickets", site, f)
    return Read(query, params, lambda rows: [ticket_from_row(r) for r in rows], dict_row)


def list_public_read(site: str, f: TicketFilter) -> Read[list[PublicTicket]]:
    """Tickets without anything personal, for the public, auditors and other residents."""
    query, params = _select("public_tickets", site, f)
    return Read(query, params, lambda rows: [PublicTicket.from_row(r) for r in rows])


def public_ticket_read(site: str, ticket_id: int) -> Read[PublicTicket | None]:
    query, params = _select("public_tickets", site, TicketFilter(ids=(ticket_id,), limit=1))
    return Read(query, params, lambda rows: PublicTicket.from_row(rows[0]) if rows else None)


def tickets_reported_by(conn: Conn, site: str, person_id: str, *, before: int | None = None,
                        limit: int = 50) -> list[Ticket]:
    """A resident's tickets: those they opened and those their reports were linked to."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM tickets t WHERE t.site = %s AND (%s::bigint IS NULL OR t.id < %s)"
            " AND EXISTS (SELECT 1 FROM ticket_reports r"
            "             WHERE r.ticket_id = t.id AND r.reporter_id = %s)"
            " ORDER BY t.id DESC LIMIT %s",
            (site, before, before, person_id, limit),
        ).fetchall()
    return [ticket_from_row(r) for r in rows]


def reported_among_read(person_id: str, ticket_ids: list[int]) -> Read[set[int]]:
    """Which of these tickets the person reported."""
    return Read("SELECT DISTINCT ticket_id FROM ticket_reports WHERE reporter_id = %s"
                " AND ticket_id = ANY(%s)", (person_id, ticket_ids),
                lambda rows: {int(r[0]) for r in rows})


def own_words_read(person_id: str, ticket_ids: list[int]) -> Read[dict[int, str]]:
    """What the person wrote in their (first) report of each of these tickets they reported:
    the only free text of a ticket that is theirs to read back as it is."""
    return Read("SELECT DISTINCT ON (ticket_id) ticket_id, description FROM ticket_reports"
                " WHERE reporter_id = %s AND ticket_id = ANY(%s) ORDER BY ticket_id, id",
                (person_id, ticket_ids), lambda rows: {int(r[0]): str(r[1]) for r in rows})


def has_reported_read(ticket_id: int, person_id: str) -> Read[bool]:
    return Read("SELECT EXISTS (SELECT 1 FROM ticket_reports WHERE ticket_id = %s"
                " AND reporter_id = %s)", (ticket_id, person_id),
                lambda rows: bool(rows and rows[0][0]))


def has_reported(conn: Conn, ticket_id: int, person_id: str) -> bool:
    return has_reported_read(ticket_id, person_id).run(conn)


@dataclass(frozen=True)
class Report:
    """One report of a ticket: the first, or a duplicate linked to it."""

    id: int
    reported_at: datetime
    reporter_id: str | None
    source: Source
    channel: Channel
    description: str
    photos: list[str]


def _reports(rows: list[dict[str, Any]]) -> list[Report]:
    return [Report(**(r | {"source": Source(r["source"]), "channel": Channel(r["channel"])}))
            for r in rows]


def reports_of_read(ticket_id: int) -> Read[list[Report]]:
    return Read("SELECT id, reported_at, reporter_id, source, channel, description, photos"
                " FROM ticket_reports WHERE ticket_id = %s ORDER BY id", (ticket_id,),
                _reports, dict_row)


@dataclass(frozen=True)
class PhotoEntry:
    """A history entry that carried photos: evidence, a resolution, added information."""

    ticket_id: int
    seq: int
    at: datetime
    action: str
    actor_role: str
    refs: tuple[str, ...]


def photo_entries_read(ticket_ids: list[int]) -> Read[dict[int, list[PhotoEntry]]]:
    """History entries with photos, per ticket, in order."""

    def build(rows: list[tuple[Any, ...]]) -> dict[int, list[PhotoEntry]]:
        found: dict[int, list[PhotoEntry]] = {tid: [] for tid in ticket_ids}
        for ticket_id, seq, at, action, role, photos in rows:
            # the domain joins a command's photo references with spaces
            found[ticket_id].append(PhotoEntry(ticket_id, seq, at, action, role,
                                               tuple(str(photos).split())))
        return found

    return Read("SELECT ticket_id, seq, at, action, actor_role, data->>'photos'"
                " FROM ticket_history WHERE ticket_id = ANY(%s) AND data ? 'photos'"
                " ORDER BY ticket_id, seq", (ticket_ids,), build)


def photo_entries(conn: Conn, ticket_ids: list[int]) -> dict[int, list[PhotoEntry]]:
    if not ticket_ids:
        return {}
    return photo_entries_read(ticket_ids).run(conn)


def opened_before(conn: Conn, site: str, before: datetime) -> int:
    """How many of the site's tickets were opened before the time."""
    row = conn.execute("SELECT count(*) FROM tickets WHERE site = %s AND opened_at < %s",
                       (site, before)).fetchone()
    return int(row[0]) if row else 0
