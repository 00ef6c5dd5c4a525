"""Invitation codes per building: created by the manager, redeemed by joining residents.

Codes are stored as SHA-256 hashes (the caller hashes); redeeming takes one use in a
single UPDATE, so two residents joining at once can never both take the last use. A code
belongs to one estate (`site`): another estate's board neither lists nor redeems it.
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
                   expires_at: datetime, created_by: str, at: datetime,
                   site: str | None = None) -> Invitation:
    with conn.cursor(row_factory=class_row(Invitation)) as cur:
        row = cur.execute(
            "INSERT INTO invitations (code_hash, hint, building, uses_left, expires_at,"
            " created_by, created_at, site) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (code_hash, hint, building, uses, expires_at, created_by, at, site),
        ).fetchone()
    assert row is not None
    return row


# given a site: that estate's codes, and those from before codes had one
_OF_SITE = "(site IS NULL OR site = %(site)s OR %(site)s::text IS NULL)"


def redeem_invitation(conn: Conn, code_hash: bytes, now: datetime,
                      site: str | None = None) -> Invitation | None:
    """Take one use of a live code (of estate `site`); None when it is unknown, used up,
    expired, revoked or another estate's."""
    with conn.cursor(row_factory=class_row(Invitation)) as cur:
        return cur.execute(
            "UPDATE invitations SET uses_left = uses_left - 1"
            " WHERE code_hash = %(code)s AND uses_left > 0 AND expires_at > %(now)s"
            f" AND revoked_at IS NULL AND {_OF_SITE} RETURNING {_COLUMNS}",
            {"code": code_hash, "now": now, "site": site},
        ).fetchone()


def list_invitations(conn: Conn, *, site: str | None = None,
                     limit: int = 100) -> list[Invitation]:
    with conn.cursor(row_factory=class_row(Invitation)) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM invitations WHERE {_OF_SITE} ORDER BY id DESC"
            " LIMIT %(limit)s", {"site": site, "limit": limit},
        ).fetchall()
