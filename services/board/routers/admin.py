"""The manager's tools: invitation codes per building, staff and auditor accounts, and the
audit log (managers and auditors read it; nobody can change it).

Each change made here is written to the audit log in the transaction that makes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from services.board.accounts import NewAccount, User, create_account, issue_invitation
from services.board.audit import entry_by
from services.board.deps import BoardDep, ManagerUser, require
from services.board.problems import Problem
from services.board.schemas import InvitationIn, InvitationOut, UserIn, UserOut
from services.store.audit import AuditFilter, AuditRow, entries, record
from services.store.invitations import Invitation, list_invitations
from services.tickets import Role

router = APIRouter(prefix="/api", tags=["manager"])


def _own_estate(board: BoardDep, user: User) -> None:
    if not user.belongs_to(board.site):
        raise Problem(403, "forbidden", "your account belongs to another estate; sign in on"
                      " its own board")


def _manager(board: BoardDep, user: ManagerUser) -> User:
    _own_estate(board, user)
    return user


def _audit_reader(board: BoardDep,
                  user: Annotated[User, Depends(require(Role.MANAGER, Role.AUDITOR))]) -> User:
    _own_estate(board, user)
    return user


Manager = Annotated[User, Depends(_manager)]
AuditReader = Annotated[User, Depends(_audit_reader)]


def _out(invitation: Invitation, code: str | None = None) -> InvitationOut:
    return InvitationOut(id=invitation.id, code=code, hint=invitation.hint,
                         building=invitation.building, uses_left=invitation.uses_left,
                         expires_at=invitation.expires_at, created_at=invitation.created_at,
                         revoked=invitation.revoked_at is not None)


@router.post("/invitations", status_code=status.HTTP_201_CREATED,
             summary="Issue an invitation code for one building (the code is shown only now)")
def create_invitation(body: InvitationIn, board: BoardDep, user: Manager) -> InvitationOut:
    now = board.clock()
    code, invitation = issue_invitation(
        board.pool, board.estate, building=body.building, uses=body.uses,
        valid_for=timedelta(days=body.valid_days), created_by=user.id, now=now,
        audit=entry_by(user, site=board.site, at=now, action="invitation.issue"),
    )
    return _out(invitation, code)


@router.get("/invitations", summary="Invitation codes issued, newest first (codes hidden)")
def invitations(board: BoardDep, user: Manager) -> list[InvitationOut]:
    with board.pool.connection() as conn:
        return [_out(i) for i in list_invitations(conn, site=board.site)]


@router.post("/users", status_code=status.HTTP_201_CREATED,
             summary="Create a staff, manager or auditor account")
def create_user(body: UserIn, board: BoardDep, user: Manager) -> UserOut:
    new = NewAccount(body.login, body.password, body.role, staff_id=body.staff_id,
                     name=body.name, phone=body.phone)
    now = board.clock()
    with board.pool.connection() as conn, conn.transaction():
        account = create_account(conn, board.estate, new, now)
        department = f", department {account.department}" if account.department else ""
        record(conn, entry_by(user, site=board.site, at=now, action="account.create",
                              target=f"account:{account.person_id}",
                              summary=f"{account.role.value} {account.login!r}{department}"))
    return UserOut(id=account.person_id, login=account.login, role=account.role,
                   department=account.department, name=account.display_name)


# --- the audit log ----------------------------------------------------------------------


class AuditOut(BaseModel):
    id: int
    at: datetime
    role: str = Field(description="staff, manager, auditor; operator: the command line;"
                      " anonymous: a sign-in with an unknown login")
    person_id: str | None = Field(description="The account; none for an unknown login or an"
                                  " operator")
    name: str = Field(description="The staff member's name, or the operator's system user")
    action: str = Field(description="e.g. ticket.accept, ticket.open, login, login.failed,"
                        " invitation.issue, account.create, bulletin.correct")
    target: str = Field(description="What it was done to: ticket:42, building:b3, …")
    address: str | None = Field(description="Where the request came from; managers only (an"
                                " address is personal data)")
    summary: str


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_before: int | None = Field(description="Pass as `before` for the next page.")


def _audit_out(row: AuditRow, user: User) -> AuditOut:
    return AuditOut(id=row.id, at=row.at, role=row.role, person_id=row.person_id,
                    name=row.actor_name, action=row.action, target=row.target,
                    address=row.address if user.role is Role.MANAGER else None,
                    summary=row.summary)


@router.get("/audit", tags=["audit"],
            summary="The audit log of this estate, newest first: staff actions, sign-ins,"
                    " invitations, accounts, bulletin corrections")
def audit_log(
    *,
    board: BoardDep,
    user: AuditReader,
    action: Annotated[str | None, Query(
        max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+)*$",
        description="An action, or a family: `ticket` matches ticket.accept, …")] = None,
    person: Annotated[str | None, Query(max_length=64, description="An account id")] = None,
    target: Annotated[str | None, Query(max_length=128,
                                        description="e.g. ticket:42")] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Before this time")] = None,
    before: Annotated[int | None, Query(gt=0, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Problem.field(422, "validation", name, "give a time zone (e.g. +08:00 or Z)",
                                where="query")
    f = AuditFilter(action=action, person_id=person, target=target, since=since, until=until,
                    before=before, limit=limit)
    with board.pool.connection() as conn:
        rows = entries(conn, board.site, f)
    items = [_audit_out(r, user) for r in rows]
    return AuditPage(items=items, next_before=items[-1].id if len(items) == limit else None)
