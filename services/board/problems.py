"""Every error as RFC 9457 problem details (application/problem+json).

`Problem` is what the board raises; the handlers installed by `install` turn it, FastAPI's
validation errors, HTTP errors and the domain's and store's errors into one shape:
type, title, status, detail, plus `errors` (one per field) for invalid input. A problem
type is a path on the board (`/problems/<slug>`) that explains itself when fetched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.store import ConflictError, NotFoundError
from services.store.db import DATABASE_AWAY
from services.tickets import IllegalTransition, LifecycleError, MissingField, NotAllowed

__all__ = ["PROBLEM_JSON", "PROBLEM_TYPES", "RETRY_AFTER_S", "FieldError", "Problem", "install",
           "to_problem", "unavailable", "validation_problem", "wants_english"]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

# slug -> (title, what it means); the title is the same for every occurrence of a type.
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "validation": ("Your request has invalid fields",
                   "One or more fields are missing or invalid; `errors` lists each one."),
    "unauthenticated": ("Sign in first",
                        "This needs a session: log in, then send the cookie or a bearer token."),
    "forbidden": ("Not allowed for your role",
                  "Your account may not do this; the detail says which role may."),
    "transition": ("Not possible in the ticket's current state",
                   "The ticket lifecycle does not allow this action now; reload the ticket."),
    "version-conflict": ("The ticket was changed by someone else",
                         "Reload the ticket, check what changed, and send your action again"
                         " with the new version."),
    "upload": ("An upload was refused",
               "Files are checked by their content: JPEG, PNG or WebP photos, MP4 or"
               " QuickTime videos, within the size and count limits."),
    "rate-limited": ("Too many requests",
                     "Wait for the time given in Retry-After before trying again."),
    "not-found": ("Not found", "There is nothing here, or nothing you may see."),
    "unavailable": ("The board cannot reach its database right now",
                    "Nothing of the request was applied unless it says so. Send it again"
                    " after the time given in Retry-After; with the same Idempotency-Key, a"
                    " report that did get through is not filed twice."),
}
# what a client is told to wait for before sending again while the database is away
RETRY_AFTER_S = 5


class FieldError(dict[str, str]):
    """One invalid field: where (`in`: body, query, path…), which (`field`), why (`detail`)."""

    def __init__(self, field: str, detail: str, where: str = "body") -> None:
        super().__init__(field=field, detail=detail, **{"in": where})
        if where == "body" and field:
            self["pointer"] = "#/" + field.replace(".", "/")


class Problem(Exception):
    """`zh`: the detail in Chinese, for a problem people meet in daily use (a weak password,
    too many sign-ins); the pages show it, and the API answers with it unless the client
    asks for English (Accept-Language: en). Of a field problem, it is the field's reason."""

    def __init__(self, status: int, slug: str | None, detail: str, *,
                 errors: Sequence[FieldError] = (), headers: Mapping[str, str] | None = None,
                 zh: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail, self.zh = status, slug, detail, zh
        self.errors, self.headers, self.extra = list(errors), dict(headers or {}), extra

    @classmethod
    def field(cls, status: int, slug: str, field: str, detail: str, where: str = "body", *,
              zh: str | None = None) -> Problem:
        return cls(status, slug, f"{field}: {detail}", errors=[FieldError(field, detail, where)],
                   zh=zh)

    def in_chinese(self) -> Problem:
        """The same problem said in Chinese (itself when it has no Chinese)."""
        if self.zh is None:
            return self
        errors = [FieldError(e["field"], self.zh, e["in"]) for e in self.errors]
        detail = f"{errors[0]['field']}: {self.zh}" if len(errors) == 1 else self.zh
        return Problem(self.status, self.slug, detail, errors=errors, headers=self.headers,
                       **self.extra)


def wants_english(request: Request) -> bool:
    """Whether the client asked for English first (Accept-Language); Chinese otherwise."""
    first = request.headers.get("accept-language", "").split(",", 1)[0].strip().lower()
    return first.startswith("en")


class ProblemDoc(BaseModel):
    """RFC 9457 problem details, as every error of the board is answered."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


def _documented(description: str) -> dict[str, Any]:
    return {"model": ProblemDoc, "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDoc"}}}}


# What any operation may answer besides its success, for the OpenAPI document: clients
# (and schemathesis) learn every status and that errors come as problem+json.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("The request cannot be read"),
    401: _documented("Sign in first"),
    403: _documented("Not allowed for your role, or a cookie from another site"),
    404: _documented("Nothing here, or nothing you may see"),
    405: _documented("Not a method of this path"),
    409: _documented("The ticket changed meanwhile (version conflict)"),
    413: _documented("The request or an upload is too large"),
    415: _documented("An upload of a type that is not accepted"),
    422: _documented("Invalid fields, or not possible in the ticket's state"),
    429: _documented("Too many requests; see Retry-After"),
    503: _documented("The database is unreachable for now; send again after Retry-After"),
    500: _documented("Our failure; nothing of the request was applied unless it says so"),
}


def _response(problem: Problem) -> JSONResponse:
    if problem.slug is None:
        type_, title = "about:blank", HTTPStatus(problem.status).phrase
    else:
        type_, title = f"/problems/{problem.slug}", PROBLEM_TYPES[problem.slug][0]
    body: dict[str, Any] = {"type": type_, "title": title, "status": problem.status,
                            "detail": problem.detail, **problem.extra}
    if problem.errors:
        body["errors"] = problem.errors
    return JSONResponse(body, status_code=problem.status, headers=problem.headers,
                        media_type=PROBLEM_JSON)


def _field_error(error: Mapping[str, Any]) -> FieldError:
    loc = [str(part) for part in error.get("loc", ())]
    where = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else "body"
    field = ".".join(loc[1:] if loc and loc[0] == where else loc)
    message = str(error.get("msg", "invalid"))
    # pydantic prefixes messages of custom validators; the reader needs only the reason
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error.get("type") == "json_invalid":
        field, message = "", f"the body is not valid JSON: {error.get('ctx', {}).get('error')}"
    return FieldError(field, message, where)


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> Problem:
    """A 422 problem from pydantic's (or FastAPI's) error list, one entry per field."""
    fields = [_field_error(e) for e in errors]
    detail = "; ".join(f"{e['field'] or e['in']}: {e['detail']}" for e in fields)
    return Problem(422, "validation", detail, errors=fields)


# errors of the domain and the store, as (class, status, type); subclasses come first
_KNOWN: tuple[tuple[type[Exception], int, str], ...] = (
    (NotAllowed, 403, "forbidden"),
    (IllegalTransition, 409, "transition"),
    (MissingField, 422, "validation"),
    (LifecycleError, 422, "transition"),
    (NotFoundError, 404, "not-found"),
)


def unavailable(exc: Exception) -> Problem:
    """503 for a database that is away: a refused connection, one that broke mid-query, or
    no connection free within the pool's wait (the board answers, it does not hang)."""
    log.warning("event=database_unavailable error=%s detail=%r", type(exc).__name__,
                str(exc).strip()[:200])
    return Problem(503, "unavailable", f"the database is unreachable ({type(exc).__name__});"
                   f" try again in {RETRY_AFTER_S} s",
                   headers={"Retry-After": str(RETRY_AFTER_S)}, retry_after=RETRY_AFTER_S)


def to_problem(exc: Exception) -> Problem | None:
    """The problem an error of the domain or the store means; None for any other error.

    Shared by the JSON handlers below and the web pages, which show it as a message."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, DATABASE_AWAY):
        return unavailable(exc)
    if isinstance(exc, ConflictError):
        return Problem(409, "version-conflict", str(exc), ticket_id=exc.ticket_id,
                       current_version=exc.actual)
    for cls, status, slug in _KNOWN:
        if isinstance(exc, cls):
            return Problem(status, slug, str(exc))
    return None


def _status_slug(status: int) -> str | None:
    return {401: "unauthenticated", 403: "forbidden", 404: "not-found", 413: "upload",
            429: "rate-limited", 503: "unavailable"}.get(status)


def install(app: FastAPI) -> None:
    """Route every error of `app` through problem details."""

    async def problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return _response(exc if wants_english(request) else exc.in_chinese())

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _response(validation_problem(exc.errors()))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _response(Problem(exc.status_code, _status_slug(exc.status_code),
                                 str(exc.detail), headers=exc.headers))

    async def known(_: Request, exc: Exception) -> JSONResponse:
        found = to_problem(exc)
        assert found is not None
        return _response(found)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("event=unhandled_error path=%s", request.url.path, exc_info=exc)
        return _response(Problem(500, None, "Something went wrong on our side; nothing of"
                                 " your request was applied unless it says so elsewhere."))

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for error in (LifecycleError, ConflictError, NotFoundError, *DATABASE_AWAY):
        app.add_exception_handler(error, known)
    app.add_exception_handler(Exception, unexpected)

    @app.get("/problems/{slug}", tags=["meta"], summary="What a problem type means",
             responses=RESPONSES)
    def describe(slug: str) -> dict[str, str]:
        if slug not in PROBLEM_TYPES:
            raise Problem(404, "not-found", f"no problem type {slug!r}")
        title, description = PROBLEM_TYPES[slug]
        return {"type": f"/problems/{slug}", "title": title, "description": description}
