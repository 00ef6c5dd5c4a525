"""Sort a batch of raw MQTT messages into rows to store and dead letters. No I/O.

Every refusal carries a reason a device maker can act on; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.contract import (
    ContractError,
    Envelope,
    Event,
    Finding,
    Kind,
    Status,
    Telemetry,
    TopicError,
    decode,
    parse_topic,
)
from services.store.ingest import DeadLetter, EventRow, StatusRow
from services.store.readings import Reading

DEAD_LETTER_CAP = 64 * 1024  # bytes of a refused payload kept for diagnosis


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0


@dataclass(frozen=True)
class FindingRow:
    site: str
    envelope: Envelope[Finding]
    received_at: datetime


@dataclass
class Sorted:
    readings: list[Reading] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    statuses: list[StatusRow] = field(default_factory=list)
    findings: list[FindingRow] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


@dataclass(frozen=True)
class Admission:
    """What the ingest accepts: its site, its devices, and how far clocks may drift."""

    site: str
    devices: frozenset[str]
    max_future: timedelta = timedelta(minutes=5)
    max_past: timedelta = timedelta(days=7)


class Refused(ValueError):
    pass


def sort_batch(batch: Iterable[Incoming], admission: Admission) -> Sorted:
    out = Sorted()
    for msg in batch:
        try:
            _sort_one(msg, admission, out)
        except (Refused, ContractError, TopicError) as exc:
            out.dead.append(dead_letter(msg, str(exc)))
    return out


def dead_letter(msg: Incoming, reason: str) -> DeadLetter:
    return DeadLetter(msg.received_at, msg.topic, reason, msg.payload[:DEAD_LETTER_CAP],
                      len(msg.payload))


def _sort_one(msg: Incoming, admission: Admission, out: Sorted) -> None:
    topic = parse_topic(msg.topic)
    if topic.site != admission.site:
        raise Refused(f"unknown site {topic.site!r}")
    if topic.device not in admission.devices:
        raise Refused(f"unknown device {topic.device!r}")
    if topic.kind is Kind.FRAME:
        raise Refused("frames go to the vision service, not ingest")
    envelope = decode(topic.kind, msg.payload)
    if envelope.device_id != topic.device:
        raise Refused(f"device_id {envelope.device_id!r} does not match topic device"
                      f" {topic.device!r}")
    sent = envelope.sent_at
    if sent > msg.received_at + admission.max_future:
        raise Refused(f"sent_at {sent.isoformat()} is too far in the future")
    payload = envelope.payload
    # A last will is composed at connect time, so an offline status may be days old when
    # the broker sends it: its moment is when it arrived, and its age is no fault.
    if sent < msg.received_at - admission.max_past and not isinstance(payload, Status):
        raise Refused(f"sent_at {sent.isoformat()} is too far in the past")
    if isinstance(payload, Telemetry):
        out.readings.extend(
            Reading(sent, topic.site, topic.device, metric, value, envelope.message_id)
            for metric, value in payload.readings.items()
        )
    elif isinstance(payload, Event):
        out.events.append(EventRow(sent, topic.site, topic.device, payload.event,
                                   dict(payload.data), envelope.message_id))
    elif isinstance(payload, Status):
        out.statuses.append(StatusRow(msg.received_at, topic.site, topic.device, payload.state))
        out.events.append(EventRow(sent, topic.site, topic.device, payload.state, {},
                                   envelope.message_id))
    elif isinstance(payload, Finding):
        if payload.camera_id != topic.device:
            raise Refused(f"finding for camera {payload.camera_id!r} published under"
                          f" {topic.device!r}")
        out.findings.append(FindingRow(topic.site, envelope, msg.received_at))  # type: ignore[arg-type]
