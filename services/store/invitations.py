"""Invitation codes per building: created by the manager, redeemed by joining residents.

Codes are stored as SHA-256 hashes (the caller hashes); redeeming takes one use in a
single UPDATE, so two residents joining at once can never both take the last use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

__all__ = ["Invitation", "add_invitation", "list_invitations", "redeem_invitation"]

Conn = psycopg.Connection[Any]
_COLUMNS = "id, hint, building, uses_left, expires_at, created_by, created_at, revoked_at"


@dataclass(frozen=True)
class Invitation:
    id: int
    hint: str
    building: str
    uses_left: int
    expires_at: datetime
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


def add_invitation(conn: Conn, *, code_hash: bytes, hint: str, building: str, uses: int,
                   expires_at: datetime, created_by: str, at: datetime) -> Invitation:
    with conn.cursor(row_factory=class_row(Invitation)) as cur:
        row = cur.execute(
            "INSERT INTO invitations (code_hash, hint, building, uses_left, expires_at,"
            " created_by, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (code_hash, hint, building, uses, expires_at, created_by, at),
        ).fetchone()
    assert row is not None
    return row


def redeem_invitation(conn: Conn, code_hash: bytes, now: datetime) -> Invitation | None:
    """Take one use of a live code; None when it is unknown, used up, expired or revoked."""
    with conn.cursor(row_factory=class_row(Invitation)) as cur:
        return cur.execute(
            "UPDATE invitations SET uses_left = uses_left - 1"
            " WHERE code_hash = %s AND uses_left > 0 AND expires_at > %s AND revoked_at IS NULL"
            f" RETURNING {_COLUMNS}",
            (code_hash, now),
        ).fetchone()


def list_invitations(conn: Conn, *, limit: int = 100) -> list[Invitation]:
    with conn.cursor(row_factory=class_row(Invitation)) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM invitations ORDER BY id DESC LIMIT %s", (limit,)
        ).fetchall()
