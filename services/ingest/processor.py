"""One batch, one transaction: store what was accepted, judge sensor rules, open tickets.

The caller acknowledges the batch to the broker only after `process` returns, so a crash
anywhere before the commit means redelivery, and a redelivered message changes nothing
(readings are unique per message id, rules ignore readings they have seen, evidence is
recorded once per message).
"""

from __future__ import annotations

import base64
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from services.config import DeviceKind, EstateConfig, SensorRule
from services.contract import Finding, Phase, Rule
from services.ingest.dead_letter_cap import DEAD_LETTER_BYTES_PER_HOUR, cap_dead_letters
from services.ingest.rules import Condition, ConditionPhase, Outcome, Step, observe, tick
from services.ingest.sorting import (
    Admission,
    FindingRow,
    Incoming,
    Sorted,
    dead_letter,
    sort_batch,
)
from services.store.conditions import (
    evidence_recorded,
    lock_conditions,
    lock_pending,
    recent_readings,
    save_conditions,
)
from services.store.db import DATABASE_AWAY
from services.store.evidence_runs import RunKey, Tally, add_runs, close_runs, hour_of
from services.store.examples import Example, record_example
from services.store.ingest import Written, write_batch
from services.store.message_ids import prune
from services.store.tickets import NewTicket, TicketStore
from services.tickets import Action, Actor, Channel, Command, Role, Source

log = logging.getLogger(__name__)

INGEST = Actor("ingest", Role.SYSTEM, "sensor rules")
VISION = Actor("vision", Role.SYSTEM, "vision service")
FINDING_CATEGORY = {Rule.BLOCKED_FIRE_EXIT: "fire_exit", Rule.LITTER: "litter"}
OFFLINE_METRIC = "offline"
TRANSIENT = DATABASE_AWAY  # the database is away: keep the batch and try again
PRUNE_IDS_EVERY = timedelta(minutes=10)


@dataclass(frozen=True)
class Observation:
    rule: SensorRule
    device_id: str
    at: datetime
    value: float


__all__ = ["DEAD_LETTER_BYTES_PER_HOUR", "TRANSIENT", "BatchResult", "Processor"]


@dataclass(frozen=True)
class BatchResult:
    written: Written
    opened: int
    findings: int
    dead_dropped: int = 0  # dead letters past their device's hourly cap: counted only
    repeated: int = 0  # copies of messages stored before, left out


@dataclass
class _Repeats:
    """One pass of the sensor rules: its recurrences and clearings, counted in memory and
    written at its end in one statement, and the tickets it found open."""

    tallies: dict[RunKey, Tally] = field(default_factory=dict)
    open: dict[int, bool] = field(default_factory=dict)

    def add(self, key: RunKey, metric: str, at: datetime, value: float | None) -> None:
        value = float("nan") if value is None else value
        if key in self.tallies:
            self.tallies[key].add(at, value)
        else:
            self.tallies[key] = Tally.one(metric, at, value)


def _at(moment: datetime | None) -> str:
    return f" (at {moment.isoformat()})" if moment else ""


class Processor:
    def __init__(self, pool: ConnectionPool, estate: EstateConfig, data_dir: Path,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), *,
                 dead_letter_bytes_per_hour: int = DEAD_LETTER_BYTES_PER_HOUR) -> None:
        self._pool = pool
        self._dead_cap = dead_letter_bytes_per_hour
        self._estate = estate
        self._tickets = TicketStore(pool)
        self._evidence_dir = data_dir / "evidence"
        self._clock = clock
        self._next_prune = datetime.min.replace(tzinfo=UTC)
        self.admission = Admission(site=estate.site.id, devices=estate.device_ids)
        self._rules_by_id = {rule.id: rule for rule in estate.sensor_rules}
        self._rules: dict[tuple[str, str], list[SensorRule]] = defaultdict(list)
        for rule in estate.sensor_rules:
            for device in estate.rule_devices(rule):
                self._rules[(device, rule.metric)].append(rule)
        if estate.cameras:
            for code in FINDING_CATEGORY.values():
                estate.category(code)  # fail at start, not at the first finding

    def process(self, batch: Sequence[Incoming], refuse: str | None = None) -> BatchResult:
        """Store a batch in one transaction; `refuse` dead-letters all of it with a reason."""
        sorted_ = sort_batch(batch, self.admission) if refuse is None else Sorted(
            dead=[dead_letter(m, refuse) for m in batch]
        )
        with self._pool.connection() as conn, conn.transaction():
            capped = cap_dead_letters(conn, sorted_.dead, self._dead_cap)
            written = write_batch(conn, readings=sorted_.readings, events=sorted_.events,
                                  statuses=sorted_.statuses, dead=capped.kept,
                                  seen_at=self._clock(), also_claim=sorted_.finding_keys())
            # a message is stored and judged once per device and id: copies are left out
            sorted_ = sorted_.without(written.repeated)
            opened = self._judge(conn, self._observations(sorted_))
            for finding in sorted_.findings:
                self._finding(conn, finding)
        return BatchResult(written, opened, len(sorted_.findings), capped.dropped,
                           sorted_.repeated)

    def process_each(self, batch: Sequence[Incoming]) -> BatchResult:
        """One transaction per message; a message that still fails is dead-lettered."""
        written, opened, findings, dropped, repeated = Written(0, 0, 0), 0, 0, 0, 0
        for incoming in batch:
            try:
                result = self.process([incoming])
            except TRANSIENT:
                raise
            except Exception as exc:  # the reason goes to the dead letter, not lost
                log.exception("event=message_failed topic=%s", incoming.topic)
                result = self.process([incoming], refuse=f"processing failed: {exc!r}")
            written = Written(written.readings + result.written.readings,
                              written.events + result.written.events,
                              written.dead + result.written.dead)
            opened += result.opened
            findings += result.findings
            dropped += result.dead_dropped
            repeated += result.repeated
        return BatchResult(written, opened, findings, dropped, repeated)

    def tick(self) -> int:
        """Open tickets for conditions that have now held for their duration."""
        now = self._clock()
        opened = 0
        with self._pool.connection() as conn, conn.transaction():
            changed, repeats = {}, _Repeats()
            for (rule_id, device), row in lock_pending(conn).items():
                rule = self._rules_by_id.get(rule_id)
                if rule is None:  # a rule removed from the config since
                    continue
                cond, new = self._act(conn, rule, device, tick(rule, Condition(**row), now),
                                      repeats)
                changed[(rule_id, device)] = asdict(cond)
                opened += new
            save_conditions(conn, changed)
            self._count_repeats(conn, repeats)
            self._sum_up_runs(conn, now)
        self._forget_old_ids(now)
        return opened

    def _forget_old_ids(self, now: datetime) -> None:
        """Message ids older than their horizon, at most every PRUNE_IDS_EVERY."""
        if now < self._next_prune:
            return
        with self._pool.connection() as conn, conn.transaction():
            removed = prune(conn, now)
        self._next_prune = now + PRUNE_IDS_EVERY
        if removed:
            log.info("event=message_ids_pruned count=%d", removed)

    # --- sensor rules ---------------------------------------------------------------

    def _observations(self, sorted_: Sorted) -> list[Observation]:
        found = [
            Observation(rule, r.device_id, r.time, r.value)
            for r in sorted_.readings
            for rule in self._rules.get((r.device_id, r.metric), ())
        ]
        found += [
            Observation(rule, s.device_id, s.time, 1.0 if s.state == "offline" else 0.0)
            for s in sorted_.statuses
            for rule in self._rules.get((s.device_id, OFFLINE_METRIC), ())
        ]
        return sorted(found, key=lambda o: o.at)

    def _judge(self, conn: Any, observations: list[Observation]) -> int:
        """Run each observation through its rule in time order, acting on every outcome."""
        if not observations:
            return 0
        rows = lock_conditions(conn, [(o.rule.id, o.device_id) for o in observations])
        conditions = {key: Condition(**row) for key, row in rows.items()}
        opened, repeats = 0, _Repeats()
        for o in observations:
            key = (o.rule.id, o.device_id)
            step = observe(o.rule, conditions[key], o.at, o.value,
                           night=self._estate.site.is_night(o.at))
            conditions[key], new = self._act(conn, o.rule, o.device_id, step, repeats)
            opened += new
        save_conditions(conn, {key: asdict(c) for key, c in conditions.items()})
        self._count_repeats(conn, repeats)
        return opened

    def _act(self, conn: Any, rule: SensorRule, device: str, step: Step, repeats: _Repeats) \
            -> tuple[Condition, int]:
        """Carry out a step's outcome; returns the condition to keep and tickets opened."""
        cond = step.condition
        if step.outcome is Outcome.OPENED and step.at is not None:
            return self._open_sensor_ticket(conn, rule, device, cond, step.at, repeats=repeats)
        if step.outcome is Outcome.CLEARED and cond.ticket_id is not None and \
                step.at is not None:
            repeats.add((cond.ticket_id, "cleared", hour_of(step.at)), rule.metric, step.at,
                        cond.last_value)
        return cond, 0

    def _open_sensor_ticket(self, conn: Any, rule: SensorRule, device: str, cond: Condition,
                            since: datetime, *, repeats: _Repeats) \
            -> tuple[Condition, int]:
        if cond.ticket_id is not None:
            if cond.ticket_id not in repeats.open:
                repeats.open[cond.ticket_id] = self._tickets.get(cond.ticket_id, conn=conn).is_open
            if repeats.open[cond.ticket_id]:  # a flapping sensor adds to its open ticket
                repeats.add((cond.ticket_id, "recurred", hour_of(since)), rule.metric, since,
                            cond.last_value)
                return cond, 0
        location = self._estate.device_location(device)
        asset = self._asset(device)
        category = self._estate.category(rule.category)
        opened = self._tickets.open(NewTicket(
            site=self._estate.site.id, category=rule.category, priority=rule.priority,
            source=Source.SENSOR, channel=Channel.DEVICE,
            description=f"{category.name}: {asset} {rule.metric} = {cond.last_value:g}",
            building=location.building, area=location.area, opened_at=since,
            sla=self._estate.sla_target(rule.category, rule.priority), actor=INGEST,
            asset=asset, finding_key=f"sensor/{rule.id}/{device}/{since.isoformat()}",
        ), conn=conn)
        ticket_id = opened.ticket.id
        assert ticket_id is not None
        if opened.created:
            history = recent_readings(conn, device, rule.metric)
            evidence = "; ".join(f"{t.isoformat()} {v:g}" for t, v in history)
            self._evidence(conn, ticket_id, INGEST, "",
                           f"readings of {device} {rule.metric}: {evidence or 'status message'}")
        return Condition(ConditionPhase.ACTIVE, cond.since, cond.last_time, cond.last_value,
                         ticket_id), int(opened.created)

    def _count_repeats(self, conn: Any, repeats: _Repeats) -> None:
        """Recurrences and clearings: the first of each kind in an hour goes to the history,
        the rest are counted, and summed up in one entry once the hour is over (tick)."""
        for key in sorted(add_runs(conn, repeats.tallies, self._clock()), key=lambda k: k[2]):
            ticket_id, kind, _ = key
            first = repeats.tallies[key]
            self._evidence(conn, ticket_id, INGEST, _at(first.first_at),
                           f"condition {kind}: {first.metric} = {first.first_value:g}")

    def _sum_up_runs(self, conn: Any, now: datetime) -> None:
        """One history entry for each hour of repeats that is over."""
        for run in close_runs(conn, now):
            if run.count > 1:
                values = f"= {run.low:g}" if run.low == run.high else \
                    f"from {run.low:g} to {run.high:g}"
                self._evidence(conn, run.ticket_id, INGEST, "", (
                    f"condition {run.kind} {run.count:,} times between"
                    f" {run.first_at.isoformat()} and {run.last_at.isoformat()}:"
                    f" {run.metric} {values} (only the first is listed on its own)"))

    def _asset(self, device_id: str) -> str:
        if self._estate.device_kind(device_id) is DeviceKind.CAMERA:
            return device_id
        return self._estate.device(device_id).asset or device_id

    # --- vision findings ------------------------------------------------------------

    def _finding(self, conn: Any, row: FindingRow) -> None:
        envelope = row.envelope
        f: Finding = envelope.payload
        camera = self._estate.camera(f.camera_id)
        code = FINDING_CATEGORY[f.rule]
        category = self._estate.category(code)
        zone = next((z for z in camera.zones if z.id == f.zone), None)
        label = f.label or f.rule.value
        opened = self._tickets.open(NewTicket(
            site=row.site, category=code, priority=category.default_priority,
            source=Source.CAMERA, channel=Channel.DEVICE,
            description=f"{category.name}: {camera.id} {zone.id if zone else f.zone} ({label})",
            building=camera.location.building, area=camera.location.area,
            opened_at=f.started_at, sla=self._estate.sla_target(code, category.default_priority),
            actor=VISION, asset=f"{camera.id}/{f.zone}", finding_key=f"camera/{f.finding_id}",
        ), conn=conn)
        ticket_id = opened.ticket.id
        assert ticket_id is not None
        if evidence_recorded(conn, ticket_id, envelope.message_id):
            return
        photo = self._save_evidence(f, envelope.message_id)
        if f.phase is Phase.START and f.crop_jpeg_b64 and f.crop_box:
            record_example(conn, Example(
                finding_key=f"camera/{f.finding_id}", camera_id=f.camera_id, rule=f.rule.value,
                label=f.label, crop_path=self._save_crop(f), box=f.crop_box,
                created_at=envelope.sent_at))
        note = {
            Phase.START: f"detected {label} (score {f.score:.2f})",
            Phase.UPDATE: f"still there: {label}",
            Phase.END: "zone clear again",
        }[f.phase]
        self._evidence(conn, ticket_id, VISION, _at(envelope.sent_at), note,
                       photos=(photo,) if photo else (), message_id=envelope.message_id)

    def _evidence(self, conn: Any, ticket_id: int, actor: Actor, seen: str, note: str, *,
                  photos: tuple[str, ...] = (), message_id: str = "") -> None:
        """Record evidence now (history stays in time order); `seen` says when it happened."""
        ticket = self._tickets.get(ticket_id, conn=conn)
        at = max(self._clock(), ticket.updated_at or ticket.opened_at)
        self._tickets.change(ticket_id, Command(
            Action.ADD_EVIDENCE, actor, at, note=f"{note}{seen}", photos=photos,
            message_id=message_id,
        ), conn=conn)

    def _save_crop(self, f: Finding) -> str:
        """The finding's training crop, kept for learning from the staff's verdict."""
        assert f.crop_jpeg_b64 is not None
        relative = Path("examples") / f.camera_id / f"{f.finding_id}.jpg"
        target = self._evidence_dir.parent / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(f.crop_jpeg_b64))
        return relative.as_posix()

    def _save_evidence(self, f: Finding, message_id: str) -> str | None:
        if not f.evidence_jpeg_b64:
            return None
        relative = Path("evidence") / f.camera_id / f.finding_id / f"{message_id}.jpg"
        target = self._evidence_dir.parent / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(f.evidence_jpeg_b64))
        return relative.as_posix()
