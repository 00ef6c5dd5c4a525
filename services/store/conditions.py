"""Sensor-rule conditions, locked per batch so that several ingest instances agree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row

Key = tuple[str, str]  # (rule_id, device_id)
_FIELDS = ("phase", "since", "last_time", "last_value", "ticket_id")


def lock_conditions(conn: psycopg.Connection[Any], keys: Iterable[Key]) \
        -> dict[Key, dict[str, Any]]:
    """The conditions for `keys`, created idle if new, locked until the transaction ends.

    Rows are locked in key order, so two instances locking overlapping sets cannot deadlock.
    """
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    rules, devices = [k[0] for k in ordered], [k[1] for k in ordered]
    conn.execute(
        "INSERT INTO sensor_conditions (rule_id, device_id, phase)"
        " SELECT r, d, 'idle' FROM unnest(%s::text[], %s::text[]) AS k(r, d)"
        " ORDER BY r, d ON CONFLICT DO NOTHING",
        (rules, devices),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT c.* FROM sensor_conditions c"
            " JOIN unnest(%s::text[], %s::text[]) AS k(r, d)"
            " ON (c.rule_id, c.device_id) = (k.r, k.d)"
            " ORDER BY c.rule_id, c.device_id FOR UPDATE OF c",
            (rules, devices),
        ).fetchall()
    return {(r["rule_id"], r["device_id"]): {f: r[f] for f in _FIELDS} for r in rows}


def lock_pending(conn: psycopg.Connection[Any]) -> dict[Key, dict[str, Any]]:
    """Pending conditions no other instance is working on (for the periodic tick)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM sensor_conditions WHERE phase = 'pending'"
            " ORDER BY rule_id, device_id FOR UPDATE SKIP LOCKED"
        ).fetchall()
    return {(r["rule_id"], r["device_id"]): {f: r[f] for f in _FIELDS} for r in rows}


def save_conditions(conn: psycopg.Connection[Any], changed: Mapping[Key, Mapping[str, Any]]) \
        -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE sensor_conditions SET phase = %s, since = %s, last_time = %s,"
            " last_value = %s, ticket_id = %s WHERE rule_id = %s AND device_id = %s",
            [tuple(row[f] for f in _FIELDS) + key for key, row in changed.items()],
        )


def recent_readings(conn: psycopg.Connection[Any], device_id: str, metric: str, limit: int = 20) \
        -> list[tuple[Any, float]]:
    """The device's latest readings of a metric, oldest first: evidence for a ticket."""
    rows = conn.execute(
        "SELECT time, value FROM readings WHERE device_id = %s AND metric = %s"
        " ORDER BY time DESC LIMIT %s",
        (device_id, metric, limit),
    ).fetchall()
    return [(r[0], float(r[1])) for r in reversed(rows)]


def evidence_recorded(conn: psycopg.Connection[Any], ticket_id: int, message_id: str) -> bool:
    """Whether a message's evidence is already on the ticket (a redelivered message)."""
    row = conn.execute(
        "SELECT 1 FROM ticket_history WHERE ticket_id = %s AND data->>'message_id' = %s",
        (ticket_id, message_id),
    ).fetchone()
    return row is not None
