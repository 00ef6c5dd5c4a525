"""Bulletin drafts (0013): a week's content before it is sealed, edited in review.

A draft is deleted when it is sealed: the publication is then the record, and the text a
reviewer masked or removed is in no table the public reads from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

__all__ = ["Draft", "delete", "due", "get", "listed", "save"]

_COLUMNS = "site, week, created_at, updated_at, seal_by, content, spans"


@dataclass(frozen=True)
class Draft:
    site: str
    week: str
    created_at: datetime
    updated_at: datetime
    seal_by: datetime
    content: dict[str, Any]
    spans: list[dict[str, Any]]


def get(conn: Any, site: str, week: str, *, lock: bool = False) -> Draft | None:
    query = f"SELECT {_COLUMNS} FROM bulletin_drafts WHERE site = %s AND week = %s"
    with conn.cursor(row_factory=class_row(Draft)) as cur:
        found: Draft | None = cur.execute(query + (" FOR UPDATE" if lock else ""),
                                          (site, week)).fetchone()
        return found


def listed(conn: Any, site: str) -> list[Draft]:
    """The site's drafts, oldest week first."""
    with conn.cursor(row_factory=class_row(Draft)) as cur:
        rows: list[Draft] = cur.execute(f"SELECT {_COLUMNS} FROM bulletin_drafts"
                                        " WHERE site = %s ORDER BY week", (site,)).fetchall()
        return rows


def due(conn: Any, site: str, now: datetime) -> list[str]:
    """The weeks whose drafts should have been sealed by `now`."""
    rows = conn.execute("SELECT week FROM bulletin_drafts WHERE site = %s AND seal_by <= %s"
                        " ORDER BY week", (site, now)).fetchall()
    return [str(r[0]) for r in rows]


def save(conn: Any, draft: Draft) -> None:
    """Insert the draft, or replace its content and spans."""
    conn.execute(
        f"INSERT INTO bulletin_drafts ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (site, week) DO UPDATE SET updated_at = EXCLUDED.updated_at,"
        " content = EXCLUDED.content, spans = EXCLUDED.spans",
        (draft.site, draft.week, draft.created_at, draft.updated_at, draft.seal_by,
         Jsonb(draft.content), Jsonb(draft.spans)))


def delete(conn: Any, site: str, week: str) -> None:
    conn.execute("DELETE FROM bulletin_drafts WHERE site = %s AND week = %s", (site, week))
