"""TimescaleDB detection: use it where installed, fall back to plain PostgreSQL otherwise."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo

from services.store.db import CONNECT_TIMEOUT_S

log = logging.getLogger(__name__)

# time_bucket's default origin for intervals without months (a Monday); date_bin gets the
# same one so that both databases put a reading in the same bucket.
BUCKET_ORIGIN = "2000-01-03 00:00:00+00"


@dataclass(frozen=True)
class Capabilities:
    timescale: bool  # hypertables and time_bucket (Apache build and up)
    tsl: bool  # compression, retention, continuous-aggregate policies (Community build)
    version: str | None = None

    def bucket_sql(self, width_param: str, column: str = "time") -> str:
        """SQL for the bucket of `column`, given the name of an interval parameter."""
        if self.timescale:
            return f"time_bucket(%({width_param})s::interval, {column})"
        return f"date_bin(%({width_param})s::interval, {column}, TIMESTAMPTZ '{BUCKET_ORIGIN}')"


PLAIN = Capabilities(timescale=False, tsl=False)


def detect(conn: psycopg.Connection[tuple[object, ...]], *, install: bool = True,
           url: str | None = None) -> Capabilities:
    """What this server offers. Where the extension is available but not created and
    `install` is set, it is created on a connection of its own (to `url`, default `conn`'s
    own parameters): a server may refuse it by ending that session (TimescaleDB installed
    but not in shared_preload_libraries does), and `conn` must survive that."""
    row = conn.execute(
        "SELECT default_version, installed_version FROM pg_available_extensions"
        " WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return PLAIN
    installed = row[1]
    if installed is None and install:
        if not _create_extension(url or _conninfo(conn)):
            return PLAIN
        installed = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
        installed = installed[0] if installed else None
    if installed is None:
        return PLAIN
    license_row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    tsl = bool(license_row and license_row[0] == "timescale")
    return Capabilities(timescale=True, tsl=tsl, version=str(installed))


def _create_extension(url: str) -> bool:
    """CREATE EXTENSION timescaledb on a connection of its own; False (logged) when the
    server refuses, whether with an error or by closing the session."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as own:
            own.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:  # present but not preloaded, not permitted, broken
        diag = exc.diag
        reason = diag.message_primary or str(exc).strip().splitlines()[0]
        log.warning("event=timescale_unavailable fallback=plain_postgresql reason=%r hint=%r",
                    reason, " ".join((diag.message_hint or "").split())[:200])
        return False
    return True


def _conninfo(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """`conn`'s connection parameters, password included (info.dsn leaves it out)."""
    password = conn.info.password
    return make_conninfo(conn.info.dsn, **({"password": password} if password else {}))
