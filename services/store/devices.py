"""Broker credentials: one row per device or service account, hashes only.

The password itself is never stored: the caller hashes it (Mosquitto's `$7$` format, see
services.devices.broker_auth) and shows it once. Each function runs in the caller's
connection and transaction; `lock_broker_files` serialises the writers of the broker's
password and ACL files, so the last file written always reflects the latest commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import psycopg

__all__ = [
    "Credential",
    "CredentialExistsError",
    "CredentialNotFoundError",
    "CredentialRole",
    "OtherEstateError",
    "active_credentials",
    "add_credential",
    "get_credential",
    "list_credentials",
    "lock_broker_files",
    "revoke_credential",
]

Conn = psycopg.Connection[Any]
CredentialRole = Literal["device", "camera", "service"]

_LOCK_KEY = 0x53554E42  # "SUNB": broker files
_COLUMNS = "device_id, site, role, password_hash, created_at, rotated_at, revoked_at"


@dataclass(frozen=True)
class Credential:
    device_id: str  # the broker username: a device id, or a service account's name
    site: str
    role: CredentialRole
    password_hash: str
    created_at: datetime
    rotated_at: datetime | None  # the last password change after created_at
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class CredentialExistsError(RuntimeError):
    """The account already has a password (revoked or not); rotating replaces it."""

    def __init__(self, existing: Credential) -> None:
        state = (
            f"revoked at {existing.revoked_at:%Y-%m-%d %H:%M %Z}"
            if existing.revoked_at is not None
            else f"active since {existing.created_at:%Y-%m-%d %H:%M %Z}"
        )
        super().__init__(f"{existing.device_id} already has credentials ({state})")
        self.existing = existing


class CredentialNotFoundError(LookupError):
    pass


class OtherEstateError(RuntimeError):
    """The account belongs to another estate of this database (and broker): one estate
    never moves, rotates or revokes another's login."""

    def __init__(self, existing: Credential, site: str) -> None:
        super().__init__(
            f"{existing.device_id} is a broker login of another estate ({existing.site}),"
            f" not of {site}: a username is one login on the shared broker"
        )
        self.existing = existing


def _row(row: tuple[Any, ...]) -> Credential:
    device_id, site, role, password_hash, created_at, rotated_at, revoked_at = row
    return Credential(
        device_id=device_id,
        site=site,
        role=cast(CredentialRole, role),
        password_hash=password_hash,
        created_at=created_at,
        rotated_at=rotated_at,
        revoked_at=revoked_at,
    )


def add_credential(
    conn: Conn,
    *,
    device_id: str,
    site: str,
    role: CredentialRole,
    password_hash: str,
    rotate: bool = False,
) -> Credential:
    """Store a new password hash for an account.

    Without `rotate`, an account that already has a row (even a revoked one) is refused
    with CredentialExistsError: a second `add` must not silently lock out a working
    device. With `rotate`, the hash is replaced, `rotated_at` set and a revocation lifted.
    An account of another estate (`site`) is never touched: OtherEstateError.
    """
    if rotate:
        row = conn.execute(
            f"""INSERT INTO device_credentials (device_id, site, role, password_hash)
                VALUES (%s, %s, %s, %s)
                ON CONFLICT (device_id) DO UPDATE
                   SET role = EXCLUDED.role,
                       password_hash = EXCLUDED.password_hash,
                       rotated_at = now(), revoked_at = NULL
                 WHERE device_credentials.site = EXCLUDED.site
                RETURNING {_COLUMNS}""",
            (device_id, site, role, password_hash),
        ).fetchone()
        if row is None:
            existing = get_credential(conn, device_id)
            if existing is None:  # deleted meanwhile; cannot happen without DELETEs
                raise CredentialNotFoundError(device_id)
            raise OtherEstateError(existing, site)
    else:
        row = conn.execute(
            f"""INSERT INTO device_credentials (device_id, site, role, password_hash)
                VALUES (%s, %s, %s, %s)
                ON CONFLICT (device_id) DO NOTHING
                RETURNING {_COLUMNS}""",
            (device_id, site, role, password_hash),
        ).fetchone()
        if row is None:
            existing = get_credential(conn, device_id)
            if existing is None:  # deleted meanwhile; cannot happen without DELETEs
                raise CredentialNotFoundError(device_id)
            if existing.site != site:
                raise OtherEstateError(existing, site)
            raise CredentialExistsError(existing)
    assert row is not None
    return _row(row)


def get_credential(conn: Conn, device_id: str) -> Credential | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM device_credentials WHERE device_id = %s", (device_id,)
    ).fetchone()
    return _row(row) if row is not None else None


def list_credentials(conn: Conn, *, include_revoked: bool = True) -> list[Credential]:
    """Every account, services first, then by id."""
    where = "" if include_revoked else "WHERE revoked_at IS NULL"
    rows = conn.execute(
        f"""SELECT {_COLUMNS} FROM device_credentials {where}
            ORDER BY role <> 'service', device_id"""
    ).fetchall()
    return [_row(r) for r in rows]


def active_credentials(conn: Conn) -> list[Credential]:
    """The accounts that may log in: what the broker's files are rendered from."""
    return list_credentials(conn, include_revoked=False)


def revoke_credential(conn: Conn, device_id: str, site: str | None = None) -> Credential:
    """Set `revoked_at` (once: revoking twice keeps the first time); NotFound if absent.
    With `site`, an account of another estate is left alone: OtherEstateError."""
    row = conn.execute(
        f"""UPDATE device_credentials SET revoked_at = coalesce(revoked_at, now())
            WHERE device_id = %s AND (%s::text IS NULL OR site = %s)
            RETURNING {_COLUMNS}""",
        (device_id, site, site),
    ).fetchone()
    if row is None:
        existing = get_credential(conn, device_id)
        if existing is not None and site is not None:
            raise OtherEstateError(existing, site)
        raise CredentialNotFoundError(f"{device_id} has no credentials")
    return _row(row)


def lock_broker_files(conn: Conn) -> None:
    """Hold until the end of the transaction: one writer of the broker files at a time.

    Take it, read `active_credentials`, write the files, then commit: whoever writes last
    read last, so the files on disk match the latest committed state.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
