"""The manager's tools: invitation codes per building, and staff and auditor accounts."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, status

from services.board.accounts import NewAccount, create_account, issue_invitation
from services.board.deps import BoardDep, ManagerUser
from services.board.schemas import InvitationIn, InvitationOut, UserIn, UserOut
from services.store.invitations import Invitation, list_invitations

router = APIRouter(prefix="/api", tags=["manager"])


def _out(invitation: Invitation, code: str | None = None) -> InvitationOut:
    return InvitationOut(id=invitation.id, code=code, hint=invitation.hint,
                         building=invitation.building, uses_left=invitation.uses_left,
                         expires_at=invitation.expires_at, created_at=invitation.created_at,
                         revoked=invitation.revoked_at is not None)


@router.post("/invitations", status_code=status.HTTP_201_CREATED,
             summary="Issue an invitation code for one building (the code is shown only now)")
def create_invitation(body: InvitationIn, board: BoardDep, user: ManagerUser) -> InvitationOut:
    code, invitation = issue_invitation(
        board.pool, board.estate, building=body.building, uses=body.uses,
        valid_for=timedelta(days=body.valid_days), created_by=user.id, now=board.clock(),
    )
    return _out(invitation, code)


@router.get("/invitations", summary="Invitation codes issued, newest first (codes hidden)")
def invitations(board: BoardDep, user: ManagerUser) -> list[InvitationOut]:
    with board.pool.connection() as conn:
        return [_out(i) for i in list_invitations(conn)]


@router.post("/users", status_code=status.HTTP_201_CREATED,
             summary="Create a staff, manager or auditor account")
def create_user(body: UserIn, board: BoardDep, user: ManagerUser) -> UserOut:
    new = NewAccount(body.login, body.password, body.role, staff_id=body.staff_id,
                     name=body.name, phone=body.phone)
    with board.pool.connection() as conn, conn.transaction():
        account = create_account(conn, board.estate, new, board.clock())
    return UserOut(id=account.person_id, login=account.login, role=account.role,
                   department=account.department, name=account.display_name)
