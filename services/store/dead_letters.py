"""The dead letter's budget per device and hour (table dead_letter_budget, migration 0014)
and the device event that tells staff a device went past it. Runs in the caller's
transaction: the budget row stays locked until the batch commits, so several ingest
instances share one budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]

CAP_EVENT = "dead_letter_cap"


@dataclass(frozen=True)
class BudgetKey:
    site: str
    device_id: str
    hour: datetime


@dataclass(frozen=True)
class Budget:
    kept_bytes: int
    dropped: int


def lock_budget(conn: Conn, key: BudgetKey) -> Budget:
    """What the device has used this hour, its row locked until the transaction ends."""
    conn.execute(
        "INSERT INTO dead_letter_budget (site, device_id, hour) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING", (key.site, key.device_id, key.hour))
    row = conn.execute(
        "SELECT kept_bytes, dropped FROM dead_letter_budget"
        " WHERE site = %s AND device_id = %s AND hour = %s FOR UPDATE",
        (key.site, key.device_id, key.hour)).fetchone()
    assert row is not None
    return Budget(int(row[0]), int(row[1]))


def charge_budget(conn: Conn, key: BudgetKey, *, kept: int, kept_bytes: int, dropped: int,
                  dropped_bytes: int) -> None:
    conn.execute(
        "UPDATE dead_letter_budget SET kept = kept + %s, kept_bytes = kept_bytes + %s,"
        " dropped = dropped + %s, dropped_bytes = dropped_bytes + %s"
        " WHERE site = %s AND device_id = %s AND hour = %s",
        (kept, kept_bytes, dropped, dropped_bytes, key.site, key.device_id, key.hour))


def record_cap_event(conn: Conn, key: BudgetKey, at: datetime, cap_bytes: int) -> None:
    """One device event per device and hour: what the board shows staff of a device."""
    conn.execute(
        "INSERT INTO device_events (time, site, device_id, event, data, message_id)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (at, key.site, key.device_id, CAP_EVENT,
         Jsonb({"cap_bytes": cap_bytes, "hour": key.hour.isoformat()}),
         f"{CAP_EVENT}-{key.hour.isoformat()}"))
