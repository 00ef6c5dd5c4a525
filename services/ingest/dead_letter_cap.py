"""The dead letter's cap: at most so many bytes per device and hour (issue 14: 1,000
messages of 100 KB added 65 MB in 0.6 s). Past it, messages are counted in the database,
not stored; the first one dropped in an hour raises an alert (a WARNING line and a
`dead_letter_cap` device event)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.contract.topics import ROOT
from services.store.dead_letters import (
    BudgetKey,
    charge_budget,
    lock_budget,
    record_cap_event,
)
from services.store.ingest import DeadLetter

log = logging.getLogger(__name__)

DEAD_LETTER_BYTES_PER_HOUR = 1_000_000  # per device: far above any honest device's faults
_ROOT = ROOT.split("/")


@dataclass
class Capped:
    kept: list[DeadLetter] = field(default_factory=list)
    dropped: int = 0
    dropped_bytes: int = 0


def _key(letter: DeadLetter) -> BudgetKey:
    """Whose budget: the topic's site and device (a device may publish only under its own
    topic); a topic of another shape is charged to ('', '')."""
    parts = letter.topic.split("/")
    site, device = (parts[2], parts[3]) if len(parts) >= 4 and parts[:2] == _ROOT else ("", "")
    hour = letter.received_at.replace(minute=0, second=0, microsecond=0)
    return BudgetKey(site[:64], device[:64], hour)


def cap_dead_letters(conn: Any, dead: Sequence[DeadLetter], bytes_per_hour: int) -> Capped:
    """The dead letters that fit their device's budget for the hour; charges the budget."""
    out = Capped()
    groups: dict[BudgetKey, list[DeadLetter]] = defaultdict(list)
    for letter in dead:
        groups[_key(letter)].append(letter)
    # one lock order for every instance: no deadlock between two ingest batches
    for key in sorted(groups, key=lambda k: (k.site, k.device_id, k.hour)):
        budget = lock_budget(conn, key)
        used = budget.kept_bytes
        kept = kept_bytes = dropped = dropped_bytes = 0
        for letter in groups[key]:
            size = len(letter.payload)
            if used + size <= bytes_per_hour:
                out.kept.append(letter)
                used += size
                kept, kept_bytes = kept + 1, kept_bytes + size
            else:
                dropped, dropped_bytes = dropped + 1, dropped_bytes + letter.payload_size
        charge_budget(conn, key, kept=kept, kept_bytes=kept_bytes, dropped=dropped,
                      dropped_bytes=dropped_bytes)
        if dropped and budget.dropped == 0:
            record_cap_event(conn, key, groups[key][-1].received_at, bytes_per_hour)
            log.warning("event=dead_letter_cap site=%s device=%s hour=%s cap_bytes=%d"
                        " dropped=%d action=counted_not_stored", key.site, key.device_id,
                        key.hour.isoformat(), bytes_per_hour, dropped)
        out.dropped += dropped
        out.dropped_bytes += dropped_bytes
    return out
