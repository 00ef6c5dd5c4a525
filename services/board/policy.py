"""Who may see and do what, beyond the lifecycle table (which says who may take an action).

- Staff and managers see every ticket of the estate with the reporter's contact details;
  auditors see every ticket but no personal data; a resident sees their own reports only.
- Once a ticket is dispatched, only its department's staff (or a manager) handle it or
  hand it on: that rule is the lifecycle table's (`Transition.department_only`).
- Uploads: staff and managers see all; a resident, what they uploaded and the result
  photos of their own reports; an auditor, result photos and camera evidence (which the
  vision service blurred); the public, nothing.
"""

from __future__ import annotations

from services.board.accounts import User
from services.store.media import MediaRow
from services.tickets import Role

__all__ = ["may_see_evidence", "may_see_media", "sees_personal_data"]


def sees_personal_data(user: User | None) -> bool:
    return user is not None and user.is_staff


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
