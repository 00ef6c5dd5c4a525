"""Numbered SQL migrations and the runner that records what it applied.

`migrations/NNNN_name.sql` runs everywhere; `NNNN_name.timescale.sql` runs after it where
TimescaleDB is installed, and `NNNN_name.tsl.sql` where its Community features are too.
Each migration runs in its own transaction, under an advisory lock so that several
processes starting at once apply it once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from services.store.db import CONNECT_TIMEOUT_S
from services.store.timescale import Capabilities, detect

log = logging.getLogger(__name__)

_LOCK_KEY = 0x53554E4C  # "SUNL"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    timescale_sql: str | None = None
    tsl_sql: str | None = None


def available() -> list[Migration]:
    files = {f.name: f for f in resources.files("services.store.migrations").iterdir()}
    found = []
    for filename, file in files.items():
        match = _NAME.match(filename)
        if not match or filename.count(".") > 1:
            continue
        stem = filename.removesuffix(".sql")
        extra = {suffix: files.get(f"{stem}.{suffix}.sql") for suffix in ("timescale", "tsl")}
        found.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                sql=file.read_text("utf-8"),
                timescale_sql=extra["timescale"].read_text("utf-8") if extra["timescale"] else None,
                tsl_sql=extra["tsl"].read_text("utf-8") if extra["tsl"] else None,
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


def applied_versions(conn: psycopg.Connection[tuple[object, ...]]) -> set[int]:
    exists = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    if not exists or exists[0] is None:
        return set()
    return {int(str(r[0])) for r in conn.execute("SELECT version FROM schema_migrations")}


def missing_tables(conn: psycopg.Connection[Any], names: list[str]) -> list[str]:
    """Those of the tables that do not exist (a schema not upgraded far enough)."""
    rows = conn.execute("SELECT name FROM unnest(%s::text[]) AS name"
                        " WHERE to_regclass(name) IS NULL", (names,)).fetchall()
    return [row[0] for row in rows]


def upgrade(url: str) -> tuple[list[Migration], Capabilities]:
    """Apply every migration not yet applied; returns those applied and the capabilities."""
    with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            # on a connection of its own: a server may refuse the extension by closing it
            caps = detect(conn, url=url)
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       timescale boolean NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = applied_versions(conn)
            applied = [m for m in available() if m.version not in done]
            for migration in applied:
                _apply(conn, migration, caps)
            return applied, caps
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _apply(conn: psycopg.Connection[tuple[object, ...]], m: Migration, caps: Capabilities) -> None:
    with conn.transaction():
        conn.execute(m.sql.encode())  # bytes: run the whole file as one simple query
        if caps.timescale and m.timescale_sql:
            conn.execute(m.timescale_sql.encode())
        conn.execute(
            "INSERT INTO schema_migrations (version, name, timescale) VALUES (%s, %s, %s)",
            (m.version, m.name, caps.timescale),
        )
    if caps.tsl and m.tsl_sql:
        # optional features: a failure degrades (logged), it never stops the upgrade
        try:
            with conn.transaction():
                conn.execute(m.tsl_sql.encode())
        except psycopg.Error as exc:
            log.warning("event=tsl_policy_skipped migration=%s reason=%r", m.version, str(exc))
    log.info("event=migration_applied version=%s name=%s timescale=%s", m.version, m.name,
             caps.timescale)
