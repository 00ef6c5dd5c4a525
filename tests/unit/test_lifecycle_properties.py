"""Property-based tests: random commands against one ticket never break the lifecycle's rules.

A hypothesis state machine opens a ticket (machine finding, resident report or staff entry),
then applies random commands: any action, by any role, as the reporter or someone else, with
or without each field, at times moving forward. Some commands are drawn wholly at random;
others pick among the actions `allowed_actions` offers (mostly ones that move the ticket on,
with mostly valid fields, sometimes one spoiled), and a resolved ticket with a reporter also
gets the reporter's reopen or rating, so that deep states (resolved, reopened, rated) are
reached often. Who may do what is checked against a table written from the SPEC, not only
against TRANSITIONS. After every step the invariants below must hold.

A failure found here can take hypothesis a few minutes to shrink to a short sequence.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from services.tickets import (
    TERMINAL_STATES,
    TRANSITIONS,
    Action,
    Actor,
    Breach,
    Channel,
    Clock,
    Command,
    HistoryEntry,
    IllegalTransition,
    LifecycleError,
    NotAllowed,
    Priority,
    Role,
    SlaTarget,
    Source,
    State,
    Ticket,
    allowed_actions,
    apply,
    new_breaches,
    open_ticket,
    resolution_clock,
    response_clock,
)
from services.tickets.oracle import time_to_fix

START = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
SLA = SlaTarget(respond=timedelta(hours=4), resolve=timedelta(hours=24))
REPORTER_ID = "res-reporter"
OTHER_RESIDENT_ID = "res-other"

REASON_ACTIONS = frozenset(
    {Action.REJECT, Action.MARK_UNRESOLVABLE, Action.REOPEN, Action.SEND_BACK, Action.REASSIGN}
)
TERMINAL_OK = frozenset({Action.COMMENT, Action.ADD_EVIDENCE})

# Who may do what, written from SPEC §1 and §3 rather than read from TRANSITIONS.
_STAFF_WORK = frozenset(
    {
        Action.CONFIRM, Action.ACCEPT, Action.VERIFY, Action.DISPATCH, Action.REASSIGN,
        Action.START, Action.RESOLVE, Action.CLOSE, Action.REJECT, Action.MARK_UNRESOLVABLE,
        Action.REQUEST_INFO, Action.COMMENT, Action.ADD_REPORTER, Action.ADD_EVIDENCE,
    }
)
ROLE_MAY: dict[Role, frozenset[Action]] = {
    Role.STAFF: _STAFF_WORK,
    Role.MANAGER: _STAFF_WORK | {Action.SEND_BACK},
    Role.REVIEWER: frozenset({Action.SEND_BACK, Action.COMMENT}),
    Role.RESIDENT: frozenset(
        {Action.REOPEN, Action.RATE, Action.PROVIDE_INFO, Action.ADD_REPORTER}
    ),
    Role.SYSTEM: frozenset(
        {Action.CLOSE, Action.ADD_REPORTER, Action.ADD_EVIDENCE, Action.FLAG_BREACH}
    ),
    Role.AUDITOR: frozenset(),  # read-only
}
REPORTER_ONLY = frozenset({Action.REOPEN, Action.RATE, Action.PROVIDE_INFO})
# Once a ticket is with a department, its staff alone (and managers) handle it or hand it
# on (SPEC §3; issue 14: reassign was the way round the rule).
DEPARTMENT_ONLY = frozenset(
    {Action.REASSIGN, Action.START, Action.RESOLVE, Action.MARK_UNRESOLVABLE}
)
DEPARTMENTS = ["", "engineering", "cleaning"]

STAFF = Actor("S-1", Role.STAFF, department="engineering")
OTHER_STAFF = Actor("S-2", Role.STAFF, department="cleaning")
SYSTEM = Actor("ingest", Role.SYSTEM)
REPORTER = Actor(REPORTER_ID, Role.RESIDENT)
OTHER_RESIDENT = Actor(OTHER_RESIDENT_ID, Role.RESIDENT)
ROSTER = (
    STAFF,
    OTHER_STAFF,
    Actor("M-1", Role.MANAGER),
    Actor("R-1", Role.REVIEWER),
    Actor("A-1", Role.AUDITOR),
    SYSTEM,
    REPORTER,
    OTHER_RESIDENT,
)


@cache
def reachable_from(start: State) -> frozenset[State]:
    seen = {start}
    frontier = [start]
    while frontier:
        state = frontier.pop()
        for rule_ in TRANSITIONS.values():
            if state in rule_.sources and rule_.target is not None and rule_.target not in seen:
                seen.add(rule_.target)
                frontier.append(rule_.target)
    return frozenset(seen)


# -- strategies ------------------------------------------------------------------------------
# Each field is one flat choice (a single draw): cheap to generate and to shrink.

TEXTS = ["", " ", "\t\n", "\u3000", "because", " leaks again ", "已处理"]
NAMES = ["", "engineering", "S-20"]
PHOTO_SETS = [
    (),
    ("a.jpg",),
    ("a.jpg", "b.jpg"),
    tuple(f"p{i}.jpg" for i in range(9)),
    tuple(f"p{i}.jpg" for i in range(10)),
]
RATINGS = [None, -1, 0, 1, 3, 5, 6]
BREACHES = [None, Breach.RESPONSE, Breach.RESOLUTION]

actors = st.builds(
    Actor,
    id=st.sampled_from([REPORTER_ID, OTHER_RESIDENT_ID, "S-1", "ingest"]),
    role=st.sampled_from(Role),
    department=st.sampled_from(DEPARTMENTS),
)
steps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=30))
backwards = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(hours=30))


def good_or(good: object, anything: list[object]) -> st.SearchStrategy[object]:
    """Mostly a value that satisfies the command's needs, sometimes anything at all."""
    return st.sampled_from([good] * len(anything) + anything)


# Everything a command carries besides its action, actor and time.
random_fields = st.fixed_dictionaries(
    {
        "note": st.sampled_from(TEXTS),
        "reason": st.sampled_from(TEXTS),
        "department": st.sampled_from(NAMES),
        "assignee": st.sampled_from(NAMES),
        "photos": st.sampled_from(PHOTO_SETS),
        "rating": st.sampled_from(RATINGS),
        "breach": st.sampled_from(BREACHES),
    }
)
plausible_fields = st.fixed_dictionaries(
    {
        "note": good_or("done and checked", TEXTS),  # type: ignore[arg-type]
        "reason": good_or("not satisfied", TEXTS),  # type: ignore[arg-type]
        "department": good_or("engineering", NAMES),  # type: ignore[arg-type]
        "assignee": good_or("S-20", NAMES),  # type: ignore[arg-type]
        "photos": good_or(("a.jpg",), PHOTO_SETS),  # type: ignore[arg-type]
        "rating": good_or(4, RATINGS),  # type: ignore[arg-type]
        "breach": good_or(Breach.RESPONSE, BREACHES),  # type: ignore[arg-type]
    }
)
# values that fail a command's needs: a plausible command sometimes carries one of them
SPOILED: dict[str, list[object]] = {
    "note": ["", " ", "\u3000"],
    "reason": ["", "\t\n"],
    "department": [""],
    "assignee": [""],
    "photos": [(), PHOTO_SETS[-1]],
    "rating": [None, 0, 6],
    "breach": [None],
}
spoils = st.one_of(
    st.none(),
    st.sampled_from([(name, value) for name, values in SPOILED.items() for value in values]),
)
GOOD_FIELDS: dict[str, object] = {
    "note": "done and checked",
    "department": "engineering",
    "assignee": "S-20",
    "photos": ("a.jpg",),
}
HEAD_START = (
    Action.CONFIRM, Action.ACCEPT, Action.VERIFY, Action.DISPATCH, Action.START, Action.RESOLVE,
)


def spoiled(fields: dict[str, object], spoil: tuple[str, object] | None) -> dict[str, object]:
    return fields if spoil is None else {**fields, spoil[0]: spoil[1]}


ALL_ACTIONS = st.sampled_from(Action)
# the actions that move a ticket towards its close rather than aside or out of the loop
FORWARD = frozenset(
    {
        Action.CONFIRM, Action.ACCEPT, Action.VERIFY, Action.DISPATCH, Action.START,
        Action.RESOLVE, Action.REOPEN, Action.SEND_BACK, Action.RATE, Action.CLOSE,
        Action.PROVIDE_INFO,
    }
)
# the actions that leave the state as it is, or reassign
ASIDE = frozenset(Action) - FORWARD - {Action.REJECT, Action.MARK_UNRESOLVABLE}


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ticket: Ticket | None = None
        self.history: list[HistoryEntry] = []
        self.now = START
        self.reopens = 0
        self.ratings = 0
        self.reporters = 0
        self.start_state = State.REPORTED

    @property
    def current(self) -> Ticket:
        """The ticket: `open` runs before any rule or invariant, so there always is one."""
        assert self.ticket is not None
        return self.ticket

    # -- setup -------------------------------------------------------------------------------

    @initialize(
        kind=st.sampled_from(
            ["resident", "resident", "staff_for_resident", "camera", "sensor", "staff"]
        ),
        priority=st.sampled_from(Priority),
        head_start=st.sampled_from([None, None, State.VERIFIED, State.RESOLVED]),
    )
    def open(self, kind: str, priority: Priority, head_start: State | None) -> None:
        source, channel, reporter, actor = {
            "camera": (Source.CAMERA, Channel.DEVICE, None, SYSTEM),
            "sensor": (Source.SENSOR, Channel.DEVICE, None, SYSTEM),
            "resident": (Source.RESIDENT, Channel.APP, REPORTER_ID, REPORTER),
            "staff": (Source.STAFF, Channel.FRONT_DESK, None, STAFF),
            "staff_for_resident": (Source.STAFF, Channel.PHONE, REPORTER_ID, STAFF),
        }[kind]
        self.ticket, entry = open_ticket(
            site="sg", category="litter", priority=priority, source=source, channel=channel,
            description="something", building="B1", area="lawn", opened_at=START, sla=SLA,
            actor=actor, reporter_id=reporter,
        )
        self.history = [entry]
        self.start_state = self.ticket.state
        assert self.start_state is (
            State.PENDING_CONFIRMATION if source.is_machine else State.REPORTED
        )
        # some tickets start further on (through the same checked steps), to reach deep states
        for action in HEAD_START:
            if head_start is None or self.current.state is head_start:
                break
            if TRANSITIONS[action].sources >= {self.current.state}:
                self.now += timedelta(hours=1)
                self.attempt(Command(action, STAFF, self.now, **GOOD_FIELDS))  # type: ignore[arg-type]
        assert head_start in (None, self.current.state)

    # -- commands ----------------------------------------------------------------------------

    @rule(action=ALL_ACTIONS, actor=actors, fields=random_fields, step=steps)
    def random_command(
        self, action: Action, actor: Actor, fields: dict[str, object], step: timedelta
    ) -> None:
        self.now += step
        self.attempt(Command(action, actor, self.now, **fields))  # type: ignore[arg-type]

    @rule(action=ALL_ACTIONS, actor=actors, fields=plausible_fields, back=backwards)
    def backdated_command(
        self, action: Action, actor: Actor, fields: dict[str, object], back: timedelta
    ) -> None:
        """A command dated before the ticket's last change: always refused (time order)."""
        last = self.current.updated_at or self.current.opened_at
        self.attempt(Command(action, actor, last - back, **fields))  # type: ignore[arg-type]

    @rule(
        data=st.data(),
        mode=st.sampled_from([FORWARD, FORWARD, FORWARD, ASIDE, frozenset(Action)]),
        fields=plausible_fields,
        spoil=spoils,
        step=steps,
    )
    def plausible_command(
        self,
        data: st.DataObject,
        mode: frozenset[Action],
        fields: dict[str, object],
        spoil: tuple[str, object] | None,
        step: timedelta,
    ) -> None:
        """An action someone may take now, often one that moves the ticket along; its fields
        are mostly right, and sometimes one is spoiled on purpose."""
        fields = spoiled(fields, spoil)
        offered: dict[Action, list[Actor]] = {}
        for actor in ROSTER:
            for action in allowed_actions(self.current, actor):
                offered.setdefault(action, []).append(actor)
        choices = sorted(offered.keys() & mode) or sorted(offered)
        if not choices:
            return
        action = data.draw(st.sampled_from(choices), label="action")
        actor = data.draw(st.sampled_from(offered[action]), label="actor")
        self.now += step
        self.attempt(Command(action, actor, self.now, **fields))  # type: ignore[arg-type]

    @precondition(lambda self: self.current.state is State.RESOLVED and self.current.reporter_id)
    @rule(
        action=st.sampled_from([Action.REOPEN, Action.RATE]),
        actor=st.sampled_from([REPORTER, REPORTER, OTHER_RESIDENT]),
        fields=plausible_fields,
        spoil=spoils,
        step=steps,
    )
    def reporter_feedback(
        self,
        action: Action,
        actor: Actor,
        fields: dict[str, object],
        spoil: tuple[str, object] | None,
        step: timedelta,
    ) -> None:
        """The reporter's answer to a resolution, rarer by chance alone than it is in life."""
        fields = spoiled(fields, spoil)
        self.now += step
        self.attempt(Command(action, actor, self.now, **fields))  # type: ignore[arg-type]

    def attempt(self, command: Command) -> None:
        before = self.current
        snapshot = replace(before)  # fields are immutable values: a copy to compare with
        offered = command.action in allowed_actions(before, command.actor)
        backdated = command.at < (before.updated_at or before.opened_at)
        try:
            after, entry = apply(before, command)
        except LifecycleError as refusal:
            # refused: nothing changed; any other exception type fails the test by itself
            assert before == snapshot
            if offered and not backdated:  # allowed now: only the fields can be wrong
                assert not isinstance(refusal, IllegalTransition | NotAllowed), refusal
            return
        assert not backdated, "apply accepted a command dated before the ticket's last change"
        assert before == snapshot, "apply must not change the ticket it was given"
        assert offered, "apply accepted an action that allowed_actions does not offer"
        self.check_success(before, command, after, entry)
        self.ticket = after
        self.history.append(entry)

    def check_success(  # noqa: PLR0912 - one check per rule of the lifecycle
        self, before: Ticket, command: Command, after: Ticket, entry: HistoryEntry
    ) -> None:
        action = command.action
        rule_ = TRANSITIONS[action]

        # moves only along a row of the table, by a role the row names
        assert before.state in rule_.sources
        assert after.state is (rule_.target or before.state)
        assert command.actor.role in rule_.roles
        assert action in ROLE_MAY[command.actor.role]
        if rule_.reporter_only or action in REPORTER_ONLY:
            assert command.actor.id == before.reporter_id is not None
        if action in DEPARTMENT_ONLY and command.actor.role is Role.STAFF and before.department:
            assert command.actor.department == before.department

        # one version and one history entry per success, recording the change
        assert after.version == before.version + 1
        assert after.updated_at == command.at
        assert entry.at == command.at
        assert entry.actor == command.actor
        assert entry.action == action.value
        assert entry.from_state is before.state
        assert entry.to_state is after.state

        # reasons
        if action in REASON_ACTIONS:
            assert command.reason.strip()
            assert entry.note == command.reason
        if action in (Action.REJECT, Action.MARK_UNRESOLVABLE):
            assert after.reason == command.reason
        else:
            assert after.reason == before.reason

        # terminal states only take comments, evidence and a late rating
        if before.state in TERMINAL_STATES:
            assert action in TERMINAL_OK or (action is Action.RATE and before.state is State.CLOSED)
            assert after.state is before.state

        # reopen once, rate once
        if action is Action.REOPEN:
            self.reopens += 1
            assert after.reopen_count == before.reopen_count + 1
        else:
            assert after.reopen_count == before.reopen_count
        if action is Action.RATE:
            self.ratings += 1
            assert before.rating is None
            assert command.rating is not None
            assert 1 <= command.rating <= 5
            assert after.rating == command.rating
        else:
            assert after.rating == before.rating
        if action is Action.ADD_REPORTER:
            self.reporters += 1

        # assignment only through dispatch and reassign, both complete
        if action in (Action.DISPATCH, Action.REASSIGN):
            assert (after.department, after.assignee) == (command.department, command.assignee)
            assert after.department and after.assignee
        else:
            assert (after.department, after.assignee) == (before.department, before.assignee)

        if action is Action.RESOLVE:
            assert after.resolved_at == command.at
            assert after.result_notes == command.note
            assert after.result_photos == command.photos

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def state_is_known_and_reachable(self) -> None:
        t = self.current
        assert isinstance(t.state, State)
        assert t.state in reachable_from(self.start_state)
        if t.state is State.PENDING_CONFIRMATION:
            assert t.source.is_machine

    @invariant()
    def history_matches_ticket(self) -> None:
        t = self.current
        assert len(self.history) == t.version + 1
        assert self.history[0].from_state is None
        assert self.history[0].to_state is self.start_state
        for prev, nxt in zip(self.history, self.history[1:], strict=False):
            assert nxt.from_state is prev.to_state
            assert prev.at <= nxt.at
        assert self.history[-1].to_state is t.state
        assert t.updated_at == self.history[-1].at

    @invariant()
    def resolution_is_documented(self) -> None:
        t = self.current
        if t.state is State.RESOLVED:
            assert t.result_notes.strip()
            assert 1 <= len(t.result_photos) <= 9
        # resolved_at is set exactly while the resolution stands
        assert (t.resolved_at is not None) == (t.state in (State.RESOLVED, State.CLOSED))
        assert (t.closed_at is not None) == (t.state in TERMINAL_STATES)
        if t.state in (State.REJECTED, State.UNRESOLVABLE):
            assert t.reason.strip()

    @invariant()
    def counters(self) -> None:
        t = self.current
        assert t.reopen_count == self.reopens <= 1
        assert self.ratings <= 1
        assert (t.rating is None) == (self.ratings == 0)
        if t.rating is not None:
            assert 1 <= t.rating <= 5
            assert t.state is State.CLOSED
        assert t.extra_reporters == self.reporters
        if t.reporter_id is None:
            assert t.rating is None
            assert t.reopen_count == 0

    @invariant()
    def sla_is_consistent(self) -> None:
        t = self.current
        assert t.paused_total >= timedelta(0)
        assert t.resolve_due_at == t.opened_at + t.sla.resolve + t.paused_total
        assert t.opened_at + t.sla.respond <= t.respond_due_at
        # accepting during a pause credits the response with the pause so far
        running = (t.updated_at - t.awaiting_reporter_since
                   if t.awaiting_reporter_since and t.updated_at else timedelta(0))
        assert t.respond_due_at <= t.opened_at + t.sla.respond + t.paused_total + running
        assert isinstance(response_clock(t, self.now), Clock)
        assert isinstance(resolution_clock(t, self.now), Clock)
        for breach in new_breaches(t, self.now):
            assert breach not in t.breaches
        fix = time_to_fix(t)
        if fix is not None:
            assert fix >= timedelta(0)


# -- the department rule, over every role, department and state -----------------------------

states_with_department = st.tuples(st.sampled_from(State), st.sampled_from(DEPARTMENTS))


@settings(max_examples=3000, deadline=None)  # the space is small: most of it is covered
@example(action=Action.REASSIGN, role=Role.STAFF, actor_department="cleaning",
         at=(State.DISPATCHED, "engineering"))  # the hole issue 14 found
@given(
    action=st.sampled_from(sorted(DEPARTMENT_ONLY)),
    role=st.sampled_from(Role),
    actor_department=st.sampled_from(DEPARTMENTS),
    at=states_with_department,
)
def test_department_rule(action: Action, role: Role, actor_department: str,
                         at: tuple[State, str]) -> None:
    """Whoever tries a department action on a ticket in any state, with any department:
    refused as NotAllowed exactly when staff of another department try it on a ticket that
    is with a department, and never let through for a role the SPEC does not name."""
    state, department = at
    ticket, _ = open_ticket(
        site="sg", category="litter", priority=Priority.NORMAL, source=Source.STAFF,
        channel=Channel.FRONT_DESK, description="x", building="B1", area="lawn",
        opened_at=START, sla=SLA, actor=STAFF,
    )
    ticket = replace(ticket, state=state, department=department,
                     assignee="S-9" if department else "")
    actor = Actor("X-1", role, department=actor_department)
    command = Command(action, actor, START + timedelta(hours=1), reason="handing on",
                      note="done", department="cleaning", assignee="S-2", photos=("a.jpg",))
    other_department = role is Role.STAFF and bool(department) \
        and actor_department != department
    offered = action in allowed_actions(ticket, actor)
    try:
        apply(ticket, command)
    except NotAllowed:
        assert not offered
        assert other_department or action not in ROLE_MAY[role]
        return
    except IllegalTransition:
        assert not offered
        assert state not in TRANSITIONS[action].sources
        return
    assert offered
    assert action in ROLE_MAY[role]
    assert not other_department


LifecycleMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_lifecycle_state_machine = LifecycleMachine.TestCase
