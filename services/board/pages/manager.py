"""The manager's overview: open tickets by department and state, the late ones, links to
the bulletin and the staff pages, and invitation codes per building (issued through the
manager API, so a code is shown once and stored hashed)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.board.accounts import User
from services.board.context import Board
from services.board.deps import BoardDep
from services.board.pages.access import PageManager, guard_form
from services.board.pages.errors import attempt
from services.board.pages.forms import parse
from services.board.pages.render import render
from services.board.problems import Problem
from services.board.routers import admin as api
from services.board.schemas import InvitationIn, InvitationOut
from services.store.overview import late_candidates, open_counts
from services.tickets import State
from services.tickets.deadlines import overdue

router = APIRouter(include_in_schema=False, dependencies=[Depends(guard_form)])
Text = Annotated[str, Form()]
OPEN_STATES = [s for s in State if s.is_open]


def _responsible(board: Board, department: str, category: str) -> str:
    """Until dispatched, a ticket is with its category's department."""
    if department:
        return department
    try:
        return board.estate.category(category).department
    except KeyError:
        return ""


def _overview(board: Board, user: User) -> dict[str, Any]:
    now = board.clock()
    with board.pool.connection() as conn:
        counts = open_counts(conn, board.site)
        candidates = late_candidates(conn, board.site, now)
    by_cell: Counter[tuple[str, State]] = Counter()
    late: Counter[str] = Counter()
    for row in counts:
        department = _responsible(board, row.department, row.category)
        by_cell[department, row.state] += row.tickets
        late[department] += row.breached
    # flagged by the scheduler, or missed and not flagged yet (the timer is about to fire,
    # or no scheduler runs): the domain decides which
    missed = []
    for t in candidates:
        new = [str(d.breach) for d in overdue(t, now)]
        department = _responsible(board, t.department, t.category)
        if new or t.breaches:
            missed.append((t, sorted({*(str(b) for b in t.breaches), *new}), department))
        if new and not t.breaches:
            late[department] += 1
    invitations: dict[str, list[InvitationOut]] = {}
    for invitation in api.invitations(board, user):
        invitations.setdefault(invitation.building, []).append(invitation)
    return {"states": OPEN_STATES, "departments": board.estate.departments,
            "cells": by_cell, "late_counts": late, "late": missed,
            "buildings": board.estate.buildings, "invitations": invitations}


@router.get("/manager")
def overview(request: Request, board: BoardDep, user: PageManager) -> Response:
    return render(request, "manager.html", **_overview(board, user), new=None,
                  form={"building": "", "uses": "50", "valid_days": "30"})


@router.post("/manager")
def issue(request: Request, *, board: BoardDep, user: PageManager, building: Text = "",
          uses: Text = "", valid_days: Text = "") -> Response:
    form = {"building": building, "uses": uses, "valid_days": valid_days}
    new = attempt(lambda: api.create_invitation(parse(InvitationIn, form), board, user))
    if isinstance(new, Problem):
        return render(request, "manager.html", **_overview(board, user), new=None,
                      problem=new, form=form)
    # answered here, not redirected: the code exists only in this response (as in the API)
    return render(request, "manager.html", **_overview(board, user), new=new, status=201,
                  form={"building": building, "uses": uses, "valid_days": valid_days})
