"""Accounts, their sessions, and the personal data of the people behind them.

Hashing is the caller's job (services.board.passwords): this module stores and finds
hashes only. Each function runs on the caller's connection, inside its transaction.

An account belongs to one estate (`site`) when several share the database; the lookups
given a site find only that estate's accounts and the unbound ones (site NULL, as every
account was before 0011_account_sites.sql).

Logins are stored and looked up in one normal form, `normal_login` (NFKC, case-folded),
applied here whatever the caller passes: what is typed in full-width letters, with a
ligature or in another case finds the same account, and counters keyed by the login (the
sign-in throttle) count the same one. A staff member's number is unique within their
estate (0016_sign_in.sql), not across the database.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from services.store.reads import Read
from services.tickets import Role

__all__ = [
    "ACCOUNT_ROLES",
    "Account",
    "AccountExistsError",
    "Person",
    "account_by_login",
    "account_by_session",
    "account_by_session_read",
    "add_account",
    "bind_accounts",
    "bound_site",
    "normal_login",
    "people_read",
    "person",
    "person_exists",
    "person_read",
    "revoke_session",
    "save_session",
    "set_password_hash",
    "staff_number_taken",
]

Conn = psycopg.Connection[Any]
ACCOUNT_ROLES = frozenset({Role.RESIDENT, Role.STAFF, Role.MANAGER, Role.AUDITOR})


@dataclass(frozen=True)
class Person:
    """Personal data (SPEC §4): shown to the person and to staff, never publicly."""

    id: str
    role: str
    display_name: str
    phone: str | None
    building: str | None
    unit: str | None


@dataclass(frozen=True)
class Account:
    person_id: str
    login: str
    role: Role
    department: str | None
    display_name: str
    building: str | None
    password_hash: str
    site: str | None = None  # None: not bound to one estate
    staff_number: str | None = None  # staff: their number in their estate's config


class AccountExistsError(RuntimeError):
    pass


def normal_login(login: str) -> str:
    """The one form a login is stored, looked up and counted in: NFKC and case-folded
    (NFKC again after folding, which can undo a composition), without outer spaces.
    "ＴＩＧＥＲ９" and "Tiger9" are "tiger9"; "tİger9" (a Turkish capital İ) folds to
    "ti̇ger9", with a combining dot, which is another login: never tiger9's account."""
    folded = unicodedata.normalize("NFKC", login.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


_ACCOUNT = (
    "SELECT a.person_id, a.login, a.role, a.department, p.display_name, p.building,"
    " a.password_hash, a.site, a.staff_number FROM accounts a"
    " JOIN people p ON p.id = a.person_id"
)
_OF_SITE = " AND (a.site IS NULL OR a.site = %(site)s OR %(site)s::text IS NULL)"


def _account(row: tuple[Any, ...] | None) -> Account | None:
    if row is None:
        return None
    return Account(row[0], row[1], Role(row[2]), row[3], row[4], row[5], row[6], row[7],
                   row[8])


def person_exists(conn: Conn, person_id: str) -> bool:
    return conn.execute("SELECT 1 FROM people WHERE id = %s", (person_id,)).fetchone() \
        is not None


def add_person_once(conn: Conn, person_id: str, role: Role, display_name: str) -> None:
    """A person without an account (e.g. the demo's resident), unless already there."""
    conn.execute("INSERT INTO people (id, role, display_name) VALUES (%s, %s, %s)"
                 " ON CONFLICT DO NOTHING", (person_id, role.value, display_name))


def staff_number_taken(conn: Conn, site: str | None, staff_number: str) -> bool:
    """Whether estate `site` (None: the unbound accounts) has an account for this number."""
    return conn.execute(
        "SELECT 1 FROM accounts WHERE site IS NOT DISTINCT FROM %s AND staff_number = %s",
        (site, staff_number)).fetchone() is not None


def add_account(conn: Conn, person: Person, *, login: str, password_hash: str, role: Role,
                department: str | None, at: datetime, site: str | None = None,
                staff_number: str | None = None) -> Account:
    """A person and their account (of estate `site`), in the caller's transaction; the
    login is stored in its normal form."""
    if role not in ACCOUNT_ROLES:
        raise ValueError(f"an account cannot have the role {role}")
    login = normal_login(login)
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO people (id, role, display_name, phone, building, unit, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (person.id, person.role, person.display_name, person.phone, person.building,
                 person.unit, at),
            )
            conn.execute(
                "INSERT INTO accounts (person_id, login, password_hash, role, department,"
                " created_at, site, staff_number) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (person.id, login, password_hash, role.value, department, at, site,
                 staff_number),
            )
    except psycopg.errors.UniqueViolation as exc:
        taken = {"accounts_site_staff_number": f"the staff number {staff_number!r} has an"
                 " account in this estate already"}.get(exc.diag.constraint_name or "",
                                                        f"the login or id {login!r}/"
                                                        f"{person.id!r} is taken")
        raise AccountExistsError(taken) from None
    return Account(person.id, login, role, department, person.display_name, person.building,
                   password_hash, site, staff_number)


def account_by_login(conn: Conn, login: str, site: str | None = None) -> Account | None:
    """An enabled account by login (in its normal form); given `site`, of that estate (or
    unbound) only."""
    return _account(conn.execute(
        _ACCOUNT + " WHERE a.login = %(login)s AND a.disabled_at IS NULL"
        + _OF_SITE, {"login": normal_login(login), "site": site},
    ).fetchone())


def set_password_hash(conn: Conn, person_id: str, password_hash: str) -> None:
    conn.execute("UPDATE accounts SET password_hash = %s WHERE person_id = %s",
                 (password_hash, person_id))


def save_session(conn: Conn, token_hash: bytes, person_id: str, created_at: datetime,
                 expires_at: datetime) -> None:
    """A new session; the person's expired and revoked ones are cleared on the way."""
    conn.execute(
        "DELETE FROM sessions WHERE person_id = %s AND (expires_at <= %s OR revoked_at IS NOT"
        " NULL)", (person_id, created_at),
    )
    conn.execute(
        "INSERT INTO sessions (token_hash, person_id, created_at, expires_at)"
        " VALUES (%s, %s, %s, %s)",
        (token_hash, person_id, created_at, expires_at),
    )


def account_by_session_read(token_hash: bytes, now: datetime, *,
                            site: str | None = None) -> Read[Account | None]:
    """The account a live session belongs to: not expired, revoked or disabled; given
    `site`, only an account of that estate (or an unbound one)."""
    return Read(
        _ACCOUNT + " JOIN sessions s ON s.person_id = a.person_id"
        " WHERE s.token_hash = %(token)s AND s.expires_at > %(now)s AND s.revoked_at IS NULL"
        " AND a.disabled_at IS NULL" + _OF_SITE,
        {"token": token_hash, "now": now, "site": site},
        lambda rows: _account(rows[0]) if rows else None,
    )


def account_by_session(conn: Conn, token_hash: bytes, now: datetime, *,
                       site: str | None = None) -> Account | None:
    return account_by_session_read(token_hash, now, site=site).run(conn)


def bound_site(conn: Conn, person_id: str) -> str | None:
    """The estate an account is bound to; None when unbound or when there is no account
    (a service acting: ingest, vision, the scheduler)."""
    row = conn.execute("SELECT site FROM accounts WHERE person_id = %s", (person_id,)).fetchone()
    return None if row is None else row[0]


def bind_accounts(conn: Conn, site: str, *, login: str | None = None) -> list[str]:
    """Bind unbound accounts (all, or the one with `login`) to `site`; their logins."""
    rows = conn.execute(
        "UPDATE accounts SET site = %(site)s WHERE site IS NULL"
        " AND (%(login)s::text IS NULL OR login = %(login)s) RETURNING login",
        {"site": site, "login": None if login is None else normal_login(login)},
    ).fetchall()
    return sorted(r[0] for r in rows)


def revoke_session(conn: Conn, token_hash: bytes, at: datetime) -> None:
    conn.execute(
        "UPDATE sessions SET revoked_at = %s WHERE token_hash = %s AND revoked_at IS NULL",
        (at, token_hash),
    )


def people_read(person_ids: list[str]) -> Read[dict[str, Person]]:
    """These people, by id (those that exist)."""
    return Read("SELECT id, role, display_name, phone, building, unit FROM people"
                " WHERE id = ANY(%s)", (person_ids,), lambda rows: {p.id: p for p in rows},
                class_row(Person))


def person_read(person_id: str) -> Read[Person | None]:
    return Read("SELECT id, role, display_name, phone, building, unit FROM people"
                " WHERE id = %s", (person_id,), lambda rows: rows[0] if rows else None,
                class_row(Person))


def person(conn: Conn, person_id: str) -> Person | None:
    return person_read(person_id).run(conn)
