"""The board's one write path for tickets: open, act, merge.

Each call is one transaction through `TicketStore`: the ticket row is locked first, so the
checks made on it and the time stamped on the command still hold when it changes; media
rows are written in the same transaction as the change they belong to, and so is the audit
log's entry when staff or a manager made it. A person acts only on their own estate's
tickets: an account bound to another estate is refused here, whatever the route. Listeners
run after the commit with what changed: notifications and SLA timers hook in there.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from psycopg_pool import ConnectionPool

from services.board.audit import entry_by, is_audited
from services.board.media import MediaFiles, Staged
from services.board.problems import Problem
from services.board.uploads import Checked
from services.store import NewTicket, Opened, TicketStore
from services.store.accounts import bound_site
from services.store.audit import record
from services.store.media import MediaPurpose, MediaRow, add_media
from services.store.ratelimit import lock_reporter, reports_since
from services.tickets import Action, Actor, Command, Role, Ticket

__all__ = ["Change", "Listener", "Once", "TicketEvent", "Workflow"]

log = logging.getLogger(__name__)
REPORT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class TicketEvent:
    """A committed change: `action` is "open", "link" (a report joined an open ticket) or
    the lifecycle action applied."""

    ticket: Ticket
    action: str
    actor: Actor
    at: datetime


Listener = Callable[[TicketEvent], None]
Guard = Callable[[Ticket], None]  # raises a Problem when the caller may not act on it


class Once(Protocol):
    """Makes `Workflow.open` idempotent (an Idempotency-Key): in its transaction, `earlier`
    runs first and returns what the same request opened before (nothing is opened again),
    and `remember` records what this one opened, so the two commit together or not at all."""

    def earlier(self, conn: Any) -> Opened | None: ...

    def remember(self, conn: Any, opened: Opened) -> None: ...


@dataclass(frozen=True)
class Change:
    """What a person asks to do to a ticket; the time is stamped by the workflow."""

    action: Action
    actor: Actor
    note: str = ""
    reason: str = ""
    department: str = ""
    assignee: str = ""
    rating: int | None = None
    expected_version: int | None = None


class Workflow:
    def __init__(self, pool: ConnectionPool, tickets: TicketStore, files: MediaFiles,
                 clock: Callable[[], datetime]) -> None:
        self._pool, self._tickets, self._files, self._clock = pool, tickets, files, clock
        self.listeners: list[Listener] = []

    # --- reports --------------------------------------------------------------------

    def check_report_limit(self, person_id: str, per_hour: int) -> None:
        """Refuse early, before uploads are processed, when the resident is over the limit."""
        with self._pool.connection() as conn:
            self._enforce_limit(conn, person_id, per_hour, lock=False)

    def _enforce_limit(self, conn: Any, person_id: str, per_hour: int, *, lock: bool) -> None:
        now = self._clock()
        if lock:
            lock_reporter(conn, person_id)
        count, oldest = reports_since(conn, person_id, now - REPORT_WINDOW)
        if count >= per_hour:
            wait = (oldest + REPORT_WINDOW - now) if oldest else REPORT_WINDOW
            seconds = max(1, math.ceil(wait.total_seconds()))
            raise Problem(429, "rate-limited",
                          f"at most {per_hour} reports per hour; try again in {seconds} s",
                          headers={"Retry-After": str(seconds)}, retry_after=seconds)

    def open(self, new: NewTicket, uploads: Sequence[Checked], *,
             report_limit: int | None = None, once: Once | None = None) -> Opened:
        """Open a ticket (or link the report to the open one it duplicates) with its media.

        `report_limit`: the reporter's reports per hour, checked under a lock in the same
        transaction, so concurrent reports on several workers cannot slip past it.
        `once`: what the same request opened before is returned instead (see `Once`).
        """
        now = self._clock()
        staged = self._files.stage(list(uploads), now)
        new = replace(new, opened_at=now, photos=tuple(s.ref for s in staged))
        try:
            with self._pool.connection() as conn, conn.transaction():
                self._check_estate(conn, new.actor, new.site)
                earlier = once.earlier(conn) if once is not None else None
                if earlier is not None:
                    self._files.discard(staged)  # the ticket keeps the first request's photos
                    return earlier
                if report_limit is not None and new.reporter_id:
                    self._enforce_limit(conn, new.reporter_id, report_limit, lock=True)
                opened = self._tickets.open(new, conn=conn)
                assert opened.ticket.id is not None
                self._record(conn, staged, opened.ticket.id, actor=new.actor, purpose="report",
                             at=now)
                if is_audited(new.actor):
                    linked = "" if opened.created else "; linked to the open ticket"
                    record(conn, entry_by(
                        new.actor, site=new.site, at=now, action="ticket.open",
                        target=f"ticket:{opened.ticket.id}",
                        summary=f"{new.channel.value} report, {new.category}{linked}"))
                if once is not None:
                    once.remember(conn, opened)
        except BaseException:
            self._files.discard(staged)
            raise
        self._emit(TicketEvent(opened.ticket, "open" if opened.created else "link", new.actor,
                               now))
        return opened

    # --- changes --------------------------------------------------------------------

    def act(self, ticket_id: int, change: Change, *, guard: Guard | None = None,
            uploads: Sequence[Checked] = (), purpose: MediaPurpose = "result") -> Ticket:
        """Apply one lifecycle action, with any photos it carries, in one transaction."""
        staged = self._files.stage(list(uploads), self._clock())
        try:
            with self._pool.connection() as conn, conn.transaction():
                current = self._tickets.get(ticket_id, conn=conn, lock=True)
                self._check_estate(conn, change.actor, current.site)
                if guard is not None:
                    guard(current)
                at = max(self._clock(), current.updated_at or current.opened_at)
                command = Command(
                    change.action, change.actor, at, note=change.note, reason=change.reason,
                    department=change.department, assignee=change.assignee,
                    rating=change.rating, photos=tuple(s.ref for s in staged),
                )
                changed = self._tickets.change(ticket_id, command, conn=conn,
                                               expected_version=change.expected_version)
                self._record(conn, staged, ticket_id, actor=change.actor, purpose=purpose, at=at)
                if is_audited(change.actor):
                    record(conn, entry_by(
                        change.actor, site=current.site, at=at,
                        action=f"ticket.{change.action.value}", target=f"ticket:{ticket_id}",
                        summary=_summary(current, changed, change, len(staged))))
        except BaseException:
            self._files.discard(staged)
            raise
        self._emit(TicketEvent(changed, change.action.value, change.actor, at))
        return changed

    def merge(self, duplicate_id: int, primary_id: int, actor: Actor, *,
              guard: Guard | None = None) -> Ticket:
        """Link a duplicate to its primary: the duplicate is rejected, its reporters follow."""
        if duplicate_id == primary_id:
            raise Problem.field(422, "validation", "primary_id",
                                "a ticket cannot duplicate itself")
        with self._pool.connection() as conn, conn.transaction():
            # lock both in id order, so two merges of the same pair cannot deadlock
            locked = {tid: self._tickets.get(tid, conn=conn, lock=True)
                      for tid in sorted((duplicate_id, primary_id))}
            for ticket in locked.values():
                self._check_estate(conn, actor, ticket.site)
                if guard is not None:
                    guard(ticket)
            at = max([self._clock(), *(t.updated_at or t.opened_at for t in locked.values())])
            primary = self._tickets.merge_duplicate(duplicate_id, primary_id, actor, at,
                                                    conn=conn)
            duplicate = self._tickets.get(duplicate_id, conn=conn)
            if is_audited(actor):
                record(conn, entry_by(actor, site=primary.site, at=at,
                                      action="ticket.duplicate", target=f"ticket:{duplicate_id}",
                                      summary=f"duplicate of #{primary_id}"))
        self._emit(TicketEvent(duplicate, Action.REJECT.value, actor, at))
        self._emit(TicketEvent(primary, Action.ADD_REPORTER.value, actor, at))
        return primary

    # --- helpers --------------------------------------------------------------------

    @staticmethod
    def _check_estate(conn: Any, actor: Actor, site: str) -> None:
        """Refuse a person whose account is bound to another estate (services have none)."""
        if actor.role is Role.SYSTEM:
            return
        bound = bound_site(conn, actor.id)
        if bound is not None and bound != site:
            raise Problem(403, "forbidden", "your account belongs to another estate; sign in"
                          " on its own board")

    @staticmethod
    def _record(conn: Any, staged: list[Staged], ticket_id: int, *, actor: Actor,
                purpose: MediaPurpose, at: datetime) -> None:
        if staged:
            add_media(conn, [
                MediaRow(s.id, ticket_id, actor.id, purpose, s.checked.kind,
                         s.checked.content_type, len(s.checked.data), s.checked.sha256,
                         s.path, at)
                for s in staged
            ])

    def _emit(self, event: TicketEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # the change is committed; a listener failing must not undo it
                log.exception("event=listener_failed ticket=%s action=%s", event.ticket.id,
                              event.action)


def _summary(before: Ticket, after: Ticket, change: Change, photos: int) -> str:
    """What an action did, for the audit log. Notes are left out: they may quote a
    resident, and the ticket's own history keeps them."""
    parts = [f"{before.state.value} → {after.state.value}"]
    if change.department or change.assignee:
        parts.append(f"to {change.department or '?'}/{change.assignee or '?'}")
    if change.reason:
        parts.append(f"reason: {change.reason}")
    if photos:
        parts.append(f"{photos} photo{'s' if photos > 1 else ''}")
    return "; ".join(parts)
