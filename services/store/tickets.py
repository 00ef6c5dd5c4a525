"""The ticket service: the one write path for tickets, each change one transaction.

Every change, from any process (board, ingest and vision findings, the SLA jobs), goes
through `TicketStore.open` or `TicketStore.change`: load the ticket under a row lock, let
the pure domain decide, write the new row, append one history entry and queue the
notifications the domain's `notices` asks for (the outbox, `deliveries`), commit.
Optimistic versions let two staff working on the same ticket find out: the second gets a
`ConflictError`. The board adds its audit log and media rows to the same transaction
(`services/board/workflow.py`).

Duplicates: the SQL here picks the candidates (open tickets of the site and category) and
the domain's `find_duplicate` decides which one a new report joins.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from services.store.reads import Read
from services.tickets import (
    Action,
    Actor,
    Breach,
    Channel,
    Command,
    HistoryEntry,
    Place,
    Priority,
    Role,
    SlaTarget,
    Source,
    State,
    Ticket,
    apply,
    open_ticket,
)
from services.tickets.duplicates import find_duplicate
from services.tickets.notify import needs_followers, notices


class NotFoundError(LookupError):
    pass


class ConflictError(RuntimeError):
    """The ticket changed since the caller read it; reload and decide again."""

    def __init__(self, ticket_id: int, expected: int, actual: int) -> None:
        super().__init__(
            f"ticket {ticket_id} was changed by someone else (you had version {expected},"
            f" it is now at version {actual}); reload it and try again"
        )
        self.ticket_id, self.expected, self.actual = ticket_id, expected, actual


@dataclass(frozen=True)
class NewTicket:
    """What opening a ticket needs, whoever opens it."""

    site: str
    category: str
    priority: Priority
    source: Source
    channel: Channel
    description: str
    building: str | None
    area: str
    opened_at: datetime
    sla: SlaTarget
    actor: Actor
    reporter_id: str | None = None
    asset: str | None = None
    finding_key: str | None = None
    photos: tuple[str, ...] = ()


@dataclass(frozen=True)
class Opened:
    ticket: Ticket
    created: bool  # False: linked to an existing open ticket as a duplicate


# Ticket fields stored as columns of the same name; the rest are mapped by hand.
_SLA_COLUMNS = ("sla_respond", "sla_resolve")
_TICKET_COLUMNS = tuple(f.name for f in fields(Ticket) if f.name not in ("id", "sla"))
_INSERT = (
    "INSERT INTO tickets ({cols}, sla_respond, sla_resolve, finding_key)"
    " VALUES ({vals}, %(sla_respond)s, %(sla_resolve)s, %(finding_key)s) RETURNING id"
).format(cols=", ".join(_TICKET_COLUMNS), vals=", ".join(f"%({c})s" for c in _TICKET_COLUMNS))
_UPDATE = "UPDATE tickets SET {sets} WHERE id = %(id)s".format(
    sets=", ".join(f"{c} = %({c})s" for c in _TICKET_COLUMNS)
)


def _to_row(ticket: Ticket) -> dict[str, Any]:
    row = {name: getattr(ticket, name) for name in _TICKET_COLUMNS}
    row["result_photos"] = list(ticket.result_photos)
    row["breaches"] = sorted(b.value for b in ticket.breaches)
    row["id"] = ticket.id
    row["sla_respond"], row["sla_resolve"] = ticket.sla.respond, ticket.sla.resolve
    return row


def _from_row(row: dict[str, Any]) -> Ticket:
    values = {name: row[name] for name in _TICKET_COLUMNS}
    values.update(
        id=row["id"],
        priority=Priority(row["priority"]),
        source=Source(row["source"]),
        channel=Channel(row["channel"]),
        state=State(row["state"]),
        result_photos=tuple(row["result_photos"]),
        breaches=frozenset(Breach(b) for b in row["breaches"]),
        sla=SlaTarget(row["sla_respond"], row["sla_resolve"]),
    )
    return Ticket(**values)


def ticket_from_row(row: dict[str, Any]) -> Ticket:
    """A `tickets` row (as a dict) as the domain's Ticket, for read queries elsewhere."""
    return _from_row(row)


def _entry_from_row(row: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        at=row["at"],
        actor=Actor(row["actor_id"], Role(row["actor_role"]), row["actor_name"]),
        action=row["action"],
        from_state=State(row["from_state"]) if row["from_state"] else None,
        to_state=State(row["to_state"]),
        note=row["note"],
        data=row["data"],
    )


def _first_ticket(rows: list[dict[str, Any]]) -> Ticket | None:
    return _from_row(rows[0]) if rows else None


def ticket_read(ticket_id: int, *, lock: bool = False) -> Read[Ticket | None]:
    """One ticket, or None; `lock` holds its row until the caller's transaction ends, so
    what the caller decides from it (and the time it stamps) still holds when it changes
    it."""
    query = "SELECT * FROM tickets WHERE id = %s FOR UPDATE" if lock else \
        "SELECT * FROM tickets WHERE id = %s"
    return Read(query, (ticket_id,), _first_ticket, dict_row)


def history_read(ticket_id: int) -> Read[list[HistoryEntry]]:
    return Read("SELECT * FROM ticket_history WHERE ticket_id = %s ORDER BY seq",
                (ticket_id,), lambda rows: [_entry_from_row(r) for r in rows], dict_row)


Conn = psycopg.Connection[Any]
T = TypeVar("T")


class TicketStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def _transaction(self, work: Callable[[Conn], Ticket], conn: Conn | None = None) -> Ticket:
        """Run `work` in one transaction: the caller's (as a savepoint) or a new one.

        The work reads rows as dicts; the connection's own row factory is put back after,
        so a pooled connection goes back to the pool as it came.
        """
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self._pool.connection())
            factory = conn.row_factory
            conn.row_factory = dict_row
            try:
                with conn.transaction():
                    return work(conn)
            finally:
                conn.row_factory = factory

    # --- the write path -------------------------------------------------------------

    def open(self, new: NewTicket, *, link_duplicates: bool = True, conn: Conn | None = None) \
            -> Opened:
        """Open a ticket, or link the report to the open ticket it duplicates.

        A machine finding with a `finding_key` already open returns that ticket unchanged:
        one ongoing condition, one ticket.
        """
        result: list[Opened] = []

        def work(conn: Conn) -> Ticket:
            opened = self._open_in(conn, new, link_duplicates)
            result.append(opened)
            return opened.ticket

        self._transaction(work, conn)
        return result[0]

    def change(self, ticket_id: int, command: Command, *, expected_version: int | None = None,
               conn: Conn | None = None) -> Ticket:
        """Apply one command to one ticket; `expected_version` guards against lost updates."""
        return self._transaction(
            lambda c: self._change_in(c, ticket_id, command, expected_version), conn
        )

    def merge_duplicate(self, duplicate_id: int, primary_id: int, actor: Actor, at: datetime,
                        *, conn: Conn | None = None) -> Ticket:
        """Staff link two tickets: the duplicate is rejected, the primary counts its reporter.

        The duplicate's reports are linked to the primary too, so their reporters follow it.
        """
        def work(conn: Conn) -> Ticket:
            if duplicate_id == primary_id:
                raise ValueError("a ticket cannot duplicate itself")
            reason = f"duplicate of #{primary_id}"
            self._change_in(conn, duplicate_id, Command(Action.REJECT, actor, at, reason=reason),
                            None)
            note = f"#{duplicate_id} merged"
            primary = self._change_in(
                conn, primary_id, Command(Action.ADD_REPORTER, actor, at, note=note), None
            )
            conn.execute(
                "INSERT INTO ticket_reports (ticket_id, reported_at, reporter_id, source,"
                " channel, description, photos, merged_from) SELECT %s, reported_at,"
                " reporter_id, source, channel, description, photos, %s FROM ticket_reports"
                " WHERE ticket_id = %s ORDER BY id",
                (primary_id, duplicate_id, duplicate_id),
            )
            return primary

        return self._transaction(work, conn)

    # --- reads ----------------------------------------------------------------------

    def get(self, ticket_id: int, *, conn: Conn | None = None, lock: bool = False) -> Ticket:
        """One ticket (see `ticket_read`); NotFoundError when there is none."""
        found = self._run(ticket_read(ticket_id, lock=lock), conn)
        if found is None:
            raise NotFoundError(f"no ticket {ticket_id}")
        return found

    def history(self, ticket_id: int, *, conn: Conn | None = None) -> list[HistoryEntry]:
        return self._run(history_read(ticket_id), conn)

    def by_finding(self, finding_key: str, *, conn: Conn | None = None) -> Ticket | None:
        return self._run(Read("SELECT * FROM tickets WHERE finding_key = %s", (finding_key,),
                              _first_ticket, dict_row), conn)

    def _run(self, read: Read[T], conn: Conn | None) -> T:
        """`read` on the caller's connection (to see its transaction) or the pool's."""
        if conn is not None:
            return read.run(conn)
        with self._pool.connection() as own:
            return read.run(own)

    # --- inside a transaction -------------------------------------------------------

    def _open_in(self, conn: Conn, new: NewTicket, link_duplicates: bool) -> Opened:
        if new.finding_key:
            existing = conn.execute(
                "SELECT * FROM tickets WHERE finding_key = %s FOR UPDATE", (new.finding_key,)
            ).fetchone()
            if existing:
                return Opened(_from_row(existing), created=False)
        place = Place(new.site, new.category, new.building, new.area, new.asset)
        if link_duplicates and not new.finding_key:
            # serialise reports of one place so two at once cannot both open a ticket
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (repr(place),))
            duplicate = self._open_duplicate(conn, place)
            if duplicate is not None:
                # another change may have landed since this report was stamped: the link
                # is recorded now, after it (history stays in time order); the report keeps
                # its own time in ticket_reports
                last = conn.execute("SELECT updated_at FROM tickets WHERE id = %s FOR UPDATE",
                                    (duplicate,)).fetchone()
                at = max(new.opened_at, last["updated_at"]) if last else new.opened_at
                linked = self._change_in(
                    conn,
                    duplicate,
                    Command(Action.ADD_REPORTER, new.actor, at, note=new.description),
                    None,
                )
                self._record_report(conn, linked.id, new)
                return Opened(linked, created=False)
        ticket, entry = open_ticket(
            site=new.site, category=new.category, priority=new.priority, source=new.source,
            channel=new.channel, description=new.description, building=new.building,
            area=new.area, opened_at=new.opened_at, sla=new.sla, actor=new.actor,
            reporter_id=new.reporter_id, asset=new.asset,
        )
        row = _to_row(ticket) | {"finding_key": new.finding_key}
        inserted = conn.execute(_INSERT, row).fetchone()
        assert inserted is not None
        created = replace(ticket, id=int(inserted["id"]))
        self._append(conn, created, 1, entry)
        self._record_report(conn, created.id, new)
        return Opened(created, created=True)

    def _open_duplicate(self, conn: Conn, place: Place) -> int | None:
        """The open ticket a report at `place` joins: SQL narrows to the open tickets of the
        site and category (an index), `find_duplicate` decides (the place, the oldest)."""
        rows = conn.execute(
            "SELECT * FROM tickets WHERE site = %s AND category = %s"
            " AND ticket_is_open(state)"  # migration 0017: tickets_open_place's predicate
            " ORDER BY opened_at, id",  # find_duplicate keeps the first of equal times
            (place.site, place.category),
        ).fetchall()
        found = find_duplicate(place, (_from_row(row) for row in rows))
        return found.id if found is not None else None

    def _record_report(self, conn: Conn, ticket_id: int | None, new: NewTicket) -> None:
        conn.execute(
            "INSERT INTO ticket_reports (ticket_id, reported_at, reporter_id, source, channel,"
            " description, photos) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (ticket_id, new.opened_at, new.reporter_id, new.source, new.channel,
             new.description, list(new.photos)),
        )

    def _change_in(self, conn: Conn, ticket_id: int, command: Command,
                   expected_version: int | None) -> Ticket:
        row = conn.execute("SELECT * FROM tickets WHERE id = %s FOR UPDATE", (ticket_id,)) \
            .fetchone()
        if row is None:
            raise NotFoundError(f"no ticket {ticket_id}")
        before = _from_row(row)
        if expected_version is not None and before.version != expected_version:
            raise ConflictError(ticket_id, expected_version, before.version)
        after, entry = apply(before, command)  # raises LifecycleError: nothing is written
        conn.execute(_UPDATE, _to_row(after))
        self._append(conn, after, after.version + 1, entry)
        return after

    @staticmethod
    def _append(conn: Conn, ticket: Ticket, seq: int, entry: HistoryEntry) -> None:
        """Append `entry` to the history of `ticket` (as changed) and queue its notices."""
        assert ticket.id is not None
        conn.execute(
            "INSERT INTO ticket_history (ticket_id, seq, at, actor_id, actor_role, actor_name,"
            " action, from_state, to_state, note, data)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (ticket.id, seq, entry.at, entry.actor.id, entry.actor.role, entry.actor.name,
             entry.action, entry.from_state, entry.to_state, entry.note, Jsonb(entry.data)),
        )
        followers: list[str | None] = []
        if needs_followers(entry):
            followers = [r["reporter_id"] for r in conn.execute(
                "SELECT DISTINCT reporter_id FROM ticket_reports WHERE ticket_id = %s",
                (ticket.id,))]
        queued = notices(ticket, entry, followers)
        if queued:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO deliveries (site, ticket_id, seq, kind, recipient, channel)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    [(ticket.site, ticket.id, seq, n.kind, n.recipient, n.channel)
                     for n in queued],
                )

