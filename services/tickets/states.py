"""The ticket's states and the sets of them that the rest of Sunlight reads: one source.

The lifecycle, the SLA judgement, the board and the bulletin use these sets; SQL uses the
same sets through the functions of migration 0017 (`ticket_is_done(state)`, …), and
tests/integration/test_state_sets.py reads those from the database and compares them with
the sets here, so that neither side can change alone. (Migration 0001's partial indexes
spell the done states out: migrations are history and are never edited; the planner
matches them to `ticket_is_open(state)`, which it inlines.)
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    PENDING_CONFIRMATION = "pending_confirmation"  # 待确认 (machine-found only)
    REPORTED = "reported"  # 待受理
    ACCEPTED = "accepted"  # 已受理
    VERIFIED = "verified"  # 已核实
    DISPATCHED = "dispatched"  # 已派单
    IN_PROGRESS = "in_progress"  # 处理中
    RESOLVED = "resolved"  # 已处理
    CLOSED = "closed"  # 已关闭
    REJECTED = "rejected"  # 不予受理
    UNRESOLVABLE = "unresolvable"  # 无法解决

    @property
    def is_open(self) -> bool:
        return self in OPEN


# Done: nothing is pending on staff any more, so the SLA clocks stop and a wait for the
# reporter ends. A resolved ticket is done although its reporter may still reopen it.
DONE = frozenset({State.RESOLVED, State.CLOSED, State.REJECTED, State.UNRESOLVABLE})
# Open: still to be handled (what the queues, the timers and duplicate linking look at).
OPEN = frozenset(State) - DONE
# Done with a fix that stands (the bulletin's "resolved", with a time to fix).
FIXED = frozenset({State.RESOLVED, State.CLOSED})
# Done without a fix: turned down, or found impossible (the bulletin publishes the reason).
DECLINED = frozenset({State.REJECTED, State.UNRESOLVABLE})
# Terminal: no transition leads out (comments and evidence aside).
TERMINAL = frozenset({State.CLOSED, State.REJECTED, State.UNRESOLVABLE})
# Being handled by the estate: accepted and not yet resolved.
HANDLING = frozenset({State.ACCEPTED, State.VERIFIED, State.DISPATCHED, State.IN_PROGRESS})
