"""Uploaded media: one row per checked file, saved under the data directory by the board."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row

from services.store.reads import Read

__all__ = [
    "MediaPurpose",
    "MediaRow",
    "add_media",
    "get_media",
    "known_paths",
    "media_of_ticket_read",
    "media_of_tickets_read",
]

Conn = psycopg.Connection[Any]
MediaPurpose = Literal["report", "info", "result"]
_COLUMNS = ("id, ticket_id, owner_id, purpose, kind, content_type, size_bytes, sha256, path,"
            " created_at")


@dataclass(frozen=True)
class MediaRow:
    id: uuid.UUID
    ticket_id: int
    owner_id: str
    purpose: MediaPurpose
    kind: Literal["photo", "video"]
    content_type: str
    size_bytes: int
    sha256: bytes
    path: str  # relative to the data directory
    created_at: datetime


def add_media(conn: Conn, rows: list[MediaRow]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO media ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(r.id, r.ticket_id, r.owner_id, r.purpose, r.kind, r.content_type, r.size_bytes,
              r.sha256, r.path, r.created_at) for r in rows],
        )


def get_media(conn: Conn, media_id: uuid.UUID) -> MediaRow | None:
    with conn.cursor(row_factory=class_row(MediaRow)) as cur:
        return cur.execute(f"SELECT {_COLUMNS} FROM media WHERE id = %s", (media_id,)).fetchone()


def media_of_ticket_read(ticket_id: int) -> Read[list[MediaRow]]:
    return Read(f"SELECT {_COLUMNS} FROM media WHERE ticket_id = %s ORDER BY created_at, id",
                (ticket_id,), list, class_row(MediaRow))


def media_of_tickets_read(ticket_ids: list[int]) -> Read[dict[int, list[MediaRow]]]:
    def build(rows: list[MediaRow]) -> dict[int, list[MediaRow]]:
        found: dict[int, list[MediaRow]] = {tid: [] for tid in ticket_ids}
        for row in rows:
            found[row.ticket_id].append(row)
        return found

    return Read(f"SELECT {_COLUMNS} FROM media WHERE ticket_id = ANY(%s)"
                " ORDER BY created_at, id", (ticket_ids,), build, class_row(MediaRow))


def known_paths(conn: Conn, paths: list[str]) -> set[str]:
    """Which of these files (relative to the data directory) a media row names."""
    rows = conn.execute("SELECT path FROM media WHERE path = ANY(%s)", (paths,)).fetchall()
    return {str(r[0]) for r in rows}
