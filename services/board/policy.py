"""Who may see and do what, beyond the lifecycle table (which says who may take an action).

- Staff and managers see every ticket of the estate with the reporter's contact details;
  auditors see every ticket but no personal data; a resident sees their own reports only.
- Once a ticket is dispatched, only its department's staff (or a manager) handle it.
- Uploads: staff and managers see all; a resident, what they uploaded and the result
  photos of their own reports; an auditor, result photos and camera evidence (which the
  vision service blurred); the public, nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from services.board.accounts import User
from services.board.problems import Problem
from services.store.media import MediaRow
from services.tickets import Action, Role, Ticket

__all__ = [
    "DEPARTMENT_ACTIONS",
    "department_guard",
    "may_handle",
    "may_see_evidence",
    "may_see_media",
    "sees_personal_data",
]

# the handling itself: done by the department the ticket was dispatched to
DEPARTMENT_ACTIONS = frozenset({Action.START, Action.RESOLVE, Action.MARK_UNRESOLVABLE})


def sees_personal_data(user: User | None) -> bool:
    return user is not None and user.is_staff


def may_handle(user: User, action: Action, ticket: Ticket) -> bool:
    """Whether the department rule lets this user take `action` on `ticket` (the lifecycle
    table decides the rest)."""
    if action not in DEPARTMENT_ACTIONS or user.role is not Role.STAFF:
        return True
    return not ticket.department or ticket.department == user.department


def department_guard(user: User, action: Action) -> Callable[[Ticket], None]:
    def guard(ticket: Ticket) -> None:
        if not may_handle(user, action, ticket):
            raise Problem(403, "forbidden", f"ticket {ticket.id} is with the {ticket.department}"
                          f" department; only its staff or a manager may {action.value} it")

    return guard


def may_see_evidence(user: User | None) -> bool:
    return user is not None and user.role in (Role.STAFF, Role.MANAGER, Role.AUDITOR)


def may_see_media(user: User | None, media: MediaRow, *, reported_by_user: bool) -> bool:
    if user is None:
        return False
    if user.is_staff:
        return True
    if user.role is Role.AUDITOR:
        return media.purpose == "result"
    if user.role is Role.RESIDENT:
        return media.owner_id == user.id or (media.purpose == "result" and reported_by_user)
    return False
