"""Photos and videos, served only to whom may see them (services.board.policy).

Anything not visible answers 404, as if it did not exist: a resident probing other
residents' uploads learns nothing. Files are never listed or served by a path from the
request alone; a path is looked up first (media table, ticket history) and must lie
inside its folder of the data directory.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter
from fastapi.responses import FileResponse

from services.board.deps import BoardDep, CurrentUser
from services.board.media import EVIDENCE_PREFIX
from services.board.policy import may_see_evidence, may_see_media
from services.board.problems import Problem
from services.store import NotFoundError
from services.store.media import get_media
from services.store.ticket_queries import has_reported, photo_entries
from services.tickets import Role

router = APIRouter(tags=["media"])
log = logging.getLogger(__name__)
_PRIVATE = {"Cache-Control": "private, max-age=3600", "Content-Disposition": "inline"}


def _missing(what: str) -> Problem:
    return Problem(404, "not-found", f"no {what} here, or none you may see")


@router.get("/api/media/{media_id}", summary="An uploaded photo or video",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}})
def media(media_id: uuid.UUID, board: BoardDep, user: CurrentUser) -> FileResponse:
    with board.pool.connection() as conn:
        row = get_media(conn, media_id)
        if row is None:
            raise _missing("media")
        try:
            ticket = board.tickets.get(row.ticket_id, conn=conn)
        except NotFoundError:
            raise _missing("media") from None
        reported = user.role is Role.RESIDENT and has_reported(conn, row.ticket_id, user.id)
    if ticket.site != board.site or not may_see_media(user, row, reported_by_user=reported):
        raise _missing("media")
    path = board.files.resolve(row.path, "media")
    if path is None:
        log.error("event=media_file_missing id=%s path=%s", row.id, row.path)
        raise _missing("media")
    return FileResponse(path, media_type=row.content_type, headers=_PRIVATE)


@router.get("/api/tickets/{ticket_id}/evidence/{name:path}",
            summary="A camera's evidence image of a ticket (blurred by the vision service)",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}})
def evidence(ticket_id: int, name: str, board: BoardDep, user: CurrentUser) -> FileResponse:
    if not may_see_evidence(user):
        raise _missing("evidence")
    ref = EVIDENCE_PREFIX + name
    with board.pool.connection() as conn:
        try:
            ticket = board.tickets.get(ticket_id, conn=conn)
        except NotFoundError:
            raise _missing("evidence") from None
        entries = photo_entries(conn, [ticket_id])[ticket_id]
    if ticket.site != board.site or all(ref not in e.refs for e in entries):
        raise _missing("evidence")
    path = board.files.resolve(ref, "evidence")
    if path is None:
        raise _missing("evidence")
    return FileResponse(path, media_type="image/jpeg", headers=_PRIVATE)
