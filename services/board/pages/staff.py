"""Staff pages: the queue of machine findings with their evidence, the ticket list, and a
ticket with its history and a form for each action this user may take now.

Every form calls the staff API's own endpoint function with the API's own request model
(services.board.routers.staff), so the department rule, the lifecycle table, the upload
checks and the version check are the ones the JSON API applies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from services.board.accounts import User
from services.board.context import Board
from services.board.deps import BoardDep
from services.board.pages.access import PageReader, PageStaff, guard_form
from services.board.pages.errors import attempt, shown_as_page
from services.board.pages.forms import parse, see_other
from services.board.pages.render import render
from services.board.problems import Problem
from services.board.routers import staff as api
from services.board.schemas import DispatchIn, MergeIn, NoteIn, ReasonIn, VersionIn
from services.board.schemas import TicketDetail as Detail
from services.store.reads import run
from services.tickets import TERMINAL_STATES, State

router = APIRouter(include_in_schema=False, dependencies=[Depends(guard_form)])
Text = Annotated[str, Form()]

Endpoint = Callable[[int, Any, Board, User], Detail]
# the form's `do` -> the API's request model and endpoint (resolve, with photos, is apart)
ACTIONS: dict[str, tuple[type[BaseModel], Endpoint]] = {
    "confirm": (VersionIn, api.confirm), "accept": (VersionIn, api.accept),
    "verify": (VersionIn, api.verify), "start": (VersionIn, api.start),
    "close": (VersionIn, api.close), "reject": (ReasonIn, api.reject),
    "mark_unresolvable": (ReasonIn, api.mark_unresolvable), "send_back": (ReasonIn, api.send_back),
    "request_info": (NoteIn, api.request_info), "comment": (NoteIn, api.comment),
    "dispatch": (DispatchIn, api.dispatch), "reassign": (DispatchIn, api.reassign),
    "duplicate": (MergeIn, api.duplicate_of),
}
VIEWS: dict[str, tuple[State, ...]] = {
    "open": tuple(s for s in State if s.is_open), "resolved": (State.RESOLVED,),
    "closed": tuple(sorted(TERMINAL_STATES)), "all": (),
}


@router.get("/staff")
def staff_home(_: PageReader) -> Response:
    return see_other("/staff/queue")


@router.get("/staff/queue")
async def queue(request: Request, board: BoardDep, user: PageReader) -> Response:
    return render(request, "queue.html", items=await api.queue(board, user, limit=50))


@router.get("/staff/tickets")
async def tickets(request: Request, board: BoardDep, user: PageReader, view: str = "open",
                  before: Annotated[int | None, Query(gt=0)] = None) -> Response:
    view = view if view in VIEWS else "open"
    page = await api.tickets(board=board, user=user, state=list(VIEWS[view]),
                             category=None, department=None, source=None, before=before,
                             limit=30)
    return render(request, "tickets.html", page=page, view=view, views=list(VIEWS))


def _ticket_page(request: Request, board: Board, user: User, ticket_id: int, *,
                 problem: Problem | None = None, form: dict[str, str] | None = None) \
        -> Response:
    with shown_as_page(), board.reading() as conn:
        detail = run(conn, api.ticket_page(board, user, ticket_id))
    try:
        responsible = board.estate.category(detail.category).department
    except KeyError:
        responsible = ""
    departments = sorted(board.estate.departments, key=lambda d: d.id != responsible)
    return render(request, "ticket.html", t=detail, departments=departments, problem=problem,
                  form=form or {"do": "", "note": "", "reason": "", "assignee": "",
                                "primary_id": ""})


@router.get("/staff/tickets/{ticket_id}")
def ticket(request: Request, ticket_id: int, board: BoardDep, user: PageReader) -> Response:
    return _ticket_page(request, board, user, ticket_id)


def _department_of(board: Board, staff_id: str) -> str:
    """The dispatch form picks a person; their department follows from the config."""
    try:
        return board.estate.department_of(staff_id).id
    except KeyError:
        return ""


@router.post("/staff/tickets/{ticket_id}")
def act(request: Request, *, ticket_id: int, board: BoardDep, user: PageStaff, do: Text = "",
        note: Text = "", reason: Text = "", version: Text = "", assignee: Text = "",
        primary_id: Text = "", back: Text = "",
        photos: Annotated[list[UploadFile] | None, File()] = None) -> Response:
    values = {"note": note, "reason": reason, "version": version, "assignee": assignee,
              "department": _department_of(board, assignee), "primary_id": primary_id}

    def send() -> Detail:
        if do == "resolve":
            body = parse(NoteIn, values)
            return api.resolve(ticket_id=ticket_id, board=board, user=user, note=body.note,
                               photos=photos or [], version=body.version)
        if do not in ACTIONS:
            raise Problem.field(422, "validation", "do", f"no such action {do!r}")
        model, endpoint = ACTIONS[do]
        return endpoint(ticket_id, parse(model, values), board, user)

    done = attempt(send)
    if isinstance(done, Problem):
        return _ticket_page(request, board, user, ticket_id, problem=done, form={
            "do": do, "note": note, "reason": reason, "assignee": assignee,
            "primary_id": primary_id})
    if back == "queue":
        return see_other(f"/staff/queue?done={do}")
    return see_other(f"/staff/tickets/{done.id}?done={do}")
