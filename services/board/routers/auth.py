"""Signing in and out, joining with an invitation code, and who am I.

A board lets in only accounts of its own estate (or unbound ones): another estate's login
is answered like an unknown one. The session cookie is HttpOnly, SameSite=Lax, and Secure
over HTTPS (services.board.cookies).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from services.board.accounts import (
    NewAccount,
    User,
    authenticate,
    end_session,
    join_with_code,
    start_session,
)
from services.board.audit import client_address
from services.board.cookies import delete_cookie, set_cookie
from services.board.deps import COOKIE, BoardDep, CurrentUser, Token
from services.board.schemas import JoinIn, LoginIn, MeOut, SessionOut
from services.board.throttle import Limits, SignInThrottle
from services.store.accounts import Account, person
from services.tickets import Role

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _me(board: BoardDep, user: User) -> MeOut:
    with board.pool.connection() as conn:
        found = person(conn, user.id)
    return MeOut(id=user.id, login=user.login, role=user.role, department=user.department,
                 name=user.name, building=user.building,
                 phone=found.phone if found else None, unit=found.unit if found else None)


def _session(request: Request, board: BoardDep, account: Account, response: Response) \
        -> SessionOut:
    now = board.clock()
    token, expires = start_session(board.pool, account, now, board.options.session_ttl)
    set_cookie(response, request, board, COOKIE, token,
               max_age=int(board.options.session_ttl.total_seconds()))
    return SessionOut(token=token, expires_at=expires, user=_me(board, User.of(account)))


def _throttle(board: BoardDep) -> SignInThrottle:
    options = board.options
    return SignInThrottle(Limits(account=options.login_failures,
                                 address=options.address_failures,
                                 codes=options.code_failures))


@router.post("/login", summary="Sign in: sets the session cookie and returns a bearer token")
def login(body: LoginIn, request: Request, board: BoardDep, response: Response) -> SessionOut:
    account = authenticate(board.pool, body.login, body.password, board.clock(),
                           _throttle(board), site=board.site, address=client_address())
    return _session(request, board, account, response)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this session")
def logout(request: Request, board: BoardDep, token: Token, response: Response) -> None:
    if token:
        end_session(board.pool, token, board.clock())
    delete_cookie(response, request, board, COOKIE)


@router.post("/join", status_code=status.HTTP_201_CREATED,
             summary="A resident joins with the invitation code of their building")
def join(body: JoinIn, request: Request, board: BoardDep, response: Response) -> SessionOut:
    new = NewAccount(body.login, body.password, Role.RESIDENT, name=body.name,
                     phone=body.phone, unit=body.unit)
    account = join_with_code(board.pool, board.estate, body.code, new, board.clock(),
                             throttle=_throttle(board), address=client_address())
    return _session(request, board, account, response)


@router.get("/me", summary="The signed-in account, with its own personal data")
def me(user: CurrentUser, board: BoardDep) -> MeOut:
    return _me(board, user)
