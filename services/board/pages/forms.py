"""Form posts: fields arrive as text and are checked by the API's own request models, so a
form means what the JSON body means; the answer is a redirect (POST, then GET)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError

from services.board.problems import validation_problem

__all__ = ["local_path", "parse", "see_other", "split_place"]

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], values: Mapping[str, str | int | None]) -> M:
    """`model` from the fields it has; an empty field counts as not filled in (a 422
    problem names it when it is required)."""
    data = {k: v for k, v in values.items() if k in model.model_fields and v not in (None, "")}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc.errors(include_url=False)) from None


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def local_path(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


def split_place(value: str) -> tuple[str | None, str]:
    building, _, area = value.partition(":")
    return (building or None), area
