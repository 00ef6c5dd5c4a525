"""The ticket's vocabulary: states, sources, channels, priorities and the records kept.

Pure data: nothing here does I/O. Categories are codes from the estate config, so they
are plain strings; everything the domain fixes itself is a StrEnum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from services.tickets.states import TERMINAL, State

# The states and their sets live in services/tickets/states.py (the one source).
TERMINAL_STATES = TERMINAL


class Source(StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"
    CAMERA = "camera"
    SENSOR = "sensor"

    @property
    def is_machine(self) -> bool:
        return self in (Source.CAMERA, Source.SENSOR)


class Channel(StrEnum):
    APP = "app"
    WEB = "web"
    FRONT_DESK = "front_desk"  # 前台
    PHONE = "phone"  # 电话
    SUGGESTION_BOX = "suggestion_box"  # 意见箱
    DEVICE = "device"  # found by a camera or sensor


class Priority(StrEnum):
    EMERGENCY = "emergency"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Role(StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"
    REVIEWER = "reviewer"  # 复核
    MANAGER = "manager"
    AUDITOR = "auditor"
    SYSTEM = "system"  # ingest, vision, scheduler


@dataclass(frozen=True)
class Actor:
    """Who did something: a staff number, a resident's account id, or a service name.

    `department`: a staff member's department, which the lifecycle's department rule reads
    (only the department a ticket is with handles it). It is where the person works, not
    who they are: it takes no part in comparing actors, and the history does not keep it."""

    id: str
    role: Role
    name: str = ""
    department: str = field(default="", compare=False)


@dataclass(frozen=True)
class SlaTarget:
    """Time to own (accepted by) and time to resolve (resolved by)."""

    respond: timedelta
    resolve: timedelta


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: Actor
    action: str
    from_state: State | None
    to_state: State
    note: str = ""
    data: dict[str, str] = field(default_factory=dict)
