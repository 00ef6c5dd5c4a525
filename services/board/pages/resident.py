"""A resident's pages: the report form, my reports, and one report with what they can do
now (add information when asked, rate after resolution, reopen once).

Each form calls the resident API's own functions (services.board.routers.reports), so the
rate limit, the upload checks and the lifecycle apply exactly as they do to the app.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from services.board.accounts import User
from services.board.context import Board
from services.board.deps import BoardDep
from services.board.pages.access import PageResident, guard_form
from services.board.pages.errors import attempt, shown_as_page
from services.board.pages.forms import parse, see_other, split_place
from services.board.pages.render import render
from services.board.problems import Problem
from services.board.routers import reports as api
from services.board.schemas import In, NoteIn, RatingIn, ReopenIn, Required, Short
from services.board.schemas import TicketDetail as Detail
from services.tickets import Channel

router = APIRouter(include_in_schema=False, dependencies=[Depends(guard_form)])
Text = Annotated[str, Form()]
Files = Annotated[list[UploadFile] | None, File()]


class ReportForm(In):
    """The report form's fields, typed as the API's report fields are."""

    category: Short
    building: Short | None = None
    area: Short
    description: Required


def _choices(board: Board, user: User) -> dict[str, Any]:
    """Categories and places from the estate config; the resident's own building first."""
    buildings = sorted(board.estate.buildings, key=lambda b: b.id != user.building)
    return {"categories": board.estate.categories, "buildings": buildings,
            "areas": board.estate.areas}


@router.get("/report")
def report_form(request: Request, board: BoardDep, user: PageResident) -> Response:
    return render(request, "report.html", form={"category": "", "place": "", "description": ""},
                  **_choices(board, user))


@router.post("/report")
def report(request: Request, *, board: BoardDep, user: PageResident, category: Text = "",
           place: Text = "", description: Text = "", media: Files = None) -> Response:
    building, area = split_place(place)

    def send() -> Any:
        form = parse(ReportForm, {"category": category, "building": building, "area": area,
                                  "description": description})
        return api.file_resident_report(
            board, user, category=form.category, building=form.building, area=form.area,
            description=form.description, media=media or [], channel=Channel.WEB)

    opened = attempt(send)
    if isinstance(opened, Problem):  # photos must be picked again: browsers never refill them
        return render(request, "report.html", problem=opened, **_choices(board, user),
                      form={"category": category, "place": place, "description": description})
    return see_other(f"/reports/{opened.ticket.id}?done="
                     + ("reported" if opened.created else "linked"))


@router.get("/reports")
def my_reports(request: Request, board: BoardDep, user: PageResident,
               before: Annotated[int | None, Query(gt=0)] = None) -> Response:
    page = api.my_reports(board, user, before=before, limit=20)
    return render(request, "reports.html", page=page)


def _report_page(request: Request, detail: Detail, *, problem: Problem | None = None,
                 form: dict[str, str] | None = None) -> Response:
    return render(request, "my_report.html", t=detail, problem=problem,
                  form=form or {"note": "", "comment": "", "reason": "", "rating": ""})


@router.get("/reports/{ticket_id}")
def my_report(request: Request, ticket_id: int, board: BoardDep, user: PageResident) \
        -> Response:
    with shown_as_page():  # someone else's report is a 404 page, as in the API
        detail = api.my_report(ticket_id, board, user)
    return _report_page(request, detail)


@router.post("/reports/{ticket_id}")
def act(request: Request, *, ticket_id: int, board: BoardDep, user: PageResident, do: Text = "",
        note: Text = "", rating: Text = "", comment: Text = "", reason: Text = "",
        version: Text = "", media: Files = None) -> Response:
    def send() -> Detail:
        if do == "provide_info":
            body = parse(NoteIn, {"note": note, "version": version})
            return api.provide_info(ticket_id=ticket_id, board=board, user=user, note=body.note,
                                    version=body.version, media=media)
        if do == "rate":
            return api.rate(ticket_id, parse(RatingIn, {
                "rating": rating, "comment": comment, "version": version}), board, user)
        if do == "reopen":
            return api.reopen(ticket_id, parse(ReopenIn, {"reason": reason, "version": version}),
                              board, user)
        raise Problem.field(422, "validation", "do", f"no such action {do!r}")

    done = attempt(send)
    if isinstance(done, Problem):
        with shown_as_page():
            detail = api.my_report(ticket_id, board, user)
        return _report_page(request, detail, problem=done, form={
            "note": note, "comment": comment, "reason": reason, "rating": rating})
    return see_other(f"/reports/{ticket_id}?done={do}")
