"""Who is told of a ticket change: the decision behind the notification outbox.

The ticket service (`services/store/tickets.py`) calls `notices` for each history entry it
appends and queues what comes back in the same transaction; the outbox's workers
(`services/jobs/notifier.py`) only send. The rules, formerly a PL/pgSQL trigger
(migration 0007, dropped by 0018):

- a missed deadline (`flag_breach`) is an escalation, to the ticket's department (resolved
  when it is sent, so the recipient is "");
- a question to the reporter (`request_info`) goes to the reporter alone, who alone can
  answer;
- a change of state goes to the reporter and to everyone whose report was linked to the
  ticket (its followers);
- nobody is told of their own action, and every notice goes out on each channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from services.tickets.lifecycle import Action, Ticket
from services.tickets.model import HistoryEntry


class NoticeKind(StrEnum):
    STATUS = "status"
    ESCALATION = "escalation"


class NoticeChannel(StrEnum):
    MQTT = "mqtt"
    WEBHOOK = "webhook"


@dataclass(frozen=True, order=True)
class Notice:
    """One outbox row: `recipient` is a person's id, or "" for an escalation."""

    kind: NoticeKind
    recipient: str
    channel: NoticeChannel


def changes_state(entry: HistoryEntry) -> bool:
    """Whether the entry moves the ticket (opening does not: nobody is waiting yet)."""
    return entry.from_state is not None and entry.from_state != entry.to_state


def needs_followers(entry: HistoryEntry) -> bool:
    """Whether `notices` reads the followers, so the caller can skip looking them up."""
    return entry.action not in (Action.FLAG_BREACH, Action.REQUEST_INFO) and changes_state(entry)


def notices(ticket: Ticket, entry: HistoryEntry, followers: Iterable[str | None] = ()) \
        -> list[Notice]:
    """The outbox rows for `entry`, just appended to `ticket`'s history; `followers`: the
    reporters of the reports linked to the ticket (read only when `needs_followers`)."""
    if entry.action == Action.FLAG_BREACH:
        return _on_each_channel(NoticeKind.ESCALATION, [""])
    if entry.action == Action.REQUEST_INFO:
        return _on_each_channel(NoticeKind.STATUS, _others(entry, [ticket.reporter_id]))
    if changes_state(entry):
        return _on_each_channel(NoticeKind.STATUS,
                                _others(entry, [ticket.reporter_id, *followers]))
    return []


def _others(entry: HistoryEntry, people: Iterable[str | None]) -> list[str]:
    """The people, once each, but not the one who acted."""
    return sorted({p for p in people if p is not None and p != entry.actor.id})


def _on_each_channel(kind: NoticeKind, recipients: list[str]) -> list[Notice]:
    return [Notice(kind, r, c) for r in recipients for c in NoticeChannel]
