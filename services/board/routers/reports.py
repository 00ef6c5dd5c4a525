"""Residents: report a problem with photos or a video, follow their reports, add information
when asked, rate the result, reopen once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile, status

from services.board.accounts import User
from services.board.context import Board
from services.board.deps import BoardDep, ResidentUser
from services.board.problems import Problem
from services.board.reporting import (
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    KeyedReport,
    fingerprint,
    new_report,
)
from services.board.schemas import (
    RatingIn,
    ReopenIn,
    ReportCreated,
    TicketDetail,
    TicketOut,
    TicketPage,
)
from services.board.uploads import check_uploads
from services.board.views import detail_of, masker_for, ticket_out
from services.board.workflow import Change
from services.store import NotFoundError, Opened
from services.store.reads import run
from services.store.ticket_queries import has_reported, tickets_reported_by
from services.tickets import Action, Channel, Source, Ticket

router = APIRouter(prefix="/api/reports", tags=["resident"])

MediaFiles = Annotated[list[UploadFile] | None, File(
    description="Up to 9 photos (JPEG, PNG, WebP) or one short video (MP4, QuickTime);"
                " checked by content, metadata such as GPS removed.")]
Version = Annotated[int | None, Form(description="The ticket version you saw (409 if stale).")]
IdempotencyKey = Annotated[str | None, Header(
    alias=IDEMPOTENCY_HEADER, min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="A key of your choosing (a UUID, say), new for each report. Send the report"
                " again with the same key when you got no answer (a timeout, a lost"
                " connection, a 503): it is filed once, and the answer names the same"
                f" ticket, with `{REPLAYED_HEADER}: true` when it was filed before. A key is"
                " remembered for 24 hours; reusing it for another report is refused (422).")]
REPLAY_RESPONSES: dict[int | str, dict[str, Any]] = {201: {"headers": {REPLAYED_HEADER: {
    "description": "`true` when this answers a retry: the report was filed by an earlier"
                   " request with the same Idempotency-Key, and nothing was filed now.",
    "schema": {"type": "string", "enum": ["true"]}}}}}


def file_resident_report(board: Board, user: User, *, category: str, building: str | None,
                         area: str, description: str, media: list[UploadFile],
                         channel: Channel, once: KeyedReport | None = None) -> Opened:
    """A resident's report, under their hourly limit: shared with Open311.

    With `once` (an Idempotency-Key), a retry of a report already filed returns its ticket
    before the limit and the uploads are looked at: a retry costs nothing and counts not."""
    new = new_report(board.estate, category=category, building=building, area=area,
                     description=description, actor=user.actor, source=Source.RESIDENT,
                     channel=channel, reporter_id=user.id, at=board.clock())
    if once is not None:
        with board.pool.connection() as conn:
            earlier = once.recall(conn)
        if earlier is not None:
            return earlier
    limit = board.options.reports_per_hour
    board.workflow.check_report_limit(user.id, limit)  # before the uploads are worked on
    uploads = check_uploads(media, board.options)
    return board.workflow.open(new, uploads, report_limit=limit, once=once)


def keyed(board: Board, user: User, key: str | None, fields: dict[str, str | None],
          media: list[UploadFile]) -> KeyedReport | None:
    """The report's Idempotency-Key with the request's fingerprint, if a key was sent."""
    if key is None:
        return None
    return KeyedReport(board.tickets, owner_id=user.id, key=key,
                       fingerprint=fingerprint(fields, media), now=board.clock())


def own_ticket(board: Board, user: User, ticket_id: int) -> Ticket:
    """A ticket the resident reported (first or as a linked duplicate); 404 otherwise."""
    with board.pool.connection() as conn:
        try:
            ticket = board.tickets.get(ticket_id, conn=conn)
        except NotFoundError:
            ticket = None
        if ticket is None or ticket.site != board.site or not has_reported(conn, ticket_id,
                                                                             user.id):
            raise Problem(404, "not-found", f"you have no report {ticket_id}")
    return ticket


@router.post("", status_code=status.HTTP_201_CREATED, responses=REPLAY_RESPONSES,
             summary="Report a problem; a report of an open problem is linked to it")
def report(
    *,
    board: BoardDep,
    user: ResidentUser,
    response: Response,
    category: Annotated[str, Form(description="A category code (GET /api/estate).")],
    area: Annotated[str, Form(description="An area id, of the building if one is given.")],
    description: Annotated[str, Form(min_length=1, max_length=2000)],
    building: Annotated[str | None, Form()] = None,
    media: MediaFiles = None,
    idempotency_key: IdempotencyKey = None,
) -> ReportCreated:
    fields = {"category": category, "building": building, "area": area,
              "description": description}
    once = keyed(board, user, idempotency_key, fields, media or [])
    opened = file_resident_report(board, user, category=category, building=building, area=area,
                                  description=description, media=media or [],
                                  channel=Channel.WEB, once=once)
    if once is not None and once.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    ticket = opened.ticket
    assert ticket.id is not None
    return ReportCreated(id=ticket.id, linked=not opened.created, reporters=ticket.reporters,
                         ticket=detail_of(board, ticket, user))


@router.get("", summary="My reports, newest first")
def my_reports(board: BoardDep, user: ResidentUser,
               before: Annotated[int | None, Query(gt=0)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> TicketPage:
    with board.pool.connection() as conn:
        found = tickets_reported_by(conn, board.site, user.id, before=before, limit=limit)
        masker = run(conn, masker_for(board, user))
    items = [ticket_out(board.estate, t, user, TicketOut, masker) for t in found]
    return TicketPage(items=items, next_before=found[-1].id if len(found) == limit else None)


@router.get("/{ticket_id}", summary="One of my reports, with its history")
def my_report(ticket_id: int, board: BoardDep, user: ResidentUser) -> TicketDetail:
    return detail_of(board, own_ticket(board, user, ticket_id), user)


@router.post("/{ticket_id}/info", summary="Add the information staff asked for")
def provide_info(
    *,
    ticket_id: int,
    board: BoardDep,
    user: ResidentUser,
    note: Annotated[str, Form(min_length=1, max_length=2000)],
    version: Version = None,
    media: MediaFiles = None,
) -> TicketDetail:
    own_ticket(board, user, ticket_id)
    uploads = check_uploads(media or [], board.options)
    changed = board.workflow.act(
        ticket_id, Change(Action.PROVIDE_INFO, user.actor, note=note, expected_version=version),
        uploads=uploads, purpose="info")
    return detail_of(board, changed, user)


@router.post("/{ticket_id}/rating", summary="Rate the result 1–5 (closes the ticket)")
def rate(ticket_id: int, body: RatingIn, board: BoardDep, user: ResidentUser) -> TicketDetail:
    own_ticket(board, user, ticket_id)
    changed = board.workflow.act(ticket_id, Change(
        Action.RATE, user.actor, note=body.comment, rating=body.rating,
        expected_version=body.version))
    return detail_of(board, changed, user)


@router.post("/{ticket_id}/reopen", summary="Not fixed: reopen the ticket (once)")
def reopen(ticket_id: int, body: ReopenIn, board: BoardDep, user: ResidentUser) -> TicketDetail:
    own_ticket(board, user, ticket_id)
    changed = board.workflow.act(ticket_id, Change(
        Action.REOPEN, user.actor, reason=body.reason, expected_version=body.version))
    return detail_of(board, changed, user)
