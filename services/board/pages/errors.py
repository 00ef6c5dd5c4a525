"""Errors on the pages: a problem becomes a readable page, not problem+json.

The JSON API's handlers stay as they are; pages raise their own two exceptions, which
`install` answers with HTML: `PageError` (the problem as a page with its status) and
`SignInFirst` (a redirect to the sign-in page that comes back here afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from services.board.pages.render import render
from services.board.problems import Problem, to_problem

__all__ = ["PageError", "SignInFirst", "attempt", "install", "shown_as_page"]

T = TypeVar("T")


class PageError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


class SignInFirst(Exception):
    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


def attempt(work: Callable[[], T]) -> T | Problem:
    """What `work` returns, or the problem it ran into (any other error propagates)."""
    try:
        return work()
    except Exception as exc:
        problem = to_problem(exc)
        if problem is None:
            raise
        return problem


@contextmanager
def shown_as_page() -> Iterator[None]:
    """Inside, a problem of the domain or the board becomes an error page."""
    try:
        yield
    except Exception as exc:
        problem = to_problem(exc)
        if problem is None:
            raise
        raise PageError(problem) from exc


def install(app: FastAPI) -> None:
    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return render(request, "error.html", problem=exc.problem)

    async def sign_in_first(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInFirst)
        return RedirectResponse("/login?" + urlencode({"next": exc.back_to}), status_code=303)

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(SignInFirst, sign_in_first)
