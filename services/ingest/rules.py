"""Sensor rules: threshold + duration + hysteresis, as pure functions over plain data.

A condition starts `pending` when a reading crosses the threshold and becomes `active` (one
ticket) once every reading has stayed beyond it for the rule's duration. An active
condition only ends when a reading reaches the clearing value on the other side of the
hysteresis band, so a value hovering at the threshold does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


class ConditionPhase(StrEnum):
    IDLE = "idle"
    PENDING = "pending"
    ACTIVE = "active"


class Outcome(StrEnum):
    OPENED = "opened"  # the condition held for its duration: open (or reuse) a ticket
    CLEARED = "cleared"  # the condition ended: record the clearing on the ticket


class ThresholdRule(Protocol):
    """What the engine needs of a rule (the estate config's SensorRule fits)."""

    @property
    def duration(self) -> timedelta: ...
    @property
    def night_only(self) -> bool: ...
    def breached(self, value: float) -> bool: ...
    def cleared(self, value: float) -> bool: ...


@dataclass(frozen=True)
class Condition:
    phase: ConditionPhase = ConditionPhase.IDLE
    since: datetime | None = None  # when the threshold was first crossed
    last_time: datetime | None = None
    last_value: float | None = None
    ticket_id: int | None = None  # the ticket this condition opened last

    def __post_init__(self) -> None:
        # rows from the database carry the phase as text
        object.__setattr__(self, "phase", ConditionPhase(self.phase))


IDLE = Condition()


@dataclass(frozen=True)
class Step:
    condition: Condition
    outcome: Outcome | None = None
    at: datetime | None = None  # when the outcome happened (the crossing, or the clearing)


def observe(rule: ThresholdRule, cond: Condition, at: datetime, value: float, *,
            night: bool = True) -> Step:
    """Apply one reading. Readings older than the last one seen are ignored (redelivery)."""
    if cond.last_time is not None and at <= cond.last_time:
        return Step(cond)
    seen = replace(cond, last_time=at, last_value=value)
    counts = night or not rule.night_only
    if cond.phase is ConditionPhase.ACTIVE:
        if counts and rule.cleared(value):
            return Step(replace(seen, phase=ConditionPhase.IDLE, since=None), Outcome.CLEARED, at)
        return Step(seen)
    if not counts or not rule.breached(value):
        # a pending condition must hold throughout its duration: one spike is not enough
        return Step(replace(seen, phase=ConditionPhase.IDLE, since=None))
    if cond.phase is ConditionPhase.IDLE:
        seen = replace(seen, phase=ConditionPhase.PENDING, since=at)
    return tick(rule, seen, at)


def tick(rule: ThresholdRule, cond: Condition, now: datetime) -> Step:
    """Time passing without readings: a pending condition that has held long enough opens."""
    if cond.phase is ConditionPhase.PENDING and cond.since is not None and \
            now - cond.since >= rule.duration:
        return Step(replace(cond, phase=ConditionPhase.ACTIVE), Outcome.OPENED, cond.since)
    return Step(cond)
