"""The audit log: who changed what on which estate, when and from where (0010_audit.sql).

`record` appends in the caller's transaction, so an entry stands or falls with the change
it describes; the table refuses updates and deletions. `entries` reads one estate's log,
newest first, a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

__all__ = ["AUDIT_ROLES", "AuditEntry", "AuditFilter", "AuditRow", "entries", "record"]

Conn = psycopg.Connection[Any]
# who appears in the log: the board's staff roles, people at the command line, and the
# scheduler (a bulletin sealed at its deadline)
AUDIT_ROLES = frozenset({"staff", "manager", "auditor", "operator", "anonymous", "system"})


@dataclass(frozen=True)
class AuditEntry:
    """One thing done. `person_id` is None for an unknown login or an operator's command."""

    site: str
    at: datetime
    role: str
    action: str
    person_id: str | None = None
    actor_name: str = ""
    target: str = ""
    address: str | None = None
    summary: str = ""


@dataclass(frozen=True)
class AuditRow:
    id: int
    site: str
    at: datetime
    person_id: str | None
    actor_name: str
    role: str
    action: str
    target: str
    address: str | None
    summary: str


@dataclass(frozen=True)
class AuditFilter:
    """Which entries: an action or action family ("ticket" matches "ticket.accept"), one
    person, one target, a time range [since, until), and the page (ids below `before`)."""

    action: str | None = None
    person_id: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = 50


def record(conn: Conn, entry: AuditEntry) -> None:
    if entry.role not in AUDIT_ROLES:
        raise ValueError(f"no audit role {entry.role!r}")
    conn.execute(
        "INSERT INTO audit_log (site, at, person_id, actor_name, role, action, target, address,"
        " summary) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (entry.site, entry.at, entry.person_id, entry.actor_name, entry.role, entry.action,
         entry.target, entry.address, entry.summary),
    )


def entries(conn: Conn, site: str, f: AuditFilter) -> list[AuditRow]:
    """The estate's entries that match, newest first."""
    where: list[sql.Composable] = [sql.SQL("site = %s")]
    params: list[Any] = [site]
    if f.action:
        where.append(sql.SQL("(action = %s OR action LIKE %s)"))
        params += [f.action, f.action.replace("\\", "\\\\").replace("%", "\\%")
                   .replace("_", "\\_") + ".%"]
    for column, value in (("person_id", f.person_id), ("target", f.target)):
        if value:
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if f.since is not None:
        where.append(sql.SQL("at >= %s"))
        params.append(f.since)
    if f.until is not None:
        where.append(sql.SQL("at < %s"))
        params.append(f.until)
    if f.before is not None:
        where.append(sql.SQL("id < %s"))
        params.append(f.before)
    query = sql.SQL(
        "SELECT id, site, at, person_id, actor_name, role, action, target, address, summary"
        " FROM audit_log WHERE {} ORDER BY id DESC LIMIT %s"
    ).format(sql.SQL(" AND ").join(where))
    with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        return cur.execute(query, [*params, f.limit]).fetchall()
