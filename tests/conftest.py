"""Shared fixtures: a fresh database on the real PostgreSQL for each test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from services.store import open_pool, upgrade

# The server the tests use; `make test` starts it when it is not running.
SERVER_URL = os.environ.get(
    "SUNLIGHT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _create_database() -> str:
    name = f"sunlight_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return name


def _drop_database(name: str) -> None:
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A database with nothing in it, dropped afterwards."""
    name = _create_database()
    try:
        yield make_conninfo(SERVER_URL, dbname=name)
    finally:
        _drop_database(name)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """One migrated database shared by the session's tests (each test makes its own rows)."""
    name = _create_database()
    url = make_conninfo(SERVER_URL, dbname=name)
    try:
        upgrade(url)
        yield url
    finally:
        _drop_database(name)


@pytest.fixture(scope="session")
def pool(database_url: str) -> Iterator[ConnectionPool]:
    p = open_pool(database_url, min_size=1, max_size=8, name="sunlight-tests")
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="module")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Mosquitto for one test module (tests that need their own broker: the
    shared one on 1883 keeps the system's default queue limits and sessions)."""
    from services.stack import start_broker

    broker = start_broker(tmp_path_factory.mktemp("broker"), kind="mosquitto")
    try:
        yield broker.url
    finally:
        broker.stop()
