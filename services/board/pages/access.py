"""Who may open which page: the API's role sets (services.board.deps), answered as pages.

Nobody signed in is sent to sign in (and brought back); a wrong role gets a 403 page; an
account of another estate counts as not signed in here. Every form post must come from
this site twice over: browsers name the page's origin on a POST, and one from elsewhere
is refused even before a session is involved (no login CSRF); and the form must carry
the CSRF token of the page that showed it (services.board.pages.csrf), which also stops
a post that names no origin at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from services.board.accounts import User
from services.board.deps import (
    MANAGERS,
    READERS,
    RESIDENTS,
    STAFF,
    BoardDep,
    OptionalUser,
    cross_origin,
)
from services.board.pages import csrf
from services.board.pages.errors import PageError, SignInFirst
from services.board.problems import Problem
from services.tickets import Role

__all__ = ["PageManager", "PageReader", "PageResident", "PageStaff", "PageUser",
           "guard_form"]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def guard_form(request: Request) -> None:
    """Refuse a post from another site's page, or one without this visitor's token."""
    if request.method in _SAFE_METHODS:
        return
    if cross_origin(request):
        raise PageError(Problem(403, "forbidden", "a form on another site may not post here"))
    if not csrf.valid(request, await csrf.sent_token(request)):
        raise PageError(Problem(403, "forbidden", "this form has expired or was not sent from"
                                " this site's page; open the page again and resend it"))


def _page_user(board: BoardDep, user: OptionalUser) -> User | None:
    """The signed-in user, if their account may use this estate's board."""
    return user if user is not None and user.belongs_to(board.site) else None


PageUser = Annotated[User | None, Depends(_page_user)]


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query and request.method == "GET" else "")


def allow(*roles: Role) -> Callable[[Request, User | None], User]:
    names = ", ".join(r.value for r in roles)

    def dependency(request: Request, user: PageUser) -> User:
        if user is None:
            raise SignInFirst(_here(request))
        request.state.user = user  # for the page's header, an error page's too
        if user.role not in roles:  # as the API's `require` answers it
            raise PageError(Problem(403, "forbidden", f"only {names} accounts may do this;"
                                    f" you are signed in as {user.role.value}"))
        return user

    return dependency


PageResident = Annotated[User, Depends(allow(*RESIDENTS))]
PageStaff = Annotated[User, Depends(allow(*STAFF))]
PageReader = Annotated[User, Depends(allow(*READERS))]
PageManager = Annotated[User, Depends(allow(*MANAGERS))]
