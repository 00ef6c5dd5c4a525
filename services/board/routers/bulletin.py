"""The public weekly bulletin: the phone page, the print layout, text, JSON, and the whole
chain for anyone to verify. No sign-in: it is published for everyone, and holds no
personal data by construction (see services/bulletin/document.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse

from services.board.deps import BoardDep
from services.board.problems import Problem
from services.bulletin.html import render_html
from services.bulletin.text import render_text
from services.store import bulletin_figures as store
from services.tickets.bulletin_model import Document
from services.tickets.chain import latest_revisions, parse_week

router = APIRouter(prefix="/bulletin", tags=["bulletin"])
Language = Annotated[Literal["zh-CN", "en"], Query(description="zh-CN (default) or en")]


def _chain(board: BoardDep) -> list[Document]:
    with board.pool.connection() as conn:
        return store.chain(conn, board.estate.site.id)


def _week(board: BoardDep, week: str) -> Document:
    try:
        parse_week(week)
    except ValueError as exc:
        raise Problem.field(422, "validation", "week", str(exc), "path") from None
    with board.pool.connection() as conn:
        revisions = store.published_week(conn, board.estate.site.id, week)
    if not revisions:
        raise Problem(404, "not-found", f"no bulletin published for {week}")
    return revisions[-1]


def _online_url(board: BoardDep, week: str) -> str:
    return f"{board.estate.site.public_url.rstrip('/')}/bulletin/{week}"


@router.get("", summary="The latest published week", response_class=RedirectResponse,
            status_code=307)
def latest(board: BoardDep, request: Request) -> RedirectResponse:
    weeks = latest_revisions(_chain(board))
    if not weeks:
        raise Problem(404, "not-found", "no bulletin has been published yet")
    newest = max(weeks)
    return RedirectResponse(f"{request.url.path}/{newest}", status_code=307)


@router.get("/chain.json", summary="Every publication, in order, to verify offline")
def chain(board: BoardDep) -> JSONResponse:
    return JSONResponse(_chain(board), headers={
        "Content-Disposition": f'attachment; filename="{board.estate.site.id}-bulletins.json"'})


@router.get("/{week}", summary="The week's bulletin as a page", response_class=HTMLResponse)
def page(board: BoardDep, week: str, lang: Language = "zh-CN") -> HTMLResponse:
    return HTMLResponse(render_html(_week(board, week), lang,
                                    online_url=_online_url(board, week)))


@router.get("/{week}/print", summary="A4 print layout for the notice board, with a QR code",
            response_class=HTMLResponse)
def print_layout(board: BoardDep, week: str, lang: Language = "zh-CN") -> HTMLResponse:
    return HTMLResponse(render_html(_week(board, week), lang, print_layout=True,
                                    online_url=_online_url(board, week)))


@router.get("/{week}/text", summary="Plain text for an owners' group chat",
            response_class=PlainTextResponse)
def text(board: BoardDep, week: str, lang: Language = "zh-CN") -> PlainTextResponse:
    return PlainTextResponse(render_text(_week(board, week), lang))


@router.get("/{week}/data.json", summary="The week's published document (JSON)")
def document(board: BoardDep, week: str) -> JSONResponse:
    return JSONResponse(_week(board, week))
