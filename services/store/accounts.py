"""Accounts, their sessions, and the personal data of the people behind them.

Hashing is the caller's job (services.board.passwords): this module stores and finds
hashes only. Each function runs on the caller's connection, inside its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from services.tickets import Role

__all__ = [
    "ACCOUNT_ROLES",
    "Account",
    "AccountExistsError",
    "Person",
    "account_by_login",
    "account_by_session",
    "add_account",
    "person",
    "revoke_session",
    "save_session",
    "set_password_hash",
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


class AccountExistsError(RuntimeError):
    pass


_ACCOUNT = (
    "SELECT a.person_id, a.login, a.role, a.department, p.display_name, p.building,"
    " a.password_hash FROM accounts a JOIN people p ON p.id = a.person_id"
)


def _account(row: tuple[Any, ...] | None) -> Account | None:
    if row is None:
        return None
    return Account(row[0], row[1], Role(row[2]), row[3], row[4], row[5], row[6])


def add_account(conn: Conn, person: Person, *, login: str, password_hash: str, role: Role,
                department: str | None, at: datetime) -> Account:
    """A person and their account, in the caller's transaction."""
    if role not in ACCOUNT_ROLES:
        raise ValueError(f"an account cannot have the role {role}")
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
                " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (person.id, login, password_hash, role.value, department, at),
            )
    except psycopg.errors.UniqueViolation:
        raise AccountExistsError(f"the login or id {login!r}/{person.id!r} is taken") from None
    return Account(person.id, login, role, department, person.display_name, person.building,
                   password_hash)


def account_by_login(conn: Conn, login: str) -> Account | None:
    """An enabled account by login, case-insensitively."""
    return _account(conn.execute(
        _ACCOUNT + " WHERE lower(a.login) = lower(%s) AND a.disabled_at IS NULL", (login,)
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


def account_by_session(conn: Conn, token_hash: bytes, now: datetime) -> Account | None:
    """The account a live session belongs to: not expired, revoked or disabled."""
    return _account(conn.execute(
        _ACCOUNT + " JOIN sessions s ON s.person_id = a.person_id"
        " WHERE s.token_hash = %s AND s.expires_at > %s AND s.revoked_at IS NULL"
        " AND a.disabled_at IS NULL",
        (token_hash, now),
    ).fetchone())


def revoke_session(conn: Conn, token_hash: bytes, at: datetime) -> None:
    conn.execute(
        "UPDATE sessions SET revoked_at = %s WHERE token_hash = %s AND revoked_at IS NULL",
        (at, token_hash),
    )


def person(conn: Conn, person_id: str) -> Person | None:
    with conn.cursor(row_factory=class_row(Person)) as cur:
        return cur.execute(
            "SELECT id, role, display_name, phone, building, unit FROM people WHERE id = %s",
            (person_id,),
        ).fetchone()
