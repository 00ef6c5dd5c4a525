"""Send what the outbox holds: residents' status changes and escalations to department heads.

The outbox (`deliveries`) is filled by the ticket service with each history entry, in the
transaction of each change, one row per recipient and channel (`services/tickets/notify.py`
decides who). `Notifier.run_once` leases a batch, builds each message from the history
entry and the ticket, sends it (MQTT QoS 1 or a webhook POST), and records the outcome; a
failure is retried with exponential backoff, and after `max_attempts` recorded as failed
and logged as an error. Nothing here raises into the scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from psycopg_pool import ConnectionPool

from services.config import EstateConfig
from services.contract.notify import (
    Escalation,
    Message,
    StatusChange,
    escalation_topic,
    to_json,
    user_topic,
)
from services.contract.topics import TopicError
from services.jobs.push import Push, PushError
from services.jobs.webhooks import WebhookError, host_of, post_json
from services.store import notifications as outbox
from services.store.known_terms import MaskerCache
from services.store.notifications import Pending
from services.tickets import Role
from services.tickets.public_text import KnownTerms, Masker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    batch: int = 50
    lease: timedelta = timedelta(seconds=60)
    timeout: float = 5.0  # seconds for one MQTT ack or one webhook call
    retry_base: timedelta = timedelta(seconds=2)
    retry_max: timedelta = timedelta(minutes=15)
    max_attempts: int = 20  # about four hours of retries with the defaults

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the n-th failed attempt: base, 2·base, 4·base, … up to max."""
        wait: timedelta = self.retry_base * 2 ** min(max(attempts - 1, 0), 30)
        return min(wait, self.retry_max)


class Undeliverable(ValueError):
    """The message can never be sent as configured (not worth retrying)."""


@dataclass(frozen=True)
class Route:
    message: Message
    target: str | None  # topic or webhook URL; None: the channel is not configured
    shown: str | None  # what is recorded and logged: the topic, or only the webhook's host


class Notifier:
    def __init__(self, pool: ConnectionPool, estate: EstateConfig, worker: str,
                 policy: DeliveryPolicy, *, push: Push | None, secret: str | None,
                 stop: threading.Event) -> None:
        self._pool, self._estate, self._worker = pool, estate, worker
        self._policy, self._push, self._secret, self._stop = policy, push, secret, stop
        self.stats: Counter[str] = Counter()
        # residents read staff's words under the public-text policy: a co-reporter must not
        # learn the first reporter's name or unit from a result note
        self._public_text = MaskerCache(estate.site.id, KnownTerms(names=estate.staff_names()))

    def run_once(self) -> int:
        """Send one batch; how many rows were leased."""
        try:
            with self._pool.connection() as conn:
                batch = outbox.claim(conn, self._estate.site.id, self._worker,
                                     limit=self._policy.batch, lease=self._policy.lease)
        except Exception:
            log.exception("event=outbox_claim_failed worker=%s", self._worker)
            return 0
        began = time.monotonic()
        failing: set[str] = set()  # targets that failed in this batch: not tried again now
        for i, pending in enumerate(batch):
            out_of_time = time.monotonic() - began > self._policy.lease.total_seconds() / 2
            if self._stop.is_set() or out_of_time:
                self._release([p.id for p in batch[i:]])
                break
            try:
                self._deliver(pending, failing)
            except Exception:  # the database went away mid-batch: the lease expires
                log.exception("event=delivery_record_failed delivery=%s", pending.id)
        return len(batch)

    # --- one delivery ---------------------------------------------------------------------

    def _deliver(self, p: Pending, failing: set[str]) -> None:
        try:
            route = self._route(p)
        except (Undeliverable, TopicError) as exc:
            self._finish(p, "failed", None, str(exc), tried=False)
            log.error("event=delivery_undeliverable delivery=%s kind=%s reason=%r", p.id,
                      p.kind, str(exc))
            return
        if route.target is None:
            self._finish(p, "skipped", None, f"no {p.channel} configured", tried=False)
            return
        if route.target in failing:
            self._release([p.id])
            return
        try:
            self._send(p, route)
        except (PushError, WebhookError) as exc:
            failing.add(route.target)
            self._failed(p, route, str(exc))
            return
        self._finish(p, "sent", route.shown, None)
        log.info("event=delivery_sent delivery=%s kind=%s channel=%s target=%s ticket=%s",
                 p.id, p.kind, p.channel, route.shown, p.ticket_id)

    def _send(self, p: Pending, route: Route) -> None:
        assert route.target is not None
        body = to_json(route.message)
        if p.channel == "mqtt":
            assert self._push is not None
            self._push.publish(route.target, body, timeout=self._policy.timeout)
        else:
            post_json(route.target, body, timeout=self._policy.timeout,
                      event=route.message.type, delivery_id=str(p.id), secret=self._secret)

    def _failed(self, p: Pending, route: Route, error: str) -> None:
        attempts = p.attempts + 1
        if attempts >= self._policy.max_attempts:
            self._finish(p, "failed", route.shown, error)
            log.error("event=delivery_given_up delivery=%s kind=%s channel=%s target=%s"
                      " attempts=%d error=%r", p.id, p.kind, p.channel, route.shown, attempts,
                      error)
            return
        wait = self._policy.backoff(attempts)
        with self._pool.connection() as conn:
            outbox.retry(conn, p.id, self._worker, error=error, target=route.shown, after=wait)
        self.stats["retry"] += 1
        log.warning("event=delivery_failed delivery=%s kind=%s channel=%s target=%s"
                    " attempt=%d retry_in_s=%.0f error=%r", p.id, p.kind, p.channel,
                    route.shown, attempts, wait.total_seconds(), error)

    def _finish(self, p: Pending, outcome: str, shown: str | None, error: str | None, *,
                tried: bool = True) -> None:
        with self._pool.connection() as conn:
            recorded = outbox.finish(conn, p.id, self._worker, outcome=outcome, target=shown,
                                     error=error, tried=tried)
        if recorded:
            self.stats[outcome] += 1
        else:  # our lease ran out and another worker has the row: it records it
            log.warning("event=delivery_lease_lost delivery=%s worker=%s", p.id, self._worker)

    def _release(self, ids: list[int]) -> None:
        with self._pool.connection() as conn:
            outbox.release(conn, ids, self._worker)

    # --- what to send, where ----------------------------------------------------------

    def _route(self, p: Pending) -> Route:
        message: Message
        if p.kind == "escalation":
            message = self._escalation(p)
            department = self._estate.department(message.department)
            topic, url = escalation_topic(p.site, department.id), department.webhook
        else:
            with self._pool.connection() as conn:
                masker = self._public_text.get(conn)
            message = status_change(p, masker)
            topic, url = user_topic(p.site, p.recipient), self._estate.notifications.webhook
        if p.channel == "mqtt":
            return Route(message, topic if self._push else None, topic)
        return Route(message, url, host_of(url) if url else None)

    def _escalation(self, p: Pending) -> Escalation:
        breach: Literal["response", "resolution"]
        if p.breach == "response":
            breach = "response"
        elif p.breach == "resolution":
            breach = "resolution"
        else:
            raise Undeliverable(f"history entry {p.ticket_id}/{p.seq} names no breach")
        if p.due_at is None:
            raise Undeliverable(f"ticket {p.ticket_id} has no {breach} deadline")
        department = p.department
        if not department:  # not dispatched yet: the category's department answers for it
            try:
                department = self._estate.category(p.category).department
            except KeyError:
                raise Undeliverable(f"category {p.category!r} is not in the estate config"
                                    " (no department to escalate to)") from None
        try:
            head = self._estate.department(department).head
        except KeyError:
            raise Undeliverable(f"department {department!r} is not in the estate config") \
                from None
        return Escalation(event_id=f"{p.ticket_id}-{p.seq}", site=p.site, ticket_id=p.ticket_id,
                          at=p.at, category=p.category, building=p.building, area=p.area,
                          breach=breach, due_at=p.due_at, priority=p.priority, state=p.state,
                          department=department, head=head, assignee=p.assignee)


def status_change(p: Pending, masker: Masker | None = None) -> StatusChange:
    """The resident's message: the ticket's public facts and staff's words, masked (with
    the estate's `masker`, or the patterns alone), nothing else."""
    by_resident = p.actor_role == Role.RESIDENT.value
    return StatusChange(event_id=f"{p.ticket_id}-{p.seq}", site=p.site, ticket_id=p.ticket_id,
                        at=p.at, category=p.category, building=p.building, area=p.area,
                        recipient=p.recipient, action=p.action, from_state=p.from_state,
                        state=p.to_state,
                        note="" if by_resident else (masker or Masker())(p.note))
