"""Sort a batch of raw MQTT messages into rows to store and dead letters. No I/O.

Every refusal carries a reason a device maker can act on; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
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


Key = tuple[str, str]  # (device_id, message_id): copies of one message share it


@dataclass
class Sorted:
    readings: list[Reading] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    statuses: list[StatusRow] = field(default_factory=list)
    findings: list[FindingRow] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    repeated: int = 0  # copies of messages stored before or earlier in the batch, left out

    def finding_keys(self) -> list[Key]:
        """The (device, message id) of each finding (readings and events are claimed
        where they are staged for storage)."""
        return [(f.envelope.device_id, f.envelope.message_id) for f in self.findings]

    def without(self, repeated: Set[Key]) -> Sorted:
        """Without the messages in `repeated` (stored before); dead letters stay."""
        if not repeated:
            return self
        return Sorted(
            readings=[r for r in self.readings if (r.device_id, r.message_id) not in repeated],
            events=[e for e in self.events if (e.device_id, e.message_id) not in repeated],
            statuses=[s for s in self.statuses if (s.device_id, s.message_id) not in repeated],
            findings=[f for f in self.findings
                      if (f.envelope.device_id, f.envelope.message_id) not in repeated],
            dead=self.dead,
            repeated=self.repeated + len(repeated),
        )


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
    seen: set[Key] = set()
    for msg in batch:
        try:
            _sort_one(msg, admission, out, seen)
        except (Refused, ContractError, TopicError) as exc:
            out.dead.append(dead_letter(msg, str(exc)))
    return out


def dead_letter(msg: Incoming, reason: str) -> DeadLetter:
    return DeadLetter(msg.received_at, msg.topic, reason, msg.payload[:DEAD_LETTER_CAP],
                      len(msg.payload))


def _sort_one(msg: Incoming, admission: Admission, out: Sorted, seen: set[Key]) -> None:
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
    if isinstance(payload, Finding) and payload.camera_id != topic.device:
        raise Refused(f"finding for camera {payload.camera_id!r} published under"
                      f" {topic.device!r}")
    key = (topic.device, envelope.message_id)
    if key in seen:  # a copy of a message earlier in this batch: the first one counts
        out.repeated += 1
        return
    seen.add(key)
    if isinstance(payload, Telemetry):
        out.readings.extend(
            Reading(sent, topic.site, topic.device, metric, value, envelope.message_id)
            for metric, value in payload.readings.items()
        )
    elif isinstance(payload, Event):
        out.events.append(EventRow(sent, topic.site, topic.device, payload.event,
                                   dict(payload.data), envelope.message_id))
    elif isinstance(payload, Status):
        out.statuses.append(StatusRow(msg.received_at, topic.site, topic.device, payload.state,
                                      envelope.message_id))
        out.events.append(EventRow(sent, topic.site, topic.device, payload.state, {},
                                   envelope.message_id))
    elif isinstance(payload, Finding):
        out.findings.append(FindingRow(topic.site, envelope, msg.received_at))  # type: ignore[arg-type]
