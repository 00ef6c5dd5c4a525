"""Ingest writes: one batch of accepted rows and dead letters in the caller's transaction.

COPY into temporary tables, claim the messages' ids (services/store/message_ids.py), then
INSERT … ON CONFLICT DO NOTHING: a message redelivered after a crash, or sent again with
another sent_at, is stored once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from services.store.message_ids import Key, claim, claim_staged
from services.store.readings import Reading, move_readings, stage_readings


@dataclass(frozen=True)
class EventRow:
    time: datetime
    site: str
    device_id: str
    event: str
    data: dict[str, Any]
    message_id: str


@dataclass(frozen=True)
class StatusRow:
    time: datetime
    site: str
    device_id: str
    state: str
    message_id: str = ""


@dataclass(frozen=True)
class DeadLetter:
    received_at: datetime
    topic: str
    reason: str
    payload: bytes
    payload_size: int


@dataclass(frozen=True)
class Written:
    readings: int
    events: int
    dead: int
    repeated: frozenset[Key] = frozenset()  # messages stored before: left out


Conn = psycopg.Connection[Any]


def write_batch(
    conn: Conn,
    *,
    readings: Sequence[Reading],
    events: Sequence[EventRow],
    statuses: Sequence[StatusRow],
    dead: Sequence[DeadLetter],
    seen_at: datetime,
    also_claim: Sequence[Key] = (),
) -> Written:
    """Store the batch; each (device, message id) is claimed at `seen_at`, and the rows of
    one claimed before are left out. `also_claim`: ids of messages stored elsewhere (vision
    findings), claimed too. Returns what was stored and which messages were repeats."""
    repeated: set[Key] = set()
    stored_readings = 0
    if readings:
        stage_readings(conn, readings)
        repeated |= claim_staged(conn, "readings_in", seen_at)
        stored_readings = move_readings(conn)
    stored_events = 0
    if events:
        stage_events(conn, events)
        repeated |= claim_staged(conn, "device_events_in", seen_at)
        stored_events = _move_events(conn)
    if also_claim:
        repeated |= set(also_claim) - claim(conn, also_claim, seen_at)
    for status in statuses:  # a status is an event too: claimed with the events
        if (status.device_id, status.message_id) not in repeated:
            _upsert_status(conn, status)
    if dead:
        with conn.cursor() as cur, cur.copy(
            "COPY dead_letters (received_at, topic, reason, payload, payload_size) FROM STDIN"
        ) as copy:
            for d in dead:
                copy.write_row((d.received_at, d.topic, d.reason, d.payload, d.payload_size))
    return Written(stored_readings, stored_events, len(dead), frozenset(repeated))


def stage_events(conn: Conn, events: Iterable[EventRow]) -> None:
    """COPY events into the transaction's temporary table `device_events_in`."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS device_events_in"
        " (LIKE device_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with conn.cursor() as cur, cur.copy(
        "COPY device_events_in (time, site, device_id, event, data, message_id) FROM STDIN"
    ) as copy:
        for e in events:
            copy.write_row((e.time, e.site, e.device_id, e.event, Jsonb(e.data), e.message_id))


def _move_events(conn: Conn) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO device_events (time, site, device_id, event, data, message_id)"
            " SELECT time, site, device_id, event, data, message_id FROM device_events_in"
            " ON CONFLICT DO NOTHING"
        )
        stored = cur.rowcount
        cur.execute("TRUNCATE device_events_in")
    return stored


def _upsert_status(conn: Conn, s: StatusRow) -> None:
    # `since` moves only when the state changes; an older message never overrides a newer one
    conn.execute(
        "INSERT INTO device_status (device_id, site, state, since, last_seen)"
        " VALUES (%(d)s, %(site)s, %(state)s, %(t)s, %(t)s)"
        " ON CONFLICT (device_id) DO UPDATE SET"
        "  since = CASE WHEN device_status.state = EXCLUDED.state THEN device_status.since"
        "               ELSE EXCLUDED.since END,"
        "  state = EXCLUDED.state, last_seen = EXCLUDED.last_seen"
        " WHERE EXCLUDED.last_seen > device_status.last_seen",
        {"d": s.device_id, "site": s.site, "state": s.state, "t": s.time},
    )
