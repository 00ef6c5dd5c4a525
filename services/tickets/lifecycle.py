"""The ticket lifecycle (闭环管理) as one transition table.

`open_ticket` creates a ticket; `apply` takes a ticket and a command and returns the
changed ticket with the one history entry that records the change, or raises a
`LifecycleError`. Who may do what, which fields a command needs and where it leads are
all read from `TRANSITIONS`, never from scattered ifs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.tickets.model import (
    Actor,
    Channel,
    HistoryEntry,
    Priority,
    Role,
    SlaTarget,
    Source,
)
from services.tickets.states import DONE, HANDLING, OPEN, State

MAX_REOPENS = 1
MAX_RESULT_PHOTOS = 9


class Action(StrEnum):
    CONFIRM = "confirm"  # staff confirm a machine finding
    ACCEPT = "accept"
    VERIFY = "verify"
    DISPATCH = "dispatch"
    REASSIGN = "reassign"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"  # after feedback or when the review window has passed
    REJECT = "reject"
    MARK_UNRESOLVABLE = "mark_unresolvable"
    REOPEN = "reopen"  # the reporter, once, when not satisfied
    SEND_BACK = "send_back"  # a reviewer (复核) returns a resolution
    RATE = "rate"
    REQUEST_INFO = "request_info"  # pauses the SLA clock
    PROVIDE_INFO = "provide_info"  # resumes it
    COMMENT = "comment"
    ADD_REPORTER = "add_reporter"  # a duplicate report linked here
    ADD_EVIDENCE = "add_evidence"  # a finding update or its clearing
    FLAG_BREACH = "flag_breach"


class Field(StrEnum):
    """What a command must carry."""

    REASON = "reason"
    ASSIGNMENT = "assignment"
    RESULT = "result"
    RATING = "rating"
    NOTE = "note"
    BREACH = "breach"


STAFF = frozenset({Role.STAFF, Role.MANAGER})
REVIEWERS = frozenset({Role.REVIEWER, Role.MANAGER})
SYSTEM = frozenset({Role.SYSTEM})
REPORTER = frozenset({Role.RESIDENT})  # and the actor must be the ticket's reporter
OPENERS = frozenset({Role.RESIDENT, Role.STAFF, Role.MANAGER, Role.SYSTEM})


@dataclass(frozen=True)
class Transition:
    """One row of the table: from which states, to which (None keeps the state), by whom.

    `department_only`: once a ticket is with a department, staff of another department may
    not take this action (managers may): the handling, and handing it on, are the owning
    department's."""

    sources: frozenset[State]
    target: State | None
    roles: frozenset[Role]
    needs: frozenset[Field] = frozenset()
    reporter_only: bool = False
    department_only: bool = False


TRANSITIONS: dict[Action, Transition] = {
    Action.CONFIRM: Transition(frozenset({State.PENDING_CONFIRMATION}), State.REPORTED, STAFF),
    Action.ACCEPT: Transition(frozenset({State.REPORTED}), State.ACCEPTED, STAFF),
    Action.VERIFY: Transition(frozenset({State.ACCEPTED}), State.VERIFIED, STAFF),
    Action.DISPATCH: Transition(
        frozenset({State.VERIFIED}), State.DISPATCHED, STAFF, frozenset({Field.ASSIGNMENT})
    ),
    Action.REASSIGN: Transition(
        frozenset({State.DISPATCHED, State.IN_PROGRESS}),
        State.DISPATCHED,
        STAFF,
        frozenset({Field.ASSIGNMENT, Field.REASON}),
        department_only=True,
    ),
    Action.START: Transition(frozenset({State.DISPATCHED}), State.IN_PROGRESS, STAFF,
                       department_only=True),
    Action.RESOLVE: Transition(
        frozenset({State.IN_PROGRESS}), State.RESOLVED, STAFF, frozenset({Field.RESULT}),
        department_only=True,
    ),
    Action.CLOSE: Transition(frozenset({State.RESOLVED}), State.CLOSED, STAFF | SYSTEM),
    Action.REJECT: Transition(
        frozenset({State.PENDING_CONFIRMATION, State.REPORTED, State.ACCEPTED, State.VERIFIED}),
        State.REJECTED,
        STAFF,
        frozenset({Field.REASON}),
    ),
    Action.MARK_UNRESOLVABLE: Transition(
        HANDLING, State.UNRESOLVABLE, STAFF, frozenset({Field.REASON}), department_only=True
    ),
    Action.REOPEN: Transition(
        frozenset({State.RESOLVED}),
        State.DISPATCHED,
        REPORTER,
        frozenset({Field.REASON}),
        reporter_only=True,
    ),
    Action.SEND_BACK: Transition(
        frozenset({State.RESOLVED}), State.IN_PROGRESS, REVIEWERS, frozenset({Field.REASON})
    ),
    Action.RATE: Transition(
        frozenset({State.RESOLVED, State.CLOSED}),
        State.CLOSED,
        REPORTER,
        frozenset({Field.RATING}),
        reporter_only=True,
    ),
    Action.REQUEST_INFO: Transition(
        frozenset({State.REPORTED}) | HANDLING, None, STAFF, frozenset({Field.NOTE})
    ),
    Action.PROVIDE_INFO: Transition(
        frozenset({State.REPORTED}) | HANDLING,
        None,
        REPORTER,
        frozenset({Field.NOTE}),
        reporter_only=True,
    ),
    Action.COMMENT: Transition(frozenset(State), None, STAFF | REVIEWERS, frozenset({Field.NOTE})),
    Action.ADD_REPORTER: Transition(OPEN, None, STAFF | SYSTEM | REPORTER),
    Action.ADD_EVIDENCE: Transition(
        frozenset(State), None, SYSTEM | STAFF, frozenset({Field.NOTE})),
    Action.FLAG_BREACH: Transition(OPEN, None, SYSTEM, frozenset({Field.BREACH})),
}


class Breach(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


@dataclass(frozen=True)
class Command:
    """A request to change a ticket. Only the fields its action needs are read."""

    action: Action
    actor: Actor
    at: datetime
    note: str = ""
    reason: str = ""
    department: str = ""
    assignee: str = ""
    photos: tuple[str, ...] = ()
    rating: int | None = None
    breach: Breach | None = None
    message_id: str = ""  # the MQTT message that caused it, so a redelivery is recognised


@dataclass(frozen=True)
class Ticket:
    """The state of one ticket. Immutable: every change is a new value plus a history entry."""

    site: str
    category: str
    priority: Priority
    source: Source
    channel: Channel
    description: str
    building: str | None
    area: str
    opened_at: datetime  # first report or first detection
    sla: SlaTarget
    state: State
    respond_due_at: datetime
    resolve_due_at: datetime
    reporter_id: str | None = None
    asset: str | None = None
    id: int | None = None
    version: int = 0
    department: str = ""
    assignee: str = ""
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    result_notes: str = ""
    result_photos: tuple[str, ...] = ()
    reason: str = ""
    reopen_count: int = 0
    rating: int | None = None
    rating_comment: str = ""
    awaiting_reporter_since: datetime | None = None
    paused_total: timedelta = timedelta(0)
    extra_reporters: int = 0
    breaches: frozenset[Breach] = field(default_factory=frozenset)
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state.is_open

    @property
    def reporters(self) -> int:
        """How many people reported it: the first plus every linked duplicate."""
        return 1 + self.extra_reporters


class LifecycleError(ValueError):
    """A command that the lifecycle does not allow; the message says why."""


class IllegalTransition(LifecycleError):
    pass


class MissingField(LifecycleError):
    pass


class NotAllowed(LifecycleError):
    pass


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise LifecycleError("times must be timezone-aware")


def open_ticket(
    *,
    site: str,
    category: str,
    priority: Priority,
    source: Source,
    channel: Channel,
    description: str,
    building: str | None,
    area: str,
    opened_at: datetime,
    sla: SlaTarget,
    actor: Actor,
    reporter_id: str | None = None,
    asset: str | None = None,
    note: str = "",
) -> tuple[Ticket, HistoryEntry]:
    """A new ticket: machine findings wait for confirmation, people's reports are reported."""
    _require_aware(opened_at)
    if actor.role not in OPENERS:
        raise NotAllowed(f"a {actor.role} may not open a ticket")
    if not area:
        raise MissingField("a ticket needs a location (area)")
    if source is Source.RESIDENT and not reporter_id:
        raise MissingField("a resident report needs its reporter")
    if source.is_machine != (channel is Channel.DEVICE):
        raise LifecycleError(f"source {source} cannot come through channel {channel}")
    state = State.PENDING_CONFIRMATION if source.is_machine else State.REPORTED
    ticket = Ticket(
        site=site,
        category=category,
        priority=priority,
        source=source,
        channel=channel,
        description=description,
        building=building,
        area=area,
        opened_at=opened_at,
        sla=sla,
        state=state,
        respond_due_at=opened_at + sla.respond,
        resolve_due_at=opened_at + sla.resolve,
        reporter_id=reporter_id,
        asset=asset,
        updated_at=opened_at,
    )
    entry = HistoryEntry(at=opened_at, actor=actor, action="open", from_state=None,
                         to_state=state, note=note or description)
    return ticket, entry


def allowed_actions(ticket: Ticket, actor: Actor) -> list[Action]:
    """The actions this actor could take now (fields aside): what a UI offers."""
    result = []
    for action, rule in TRANSITIONS.items():
        try:
            _check_rule(ticket, action, rule, actor)
        except LifecycleError:
            continue
        result.append(action)
    return result


def _check_rule(ticket: Ticket, action: Action, rule: Transition, actor: Actor) -> None:
    if ticket.state not in rule.sources:
        raise IllegalTransition(f"cannot {action} a ticket that is {ticket.state}")
    if actor.role not in rule.roles:
        raise NotAllowed(f"a {actor.role} may not {action}")
    if rule.reporter_only and actor.id != ticket.reporter_id:
        raise NotAllowed(f"only the reporter may {action}")
    if rule.department_only and not _of_owning_department(ticket, actor):
        raise NotAllowed(f"ticket {ticket.id} is with the {ticket.department} department;"
                         f" only its staff or a manager may {action}")
    if action is Action.REOPEN and ticket.reopen_count >= MAX_REOPENS:
        raise IllegalTransition("a ticket can be reopened only once")
    if action is Action.RATE and ticket.rating is not None:
        raise IllegalTransition("this ticket has already been rated")
    if action is Action.REQUEST_INFO and ticket.awaiting_reporter_since is not None:
        raise IllegalTransition("already waiting for the reporter")
    if action is Action.PROVIDE_INFO and ticket.awaiting_reporter_since is None:
        raise IllegalTransition("nobody asked the reporter for information")
    if action is Action.REQUEST_INFO and ticket.reporter_id is None:
        raise IllegalTransition("this ticket has no reporter to ask")


def _of_owning_department(ticket: Ticket, actor: Actor) -> bool:
    """Whether the department rule lets `actor` act: managers always, staff while the ticket
    is with no department yet or with their own."""
    if actor.role is not Role.STAFF or not ticket.department:
        return True
    return actor.department == ticket.department


def _check_fields(command: Command, needs: frozenset[Field]) -> None:
    if Field.REASON in needs and not command.reason.strip():
        raise MissingField(f"{command.action} needs a reason")
    if Field.NOTE in needs and not command.note.strip():
        raise MissingField(f"{command.action} needs a note")
    if Field.ASSIGNMENT in needs and not (command.department.strip()
                                          and command.assignee.strip()):
        raise MissingField(f"{command.action} needs a department and a person")
    if Field.RESULT in needs:
        if not command.note.strip():
            raise MissingField("resolve needs result notes")
        if not command.photos or not all(p.strip() for p in command.photos):
            raise MissingField("resolve needs at least one result photo")
        if len(command.photos) > MAX_RESULT_PHOTOS:
            raise LifecycleError(f"at most {MAX_RESULT_PHOTOS} result photos")
    if Field.RATING in needs and command.rating not in range(1, 6):
        raise MissingField("a rating is a whole number from 1 to 5")
    if Field.BREACH in needs and command.breach is None:
        raise MissingField("flag_breach needs which deadline was missed")


def apply(ticket: Ticket, command: Command) -> tuple[Ticket, HistoryEntry]:
    """Apply one command: the new ticket and its history entry, or a LifecycleError."""
    _require_aware(command.at)
    last = ticket.updated_at or ticket.opened_at
    if command.at < last:
        raise LifecycleError(
            f"{command.action} dated {command.at.isoformat()} is before the ticket's last"
            f" change at {last.isoformat()}: history is kept in time order"
        )
    rule = TRANSITIONS[command.action]
    _check_rule(ticket, command.action, rule, command.actor)
    _check_fields(command, rule.needs)
    target = rule.target or ticket.state
    before = ticket
    if ticket.awaiting_reporter_since is not None and target in DONE:  # the wait ends
        before = _resume_clock(ticket, command.at)
    changed = _effect(before, command)
    changed = replace(changed, state=target, version=ticket.version + 1, updated_at=command.at)
    entry = HistoryEntry(
        at=command.at,
        actor=command.actor,
        action=command.action.value,
        from_state=ticket.state,
        to_state=target,
        note=command.reason or command.note,
        data=_entry_data(command),
    )
    return changed, entry


def _entry_data(command: Command) -> dict[str, str]:
    data = {}
    if command.department:
        data["department"] = command.department
    if command.assignee:
        data["assignee"] = command.assignee
    if command.photos:
        data["photos"] = " ".join(command.photos)
    if command.rating is not None:
        data["rating"] = str(command.rating)
    if command.breach is not None:
        data["breach"] = command.breach.value
    if command.reason and command.note:
        data["comment"] = command.note
    if command.message_id:
        data["message_id"] = command.message_id
    return data


def _effect(t: Ticket, c: Command) -> Ticket:  # noqa: PLR0911 - one branch per action
    """What each action changes besides the state and version."""
    match c.action:
        case Action.ACCEPT:
            return _accept(t, c.at)
        case Action.DISPATCH | Action.REASSIGN:
            return replace(t, department=c.department, assignee=c.assignee)
        case Action.RESOLVE:
            return replace(t, resolved_at=c.at, result_notes=c.note, result_photos=c.photos)
        case Action.REJECT | Action.MARK_UNRESOLVABLE:
            return replace(t, reason=c.reason, responded_at=t.responded_at or c.at,
                           closed_at=c.at)
        case Action.CLOSE:
            return replace(t, closed_at=c.at)
        case Action.RATE:
            return replace(t, rating=c.rating, rating_comment=c.note, closed_at=t.closed_at or c.at)
        case Action.REOPEN | Action.SEND_BACK:
            reopens = t.reopen_count + (1 if c.action is Action.REOPEN else 0)
            return replace(t, resolved_at=None, reopen_count=reopens)
        case Action.REQUEST_INFO:
            return replace(t, awaiting_reporter_since=c.at)
        case Action.PROVIDE_INFO:
            return _resume_clock(t, c.at)
        case Action.ADD_REPORTER:
            return replace(t, extra_reporters=t.extra_reporters + 1)
        case Action.FLAG_BREACH:
            assert c.breach is not None
            return replace(t, breaches=t.breaches | {c.breach})
        case _:
            return t


def _accept(t: Ticket, at: datetime) -> Ticket:
    if t.awaiting_reporter_since is not None and t.responded_at is None:
        # the pause in force counts for the response; it goes on for the resolution
        paused = max(at - t.awaiting_reporter_since, timedelta(0))
        t = replace(t, respond_due_at=t.respond_due_at + paused)
    return replace(t, responded_at=t.responded_at or at)


def _resume_clock(t: Ticket, at: datetime) -> Ticket:
    """Time spent waiting for the reporter moves every deadline not yet met."""
    assert t.awaiting_reporter_since is not None
    paused = max(at - t.awaiting_reporter_since, timedelta(0))
    respond_due = t.respond_due_at if t.responded_at else t.respond_due_at + paused
    return replace(
        t,
        awaiting_reporter_since=None,
        paused_total=t.paused_total + paused,
        respond_due_at=respond_due,
        resolve_due_at=t.resolve_due_at + paused,
    )
