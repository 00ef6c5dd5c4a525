"""Message schemas: one envelope, a payload per kind. Unknown fields are refused.

Every message is UTF-8 JSON: {"message_id", "device_id", "sent_at", "seq",
"schema_version", "payload"}. Delivery is at least once, so receivers are idempotent on
`message_id`; `seq` lets them see gaps and order.
"""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StringConstraints,
    ValidationError,
)

from services.contract.topics import ID_PATTERN, Kind

SCHEMA_VERSION: Literal[1] = 1
# Bytes on the wire, per kind: bigger messages are refused before parsing.
MAX_BYTES: dict[Kind, int] = {
    Kind.TELEMETRY: 16 * 1024,
    Kind.EVENT: 16 * 1024,
    Kind.STATUS: 4 * 1024,
    Kind.FINDING: 2 * 1024 * 1024,
    Kind.FRAME: 4 * 1024 * 1024,
}

DeviceId = Annotated[str, StringConstraints(pattern=f"^{ID_PATTERN}$")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
# PostgreSQL text cannot hold NUL, so it is refused at the door rather than in the database
_NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=_NO_NUL, max_length=256)]
Label = Annotated[str, StringConstraints(pattern=_NO_NUL, max_length=64)]
Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
MessageId = Annotated[str, StringConstraints(min_length=8, max_length=64,
                                             pattern=r"^[A-Za-z0-9_.:-]+$")]


class _Strict(BaseModel):
    # strict: a number must be a JSON number, a time an ISO 8601 string with its offset
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Telemetry(_Strict):
    """Readings taken at `sent_at`, metric name to value."""

    readings: dict[MetricName, FiniteFloat] = Field(min_length=1, max_length=64)


class Event(_Strict):
    event: MetricName  # door_opened, door_closed, motion_started, fault, …
    data: dict[str, Text | int | FiniteFloat | bool | None] = Field(default_factory=dict,
                                                                   max_length=32)


class Frame(_Strict):
    """A camera JPEG, base64 in JSON so that every MQTT client and version can carry it."""

    jpeg_b64: str = Field(min_length=4)
    width: int = Field(gt=0, le=8192)
    height: int = Field(gt=0, le=8192)
    keyframe: bool = False  # sent on schedule rather than for motion
    motion: bool = False

    def jpeg(self) -> bytes:
        data = base64.b64decode(self.jpeg_b64, validate=True)
        if not data.startswith(b"\xff\xd8"):
            raise ValueError("frame is not a JPEG")
        return data


class Rule(StrEnum):
    BLOCKED_FIRE_EXIT = "blocked_fire_exit"
    LITTER = "litter"


class Phase(StrEnum):
    START = "start"
    UPDATE = "update"
    END = "end"


class Finding(_Strict):
    """One ongoing condition seen by a camera: start, updates, end (the zone is clear)."""

    finding_id: MessageId  # stable across the condition's start, updates and end
    camera_id: DeviceId
    rule: Rule
    zone: DeviceId
    phase: Phase
    started_at: AwareDatetime
    box: tuple[Unit, Unit, Unit, Unit] | None = None  # x1, y1, x2, y2 in 0..1
    label: Label = ""
    score: float = Field(default=0.0, ge=0, le=1)
    evidence_jpeg_b64: str | None = None  # annotated and privacy-blurred
    # for learning from staff decisions (start only): the object with a margin around it,
    # not annotated, people the detector saw blurred; `crop_box` is the object in it
    crop_jpeg_b64: str | None = None
    crop_box: tuple[Unit, Unit, Unit, Unit] | None = None


class Status(_Strict):
    state: Literal["online", "offline"]


Payload = Telemetry | Event | Frame | Finding | Status
P = TypeVar("P", bound=_Strict)


class Envelope(_Strict, Generic[P]):
    message_id: MessageId
    device_id: DeviceId
    sent_at: AwareDatetime
    seq: int = Field(ge=0)
    schema_version: Annotated[int, Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    payload: P


_KINDS: dict[type[_Strict], Kind] = {
    Telemetry: Kind.TELEMETRY,
    Event: Kind.EVENT,
    Frame: Kind.FRAME,
    Finding: Kind.FINDING,
    Status: Kind.STATUS,
}


# pydantic builds one model per payload type, so decoding is a single pass
ENVELOPES: dict[Kind, type[Envelope[Any]]] = {
    k: Envelope[t] for t, k in _KINDS.items()  # type: ignore[valid-type]
}


class ContractError(ValueError):
    """Why a message was refused: fit for a dead-letter reason."""


def decode(kind: Kind, raw: bytes) -> Envelope[Payload]:
    """Validate raw bytes as a message of `kind`, in one pass; ContractError says why not."""
    if len(raw) > MAX_BYTES[kind]:
        raise ContractError(f"payload of {len(raw)} bytes exceeds {MAX_BYTES[kind]} for {kind}")
    try:
        return ENVELOPES[kind].model_validate_json(raw)
    except ValidationError as exc:
        raise ContractError(_summary(exc)) from None


def encode(*, message_id: str, device_id: str, sent_at: datetime, seq: int,
           payload: Payload) -> bytes:
    envelope = ENVELOPES[kind_of(payload)](
        message_id=message_id, device_id=device_id, sent_at=sent_at, seq=seq, payload=payload
    )
    return envelope.model_dump_json(exclude_none=True).encode()


def kind_of(payload: Payload) -> Kind:
    return _KINDS[type(payload)]


def _summary(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)
