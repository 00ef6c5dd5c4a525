"""SLA timers: flag a missed deadline once, and keep one timer per running deadline.

`flag_if_due` is the whole breach decision, in one transaction: lock the ticket, ask the
domain whether the deadline is missed and unflagged now, claim the breach in
`sla_breaches` (INSERT … ON CONFLICT DO NOTHING) and apply FLAG_BREACH through the ticket
store. Any number of workers may call it for the same deadline at the same moment: the row
lock makes them take turns, the re-check makes the later ones see the flag, and the claim's
primary key would refuse a second flag even without them. The flag's history entry queues
the escalation (MQTT and webhook) in the outbox, in the same transaction (`tickets/notify.py`).

`sweep` derives the timers from the tickets themselves, so nothing that writes tickets
(the board, ingest, a script) has to tell the scheduler: missed deadlines are flagged at
once (after downtime too), running ones get a timer at their due time, stale timers go.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from psycopg_pool import ConnectionPool

from services.store import NotFoundError, TicketStore
from services.store.jobs import claim_breach, scheduled_jobs, tickets_near_deadline
from services.tickets import Action, Actor, Breach, Command, Role
from services.tickets.deadlines import Deadline, due_at, overdue, upcoming

log = logging.getLogger(__name__)

TIMER = Actor("sla-timer", Role.SYSTEM, "SLA timer")


class Outcome(StrEnum):
    FLAGGED = "flagged"
    ALREADY = "already_flagged"  # another worker (or an earlier run) flagged it
    NOT_DUE = "not_due"  # the deadline moved (paused, met, closed): nothing to do
    GONE = "gone"  # no such ticket


def job_prefix(site: str) -> str:
    return f"sla:{site}:"


def job_id(site: str, ticket_id: int, breach: Breach) -> str:
    return f"{job_prefix(site)}{ticket_id}:{breach.value}"


@dataclass
class SlaRuntime:
    """What the timer jobs of one scheduler work with."""

    pool: ConnectionPool
    site: str
    worker: str
    horizon: timedelta  # timers are set for deadlines due within this; later ones wait
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stats: Counter[str] = field(default_factory=Counter)

    @property
    def tickets(self) -> TicketStore:
        return TicketStore(self.pool)


def flag_if_due(rt: SlaRuntime, ticket_id: int, breach: Breach) -> Outcome:
    """Flag the breach if it is missed now and nobody has flagged it yet."""
    store = rt.tickets
    with rt.pool.connection() as conn, conn.transaction():
        try:
            ticket = store.get(ticket_id, conn=conn, lock=True)
        except NotFoundError:
            return _count(rt, Outcome.GONE)
        now = rt.clock()
        if breach in ticket.breaches:
            return _count(rt, Outcome.ALREADY)
        if breach not in {d.breach for d in overdue(ticket, now)}:
            return _count(rt, Outcome.NOT_DUE)
        due = due_at(ticket, breach)
        if not claim_breach(conn, ticket_id, breach, due_at=due, at=now,
                            worker=rt.worker):
            return _count(rt, Outcome.ALREADY)
        # history is kept in time order: never stamp before the ticket's last change,
        # even if this worker's clock is a little behind the one that made it
        at = max(now, ticket.updated_at or now)
        store.change(ticket_id, Command(Action.FLAG_BREACH, TIMER, at, breach=breach,
                                        note=f"{breach.value} deadline {due.isoformat()}"
                                             " missed"), conn=conn)
    log.info("event=sla_breach_flagged ticket=%s breach=%s due=%s worker=%s", ticket_id,
             breach.value, due.isoformat(), rt.worker)
    return _count(rt, Outcome.FLAGGED)


def _count(rt: SlaRuntime, outcome: Outcome) -> Outcome:
    rt.stats[outcome.value] += 1
    return outcome


# --- the timer job ------------------------------------------------------------------------
# APScheduler stores a job as a pickled reference to a module-level function plus its
# arguments, shared by every worker; the pool and the rest cannot be pickled. Each
# scheduler's executor threads are bound to their runtime when they start.

_bound = threading.local()


def bind_runtime(rt: SlaRuntime) -> None:
    """Executor thread initializer: the runtime that timer jobs in this thread use."""
    _bound.runtime = rt


def deadline_job(ticket_id: int, breach: str) -> None:
    """The timer: runs at the deadline, in whichever worker's scheduler picks it up."""
    rt: SlaRuntime | None = getattr(_bound, "runtime", None)
    if rt is None:
        raise RuntimeError("deadline_job ran in a thread without an SLA runtime")
    try:
        flag_if_due(rt, ticket_id, Breach(breach))
    except Exception:
        # the next sweep tries again; the scheduler must go on
        log.exception("event=sla_timer_failed ticket=%s breach=%s", ticket_id, breach)


# --- the sweep ------------------------------------------------------------------------------


class TimerBook(Protocol):
    """Where timers are kept (the APScheduler job store)."""

    def schedule(self, job: str, deadline: Deadline) -> None: ...

    def unschedule(self, job: str) -> None: ...


@dataclass(frozen=True)
class SweepResult:
    flagged: int
    scheduled: int
    unscheduled: int


def sweep(rt: SlaRuntime, book: TimerBook) -> SweepResult:
    """Flag what is missed, set a timer for each deadline due within the horizon, drop
    timers that no longer match a running deadline (met, paused, moved, closed)."""
    now = rt.clock()
    until = now + rt.horizon
    with rt.pool.connection() as conn:
        tickets = tickets_near_deadline(conn, rt.site, until)
        existing = scheduled_jobs(conn, job_prefix(rt.site))
    missed: list[Deadline] = []
    wanted: dict[str, Deadline] = {}
    for ticket in tickets:
        missed += overdue(ticket, now)
        for deadline in upcoming(ticket, now):
            if deadline.due_at > until:
                continue
            wanted[job_id(rt.site, deadline.ticket_id, deadline.breach)] = deadline
    flagged = sum(flag_if_due(rt, d.ticket_id, d.breach) is Outcome.FLAGGED for d in missed)
    scheduled = 0
    for job, deadline in wanted.items():
        run_at = existing.get(job)
        if run_at is None or abs(run_at - deadline.due_at.timestamp()) > 1e-3:
            book.schedule(job, deadline)
            scheduled += 1
    stale = [job for job in existing if job not in wanted]
    for job in stale:
        book.unschedule(job)
    if flagged or scheduled or stale:
        log.info("event=sla_sweep site=%s flagged=%d scheduled=%d unscheduled=%d worker=%s",
                 rt.site, flagged, scheduled, len(stale), rt.worker)
    return SweepResult(flagged, scheduled, len(stale))
