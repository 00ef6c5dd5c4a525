"""Staff enter reports taken at the front desk, by phone or from the suggestion box,
through the staff API's own offline report (same checks, marked with the channel)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.board.context import Board
from services.board.deps import BoardDep
from services.board.pages.access import PageStaff, guard_form
from services.board.pages.errors import attempt
from services.board.pages.forms import parse, see_other, split_place
from services.board.pages.render import render
from services.board.problems import Problem
from services.board.routers import staff as api
from services.board.schemas import OfflineReportIn
from services.tickets import Channel, Priority

router = APIRouter(include_in_schema=False, dependencies=[Depends(guard_form)])
Text = Annotated[str, Form()]
CHANNELS = (Channel.FRONT_DESK, Channel.PHONE, Channel.SUGGESTION_BOX)


def _choices(board: Board) -> dict[str, Any]:
    return {"categories": board.estate.categories, "buildings": board.estate.buildings,
            "areas": board.estate.areas, "channels": CHANNELS, "priorities": list(Priority)}


@router.get("/staff/offline")
def offline_form(request: Request, board: BoardDep, _: PageStaff) -> Response:
    return render(request, "offline.html", **_choices(board), form={
        "channel": Channel.FRONT_DESK.value, "category": "", "place": "", "description": "",
        "priority": ""})


@router.post("/staff/offline")
def offline(request: Request, *, board: BoardDep, user: PageStaff, channel: Text = "",
            category: Text = "", place: Text = "", description: Text = "",
            priority: Text = "") -> Response:
    building, area = split_place(place)
    created = attempt(lambda: api.offline_report(parse(OfflineReportIn, {
        "channel": channel, "category": category, "building": building, "area": area,
        "description": description, "priority": priority}), board, user))
    if isinstance(created, Problem):
        return render(request, "offline.html", problem=created, **_choices(board), form={
            "channel": channel, "category": category, "place": place,
            "description": description, "priority": priority})
    done = "offline_linked" if created.linked else "offline"
    return see_other(f"/staff/tickets/{created.id}?done={done}")
