"""Migrations from an empty database, against the real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from services.store import migrate


def test_upgrade_from_empty_applies_every_migration_once(empty_database_url: str) -> None:
    applied, caps = migrate.upgrade(empty_database_url)
    assert [m.version for m in applied] == [m.version for m in migrate.available()]
    again, _ = migrate.upgrade(empty_database_url)
    assert again == []
    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute(
            "SELECT version, name, timescale FROM schema_migrations ORDER BY version"
        ).fetchall()
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        }
    assert [(r[0], r[1]) for r in rows] == [(m.version, m.name) for m in applied]
    assert all(r[2] == caps.timescale for r in rows)
    assert {"tickets", "ticket_history", "people", "readings", "device_events"} <= tables


def test_every_time_column_is_timestamptz(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        naive = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'"
        ).fetchall()
    assert naive == []


def test_history_is_append_only(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO tickets (site, category, priority, source, channel, state, description,"
            " area, opened_at, sla_respond, sla_resolve, respond_due_at, resolve_due_at,"
            " updated_at) VALUES ('s', 'c', 'normal', 'staff', 'phone', 'reported', 'd', 'a',"
            " now(), '1h', '1d', now(), now(), now()) RETURNING id"
        )
        conn.execute(
            "INSERT INTO ticket_history (ticket_id, seq, at, actor_id, actor_role, action,"
            " to_state) SELECT max(id), 1, now(), 'x', 'staff', 'open', 'reported' FROM tickets"
        )
        conn.commit()
        for statement in (b"UPDATE ticket_history SET note = 'x'", b"DELETE FROM ticket_history",
                          b"TRUNCATE ticket_history CASCADE"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)
