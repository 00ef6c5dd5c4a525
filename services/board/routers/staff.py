"""Staff: the queue of machine findings, every ticket with its history, each step of the
lifecycle, offline reports and duplicates. Auditors may read here, never write."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, File, Form, Query, UploadFile, status

from services.board.accounts import User
from services.board.context import Board
from services.board.deps import BoardDep, ReaderUser, StaffUser
from services.board.policy import sees_personal_data
from services.board.problems import Problem
from services.board.reporting import new_report
from services.board.schemas import (
    DispatchIn,
    HistoryOut,
    MergeIn,
    NoteIn,
    OfflineReportIn,
    QueueItem,
    ReasonIn,
    ReportCreated,
    TicketDetail,
    TicketOut,
    TicketPage,
    VersionIn,
)
from services.board.uploads import check_uploads
from services.board.views import detail_of, masker_for, queue_item, ticket_detail, ticket_out
from services.board.workflow import Change
from services.store.reads import Plan, Read, run, run_async
from services.store.ticket_queries import (
    PublicTicket,
    TicketFilter,
    list_public_read,
    list_tickets_read,
    photo_entries_read,
    public_ticket_read,
)
from services.store.tickets import ticket_read
from services.tickets import Action, Source, State, Ticket

router = APIRouter(prefix="/api", tags=["staff"])
TicketId = Annotated[int, "the ticket number"]
Conn = psycopg.Connection[Any]


def _readable(board: Board, user: User, ticket_id: int) -> Plan[Ticket | PublicTicket]:
    """The ticket as this reader may have it (auditors: the public view); 404 if none."""
    ticket: Ticket | PublicTicket | None = (
        (yield ticket_read(ticket_id)) if sees_personal_data(user)
        else (yield public_ticket_read(board.site, ticket_id)))
    if ticket is None or ticket.site != board.site:
        raise Problem(404, "not-found", f"no ticket {ticket_id}")
    return ticket


def ticket_page(board: Board, user: User, ticket_id: int) -> Plan[TicketDetail]:
    """The reads of one ticket's page (the API's and the web page's)."""
    found = yield from _readable(board, user, ticket_id)
    masker = yield from masker_for(board, user)
    return (yield from ticket_detail(board.estate, found, user, masker))


def _act(board: Board, user: User, ticket_id: int, change: Change, *,
         photos: list[UploadFile] | None = None) -> TicketDetail:
    with board.reading() as conn:
        run(conn, _readable(board, user, ticket_id))  # 404 for another estate's ticket
    uploads = check_uploads(photos or [], board.options, field="photos", photos_only=True)
    # who may act (the department rule too) is the lifecycle table's, checked in the
    # workflow's transaction on the locked ticket
    changed = board.workflow.act(ticket_id, change, uploads=uploads, purpose="result")
    return detail_of(board, changed, user)


# --- reading ----------------------------------------------------------------------------


@router.get("/queue", tags=["staff"], summary="Machine findings awaiting confirmation, oldest"
            " first, with their evidence images")
async def queue(board: BoardDep, user: ReaderUser,
                limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[QueueItem]:
    async with board.reading_async() as conn:
        found = await list_tickets_read(board.site, TicketFilter(
            states=(State.PENDING_CONFIRMATION,), oldest_first=True, limit=limit)
        ).run_async(conn)
        ids = [t.id for t in found if t.id is not None]
        entries = await photo_entries_read(ids).run_async(conn) if ids else {}
        masker = await run_async(conn, masker_for(board, user))
    return [queue_item(board.estate, t, entries[t.id], user, masker) for t in found
            if t.id is not None]


@router.get("/tickets", summary="Every ticket, newest first, with filters")
async def tickets(
    *,
    board: BoardDep,
    user: ReaderUser,
    state: Annotated[list[State] | None, Query()] = None,
    category: str | None = None,
    department: str | None = None,
    source: Source | None = None,
    before: Annotated[int | None, Query(gt=0)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketPage:
    f = TicketFilter(states=tuple(state or ()), category=category, department=department,
                     source=source, before=before, limit=limit)
    read: Read[list[Ticket]] | Read[list[PublicTicket]] = (
        list_tickets_read(board.site, f) if sees_personal_data(user)
        else list_public_read(board.site, f))
    async with board.reading_async() as conn:
        found = await read.run_async(conn)
        masker = await run_async(conn, masker_for(board, user))
    items = [ticket_out(board.estate, t, user, TicketOut, masker) for t in found]
    return TicketPage(items=items, next_before=items[-1].id if len(items) == limit else None)


@router.get("/tickets/{ticket_id}", summary="One ticket: photos, reports, history, and the"
            " actions you may take")
async def ticket(ticket_id: TicketId, board: BoardDep, user: ReaderUser) -> TicketDetail:
    async with board.reading_async() as conn:  # one connection for every read of the page
        return await run_async(conn, ticket_page(board, user, ticket_id))


@router.get("/tickets/{ticket_id}/history", summary="The ticket's append-only history")
async def history(ticket_id: TicketId, board: BoardDep, user: ReaderUser) \
        -> list[HistoryOut]:
    return (await ticket(ticket_id, board, user)).history


# --- writing ----------------------------------------------------------------------------


@router.post("/tickets", status_code=status.HTTP_201_CREATED,
             summary="Enter an offline report (front desk, phone, suggestion box)")
def offline_report(body: OfflineReportIn, board: BoardDep, user: StaffUser) -> ReportCreated:
    new = new_report(board.estate, category=body.category, building=body.building,
                     area=body.area, description=body.description, actor=user.actor,
                     source=Source.STAFF, channel=body.channel, reporter_id=None,
                     at=board.clock(), priority=body.priority)
    opened = board.workflow.open(new, [])
    assert opened.ticket.id is not None
    return ReportCreated(id=opened.ticket.id, linked=not opened.created,
                         reporters=opened.ticket.reporters,
                         ticket=detail_of(board, opened.ticket, user))


@router.post("/tickets/{ticket_id}/confirm", summary="Confirm a machine finding")
def confirm(ticket_id: TicketId, body: VersionIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.CONFIRM, user.actor, note=body.note,
                                               expected_version=body.version))


@router.post("/tickets/{ticket_id}/reject", summary="Reject: duplicate, invalid or false"
             " alarm (reason required)")
def reject(ticket_id: TicketId, body: ReasonIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.REJECT, user.actor, reason=body.reason,
                                               note=body.note, expected_version=body.version))


@router.post("/tickets/{ticket_id}/accept", summary="Accept (受理): the response clock stops")
def accept(ticket_id: TicketId, body: VersionIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.ACCEPT, user.actor, note=body.note,
                                               expected_version=body.version))


@router.post("/tickets/{ticket_id}/verify", summary="Verified on site (核实)")
def verify(ticket_id: TicketId, body: VersionIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.VERIFY, user.actor, note=body.note,
                                               expected_version=body.version))


def _assignment(board: Board, body: DispatchIn) -> None:
    try:
        department = board.estate.department(body.department)
    except KeyError as exc:
        raise Problem.field(422, "validation", "department", str(exc.args[0])) from None
    if all(member.id != body.assignee for member in department.staff):
        known = ", ".join(m.id for m in department.staff)
        raise Problem.field(422, "validation", "assignee",
                            f"'{body.assignee}' is not in {department.id} ({known})")


@router.post("/tickets/{ticket_id}/dispatch", summary="Dispatch to a department and a person")
def dispatch(ticket_id: TicketId, body: DispatchIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    _assignment(board, body)
    return _act(board, user, ticket_id, Change(
        Action.DISPATCH, user.actor, department=body.department, assignee=body.assignee,
        note=body.reason, expected_version=body.version))


@router.post("/tickets/{ticket_id}/reassign", summary="Hand a dispatched ticket to someone"
             " else (reason required)")
def reassign(ticket_id: TicketId, body: DispatchIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    _assignment(board, body)
    return _act(board, user, ticket_id, Change(
        Action.REASSIGN, user.actor, department=body.department, assignee=body.assignee,
        reason=body.reason, expected_version=body.version))


@router.post("/tickets/{ticket_id}/start", summary="Work has started (处理中)")
def start(ticket_id: TicketId, body: VersionIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.START, user.actor, note=body.note,
                                               expected_version=body.version))


@router.post("/tickets/{ticket_id}/resolve", summary="Resolved: result notes and at least"
             " one result photo")
def resolve(
    *,
    ticket_id: TicketId,
    board: BoardDep,
    user: StaffUser,
    note: Annotated[str, Form(min_length=1, max_length=2000, description="What was done.")],
    photos: Annotated[list[UploadFile], File(description="1 to 9 result photos.")],
    version: Annotated[int | None, Form()] = None,
) -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.RESOLVE, user.actor, note=note,
                                               expected_version=version), photos=photos)


@router.post("/tickets/{ticket_id}/mark-unresolvable", summary="Cannot be solved (reason"
             " required, shown on the bulletin)")
def mark_unresolvable(ticket_id: TicketId, body: ReasonIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(
        Action.MARK_UNRESOLVABLE, user.actor, reason=body.reason, note=body.note,
        expected_version=body.version))


@router.post("/tickets/{ticket_id}/request-info", summary="Ask the reporter for information"
             " (the SLA clock pauses)")
def request_info(ticket_id: TicketId, body: NoteIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.REQUEST_INFO, user.actor, note=body.note,
                                               expected_version=body.version))


@router.post("/tickets/{ticket_id}/comment", summary="An internal note in the history")
def comment(ticket_id: TicketId, body: NoteIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.COMMENT, user.actor, note=body.note,
                                               expected_version=body.version))


@router.post("/tickets/{ticket_id}/close", summary="Close a resolved ticket")
def close(ticket_id: TicketId, body: VersionIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.CLOSE, user.actor, note=body.note,
                                               expected_version=body.version))


@router.post("/tickets/{ticket_id}/send-back", summary="A reviewer returns a resolution"
             " (managers)")
def send_back(ticket_id: TicketId, body: ReasonIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    return _act(board, user, ticket_id, Change(Action.SEND_BACK, user.actor, reason=body.reason,
                                               note=body.note, expected_version=body.version))


@router.post("/tickets/{ticket_id}/duplicate-of", summary="Link this ticket to the one it"
             " duplicates (this one is rejected, its reporters follow the other)")
def duplicate_of(ticket_id: TicketId, body: MergeIn, board: BoardDep, user: StaffUser) \
        -> TicketDetail:
    with board.reading() as conn:
        for tid in (ticket_id, body.primary_id):
            run(conn, _readable(board, user, tid))
    primary = board.workflow.merge(ticket_id, body.primary_id, user.actor)
    return detail_of(board, primary, user)
