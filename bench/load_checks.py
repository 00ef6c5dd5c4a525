"""The load test's end checks, from the database and the simulators' own counts: every
acknowledged reading stored exactly once, every frame accounted for, the tickets the
sensor rules and the camera scenes call for; and the lags and delays to report."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from bench.load_estate import FPS, KEYFRAME_EVERY_S, SimCamera
from services.config import EstateConfig, SensorRule
from services.ingest.rules import IDLE, Condition, Outcome, observe, tick

Conn = psycopg.Connection[Any]
# ingest ticks every 5 s (IngestOptions.tick_every_s), after the batch it is writing
INGEST_TICK = timedelta(seconds=6)


@dataclass(frozen=True)
class StoredReadings:
    rows: int
    messages: int  # distinct message ids
    duplicates: int  # rows beyond one per message id
    gaps: int  # sequence numbers missing below a device's highest stored one
    short: list[str]  # devices with fewer messages stored than the broker acknowledged


def stored_readings(conn: Conn, acknowledged: dict[str, int]) -> StoredReadings:
    """Readings per device, against the messages the broker acknowledged (PUBACK) for it.

    Edge message ids end in a 9-digit sequence number counted from 1 per device and run,
    so a device's highest stored number must equal its count of stored messages."""
    rows = conn.execute(
        "SELECT device_id, count(*), count(DISTINCT message_id),"
        " max(right(message_id, 9)::bigint) FROM readings GROUP BY device_id").fetchall()
    per_device = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}
    total_rows = sum(v[0] for v in per_device.values())
    messages = sum(v[1] for v in per_device.values())
    gaps = sum(v[2] - v[1] for v in per_device.values())
    short = sorted(d for d, n in acknowledged.items() if per_device.get(d, (0, 0, 0))[1] < n)
    return StoredReadings(total_rows, messages, total_rows - messages, gaps, short)


def dead_letters(conn: Conn) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT topic, reason FROM dead_letters ORDER BY id LIMIT 20").fetchall()]


@dataclass(frozen=True)
class Lag:
    count: int
    p50: float
    p99: float
    max: float


def reading_lags(conn: Conn, since: datetime, *, by_minute: bool) -> list[tuple[int, Lag]]:
    """Sensor read time → row written (`received_at`, the storing transaction's start),
    for readings taken after `since`; one row, or one per minute of the run."""
    bucket = "floor(extract(epoch FROM time - %(t0)s) / 60)::int" if by_minute else "0"
    rows = conn.execute(
        f"SELECT {bucket} AS minute, count(*),"  # a fixed expression
        " percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM received_at - time)),"
        " max(extract(epoch FROM received_at - time))"
        " FROM readings WHERE time >= %(t0)s GROUP BY 1 ORDER BY 1",
        {"t0": since}).fetchall()
    return [(int(r[0]), Lag(int(r[1]), float(r[2][0]), float(r[2][1]), float(r[3])))
            for r in rows]


# --- sensor tickets -------------------------------------------------------------------


@dataclass(frozen=True)
class RuleState:
    """Where a rule stands for one sensor after its stored readings, judged as ingest
    judges them (in time order, through the same pure rule functions)."""

    key: str  # rule/device
    rule: SensorRule
    condition: Condition
    opened: bool  # a reading made the condition hold for the rule's duration

    def due_by(self, at: datetime) -> bool:
        """Whether the ticket is due by `at`: opened by a reading, or by ingest's periodic
        tick once a pending condition has held long enough without readings."""
        return self.opened or tick(self.rule, self.condition, at).outcome is Outcome.OPENED


def rule_states(conn: Conn, estate: EstateConfig) -> list[RuleState]:
    """Every (rule, sensor) pair's state after the stored readings. Tickets are never
    closed in the load test, so a pair opens at most one ticket."""
    rules: dict[tuple[str, str], list[SensorRule]] = defaultdict(list)
    for rule in estate.sensor_rules:
        for device in estate.rule_devices(rule):
            rules[(device, rule.metric)].append(rule)
    states = []
    for device, metric in sorted(rules):
        readings = conn.execute(
            "SELECT time, value FROM readings WHERE device_id = %s AND metric = %s"
            " ORDER BY time", (device, metric)).fetchall()
        for rule in rules[(device, metric)]:
            cond, opened = IDLE, False
            for at, value in readings:
                step = observe(rule, cond, at, value, night=estate.site.is_night(at))
                cond, opened = step.condition, opened or step.outcome is Outcome.OPENED
            states.append(RuleState(f"{rule.id}/{device}", rule, cond, opened))
    return states


def sensor_tickets(conn: Conn, estate: EstateConfig) -> dict[str, float]:
    """rule/device → seconds from the condition's due time (crossing + duration) to the
    ticket's evidence being written, for every sensor ticket."""
    durations = {rule.id: rule.duration for rule in estate.sensor_rules}
    rows = conn.execute(
        "SELECT t.finding_key, t.opened_at, min(h.at) FROM tickets t"
        " JOIN ticket_history h ON h.ticket_id = t.id AND h.note LIKE 'readings of %%'"
        " WHERE t.source = 'sensor' GROUP BY t.id").fetchall()
    found = {}
    for key, opened_at, recorded in rows:
        _, rule, device, _ = key.split("/", 3)
        found[f"{rule}/{device}"] = (recorded - opened_at - durations[rule]).total_seconds()
    return found


# --- camera tickets -------------------------------------------------------------------

EARLY_S = 5.0  # the detector may see an object settle a little before the scene says
LATE_S = KEYFRAME_EVERY_S + 15.0  # a still scene sends a keyframe every 30 s


@dataclass
class CameraExpectation:
    sure: int = 0
    possible: int = 0
    actual: int = 0
    delays: list[float] = field(default_factory=list)  # after the dwell, to the ticket


def camera_tickets(conn: Conn, cameras: list[SimCamera], frames_read: dict[str, int]) \
        -> dict[tuple[str, str], CameraExpectation]:
    """Per camera and zone: conditions of the scene played so far that must (sure) or may
    (possible) have opened a ticket by now, and the tickets opened."""
    table: dict[tuple[str, str], CameraExpectation] = {}
    for cam in cameras:
        played = frames_read.get(cam.id, 0) / FPS
        for zone in cam.dwell_s:
            table[(cam.id, zone)] = CameraExpectation()
        for c in cam.truth["conditions"]:
            dwell = cam.dwell_s[c["zone_id"]]
            lying = min(c["end_s"], played) - c["start_s"]
            entry = table[(cam.id, c["zone_id"])]
            if lying > dwell + LATE_S:
                entry.sure += 1
            if lying > dwell - EARLY_S:
                entry.possible += 1
    rows = conn.execute(
        "SELECT t.finding_key, t.opened_at, min(h.at) FROM tickets t"
        " JOIN ticket_history h ON h.ticket_id = t.id AND h.note LIKE 'detected %%'"
        " WHERE t.source = 'camera' GROUP BY t.id").fetchall()
    dwell_of = {(cam.id, z): d for cam in cameras for z, d in cam.dwell_s.items()}
    for key, opened_at, detected in rows:
        camera, zone, _ = key.removeprefix("camera/").split(".", 2)
        entry = table.setdefault((camera, zone), CameraExpectation())
        entry.actual += 1
        due = opened_at + timedelta(seconds=dwell_of.get((camera, zone), 0.0))
        entry.delays.append((detected - due).total_seconds())
    return table


def lag_split(conn: Conn, since: datetime, arrivals: dict[str, float]) \
        -> tuple[Lag, Lag] | None:
    """(read → at the broker's subscribers, there → row written), over the readings whose
    arrival a broker subscriber stamped."""
    edge: list[float] = []
    server: list[float] = []
    for message_id, read, written in conn.execute(
            "SELECT message_id, time, received_at FROM readings WHERE time >= %s", (since,)):
        arrived = arrivals.get(message_id)
        if arrived is not None:
            edge.append(arrived - read.timestamp())
            server.append(written.timestamp() - arrived)
    return (_lag(edge), _lag(server)) if edge else None


def _lag(values: list[float]) -> Lag:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return Lag(len(ordered), at(0.5), at(0.99), ordered[-1])
