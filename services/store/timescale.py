"""TimescaleDB detection: use it where installed, fall back to plain PostgreSQL otherwise."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

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


def detect(conn: psycopg.Connection[tuple[object, ...]], *, install: bool = True) -> Capabilities:
    """What this server offers. Installs the extension when it is available but not created."""
    row = conn.execute(
        "SELECT default_version, installed_version FROM pg_available_extensions"
        " WHERE name = 'timescaledb'"
    ).fetchone()
    if row is None:
        return PLAIN
    installed = row[1]
    if installed is None and install:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except psycopg.Error as exc:  # present but not preloaded, or not permitted
            log.warning("event=timescale_unavailable reason=%r", str(exc).strip())
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
