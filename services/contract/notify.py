"""What the board sends out: topics and messages for residents' apps and department heads.

    sunlight/v1/{site}/notify/users/{person}          a resident's status notifications
    sunlight/v1/{site}/notify/escalations/{department} SLA breaches, for the department head

Both live under `notify/`, the subtree only the board may write (services/devices/
broker_auth.py): `notify` is never a device's topic, whose last level is always a kind.
The same JSON is POSTed to the configured webhooks. Delivery is at least once: receivers
drop repeats by `event_id`.

A message carries the ticket's public facts and, for a resident, the recipient's own id:
never another resident's id, name, text or unit (SPEC §4).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.contract.topics import ID_PATTERN, ROOT, TopicError

NOTIFY = "notify"
# person ids are generated ("r-3fa9…") or staff numbers ("KF-002"): no '/', '+' or '#'
PERSON_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_ID = re.compile(ID_PATTERN)
_PERSON = re.compile(PERSON_PATTERN)


def _check(name: str, value: str, pattern: re.Pattern[str]) -> str:
    if not pattern.fullmatch(value):
        raise TopicError(f"{name} {value!r} cannot be a topic level (must match"
                         f" {pattern.pattern})")
    return value


def user_topic(site: str, person_id: str) -> str:
    """Where one person's app listens (QoS 1, persistent session)."""
    return (f"{ROOT}/{_check('site id', site, _ID)}/{NOTIFY}/users/"
            f"{_check('person id', person_id, _PERSON)}")


def escalation_topic(site: str, department: str) -> str:
    return (f"{ROOT}/{_check('site id', site, _ID)}/{NOTIFY}/escalations/"
            f"{_check('department id', department, _ID)}")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str  # "{ticket}-{history seq}": the same for every retry of one event
    site: str
    ticket_id: int
    at: datetime  # when it happened (the history entry's time)
    category: str
    building: str | None
    area: str  # coarse location, as on the bulletin: never a unit


class StatusChange(_Message):
    """A resident's report changed state, or staff asked the reporter for information."""

    type: Literal["ticket_status"] = "ticket_status"
    recipient: str  # the person this message is for, and nobody else
    action: str  # accept, dispatch, resolve, request_info, …
    from_state: str | None
    state: str
    # what staff wrote with the change (a reason, result notes, a question); residents'
    # own words are never passed on, since a ticket may have several reporters
    note: str = ""


class Escalation(_Message):
    """A deadline was missed: for the head of the responsible department."""

    type: Literal["sla_breach"] = "sla_breach"
    breach: Literal["response", "resolution"]
    due_at: datetime
    priority: str
    state: str
    department: str
    head: str  # the head's staff number
    assignee: str = ""  # staff number, when dispatched


Message = StatusChange | Escalation


def to_json(message: Message) -> bytes:
    return message.model_dump_json().encode()
