"""Rendering a page: the Jinja2 templates, the reader's language, and what every page
shares (who is signed in, the language switch, the notice after a form, an error)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from services.board.context import Board
from services.board.cookies import set_cookie
from services.board.pages import csrf
from services.board.pages.labels import Labels
from services.board.pages.words import (
    DONE,
    FIELD_NAMES,
    LANGUAGES,
    MESSAGES_ZH,
    PROBLEM_TITLES,
    TERMS,
    WORDS,
)
from services.board.problems import Problem

__all__ = ["ErrorView", "error_view", "language", "render"]

LANG_COOKIE = "sunlight_lang"
_YEAR = 365 * 24 * 3600


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("services.board.pages", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def language(request: Request) -> str:
    """?lang= when given (and remembered in a cookie), else the remembered one, else Chinese."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE, "")
    return remembered if remembered in LANGUAGES else LANGUAGES[0]


@dataclass(frozen=True)
class ErrorView:
    """A problem as the page shows it: a title in the reader's words, the board's detail,
    and each invalid field by its label."""

    status: int
    title: str
    detail: str
    fields: list[tuple[str, str]]

    @property
    def names(self) -> set[str]:
        return {label for label, _ in self.fields}


def error_view(problem: Problem, lang: str) -> ErrorView:
    if lang != "en":
        problem = problem.in_chinese()
    names = FIELD_NAMES[lang]
    fields = []
    for error in problem.errors:
        field = error.get("field", "")
        base = field.split("[", 1)[0].split(".", 1)[0]
        detail = error.get("detail", "")
        if lang != "en":
            detail = MESSAGES_ZH.get(detail, detail)
        fields.append((names.get(base, base), detail))
    return ErrorView(problem.status, PROBLEM_TITLES[lang].get(problem.slug or "", ""),
                     problem.detail, fields)


def _notice(request: Request, lang: str) -> str:
    """What the form just did (?done=…), said after its redirect."""
    done = request.query_params.get("done", "")
    if done in DONE[lang]:
        return DONE[lang][done]
    action = TERMS[lang]["action"].get(done)
    return f"✓ {action}" if action else ""


def _toggle(request: Request, other: str) -> str:
    params = {k: v for k, v in request.query_params.items() if k not in ("lang", "done")}
    return f"{request.url.path}?{urlencode({**params, 'lang': other})}"


def render(request: Request, template: str, *, status: int = 200,
           problem: Problem | None = None, **context: Any) -> HTMLResponse:
    """The page; with `problem`, the form is shown again with the error above it."""
    board: Board = request.app.state.board
    lang = language(request)
    other = LANGUAGES[1] if lang == LANGUAGES[0] else LANGUAGES[0]
    labels = Labels(board.estate, lang)
    html = _environment().get_template(template).render(
        lang=lang, w=WORDS[lang], L=labels, user=getattr(request.state, "user", None),
        toggle=_toggle(request, other), path=request.url.path,
        notice=_notice(request, lang), csrf=csrf.form_token(request),
        error=error_view(problem, lang) if problem else None, **context)
    response = HTMLResponse(html, status_code=problem.status if problem else status)
    csrf.set_seed(request, response, board)
    if request.query_params.get("lang") in LANGUAGES:
        set_cookie(response, request, board, LANG_COOKIE, lang, max_age=_YEAR)
    # pages carry personal data and per-user actions: never from a shared cache
    response.headers["Cache-Control"] = "no-store"
    return response
