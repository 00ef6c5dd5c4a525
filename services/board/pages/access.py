"""Who may open which page: the API's role sets (services.board.deps), answered as pages.

Nobody signed in is sent to sign in (and brought back); a wrong role gets a 403 page.
Every form post must come from this site: browsers name the page's origin on a POST,
and one from elsewhere is refused even before a session is involved (no login CSRF).
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
    OptionalUser,
    cross_origin,
    require,
)
from services.board.pages.errors import PageError, SignInFirst
from services.board.problems import Problem
from services.tickets import Role

__all__ = ["PageManager", "PageReader", "PageResident", "PageStaff", "same_origin"]


def same_origin(request: Request) -> None:
    if cross_origin(request):
        raise PageError(Problem(403, "forbidden", "a form on another site may not post here"))


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query and request.method == "GET" else "")


def allow(*roles: Role) -> Callable[[Request, User | None], User]:
    check = require(*roles)

    def dependency(request: Request, user: OptionalUser) -> User:
        if user is None:
            raise SignInFirst(_here(request))
        request.state.user = user  # for the page's header, an error page's too
        try:
            return check(user)
        except Problem as exc:
            raise PageError(exc) from None

    return dependency


PageResident = Annotated[User, Depends(allow(*RESIDENTS))]
PageStaff = Annotated[User, Depends(allow(*STAFF))]
PageReader = Annotated[User, Depends(allow(*READERS))]
PageManager = Annotated[User, Depends(allow(*MANAGERS))]
