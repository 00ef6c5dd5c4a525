"""The ticket domain: states, lifecycle, SLA and duplicates. Pure Python, no I/O.

services/tickets/oracle.py (time to fix, percentiles) is a test oracle for the bulletin's
SQL, not exported here."""

from services.tickets.duplicates import Place, find_duplicate, same_place
from services.tickets.lifecycle import (
    TRANSITIONS,
    Action,
    Breach,
    Command,
    IllegalTransition,
    LifecycleError,
    MissingField,
    NotAllowed,
    Ticket,
    allowed_actions,
    apply,
    open_ticket,
)
from services.tickets.model import (
    TERMINAL_STATES,
    Actor,
    Channel,
    HistoryEntry,
    Priority,
    Role,
    SlaTarget,
    Source,
)
from services.tickets.sla import Clock, SlaPolicy, new_breaches, resolution_clock, response_clock
from services.tickets.states import State

__all__ = [
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Action",
    "Actor",
    "Breach",
    "Channel",
    "Clock",
    "Command",
    "HistoryEntry",
    "IllegalTransition",
    "LifecycleError",
    "MissingField",
    "NotAllowed",
    "Place",
    "Priority",
    "Role",
    "SlaPolicy",
    "SlaTarget",
    "Source",
    "State",
    "Ticket",
    "allowed_actions",
    "apply",
    "find_duplicate",
    "new_breaches",
    "open_ticket",
    "resolution_clock",
    "response_clock",
    "same_place",
]
