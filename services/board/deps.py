"""Dependencies as `Annotated` aliases: `BoardDep`, `PoolDep`, `CurrentUser`, `StaffUser` …

A session token arrives as `Authorization: Bearer <token>` (API clients) or as the
HttpOnly cookie (the board's pages). With the cookie, a state-changing request from
another origin is refused, so a page elsewhere cannot act with a resident's session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from services.board.accounts import User
from services.board.context import Board
from services.board.passwords import digest
from services.board.problems import Problem
from services.config import EstateConfig
from services.store.accounts import account_by_session_read
from services.tickets import Role

__all__ = [
    "COOKIE",
    "MANAGERS",
    "READERS",
    "RESIDENTS",
    "STAFF",
    "BoardDep",
    "CurrentUser",
    "EstateDep",
    "ManagerUser",
    "OptionalUser",
    "PoolDep",
    "ReaderUser",
    "ResidentUser",
    "StaffUser",
    "Token",
    "cross_origin",
    "require",
]

COOKIE = "sunlight_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="The token from POST /api/auth/login.")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, scheme_name="cookie",
                       description="Set by POST /api/auth/login (HttpOnly).")


async def _board(request: Request) -> Board:
    board: Board = request.app.state.board
    return board


BoardDep = Annotated[Board, Depends(_board)]


async def _pool(board: BoardDep) -> ConnectionPool:
    return board.pool


async def _estate(board: BoardDep) -> EstateConfig:
    return board.estate


PoolDep = Annotated[ConnectionPool, Depends(_pool)]
EstateDep = Annotated[EstateConfig, Depends(_estate)]


def cross_origin(request: Request) -> bool:
    """Whether this is a write sent by a page of another origin (browsers say so in Origin)."""
    origin = request.headers.get("origin")
    return request.method not in _SAFE_METHODS and origin is not None \
        and urlsplit(origin).netloc != request.headers.get("host")


async def _token(request: Request,
           bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
           cookie: Annotated[str | None, Depends(_cookie)]) -> str | None:
    """The session token sent, if any; a cookie on a cross-origin write is refused."""
    if bearer is not None:
        return bearer.credentials
    if not cookie:
        return None
    if cross_origin(request):
        raise Problem(403, "forbidden", "a request from another site may not use your session"
                      " cookie")
    return cookie


Token = Annotated[str | None, Depends(_token)]


async def _optional_user(board: BoardDep, token: Token) -> User | None:
    if not token:
        return None
    read = account_by_session_read(digest(token), board.clock(), site=board.site)
    async with board.reading_async() as conn:
        account = await read.run_async(conn)
    return User.of(account) if account else None


OptionalUser = Annotated[User | None, Depends(_optional_user)]


async def _current_user(user: OptionalUser, token: Token) -> User:
    if user is None:
        detail = ("the session has expired, was revoked, or is not of this estate; log in"
                  " again" if token
                  else "log in first (POST /api/auth/login)")
        raise Problem(401, "unauthenticated", detail, headers={"WWW-Authenticate": "Bearer"})
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


def require(*roles: Role) -> Callable[[User], Awaitable[User]]:
    """A dependency that lets only these roles through (403 for the others)."""
    names = ", ".join(r.value for r in roles)

    async def dependency(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Problem(403, "forbidden", f"only {names} accounts may do this; you are"
                          f" signed in as {user.role.value}")
        return user

    return dependency


# who may use each part of the board (the web pages check the same sets)
RESIDENTS = (Role.RESIDENT,)
STAFF = (Role.STAFF, Role.MANAGER)
MANAGERS = (Role.MANAGER,)
# who may read every ticket: staff and managers in full, auditors without personal data
READERS = (Role.STAFF, Role.MANAGER, Role.AUDITOR)

ResidentUser = Annotated[User, Depends(require(*RESIDENTS))]
StaffUser = Annotated[User, Depends(require(*STAFF))]
ManagerUser = Annotated[User, Depends(require(*MANAGERS))]
ReaderUser = Annotated[User, Depends(require(*READERS))]
