"""Signing in and out, joining with an invitation code, and the start page of each role.

The session is the API's own: its login and join set the HttpOnly cookie on the redirect.
A session of another estate's account counts as none here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.board.accounts import User
from services.board.deps import BoardDep, Token
from services.board.pages.access import PageUser, guard_form
from services.board.pages.errors import attempt
from services.board.pages.forms import local_path, parse, see_other
from services.board.pages.render import render
from services.board.problems import Problem
from services.board.routers import auth as api
from services.board.schemas import JoinIn, LoginIn
from services.tickets import Role

router = APIRouter(include_in_schema=False, dependencies=[Depends(guard_form)])
Text = Annotated[str, Form()]

HOMES = {Role.RESIDENT: "/reports", Role.STAFF: "/staff/queue", Role.MANAGER: "/manager",
         Role.AUDITOR: "/staff/tickets"}


def home_of(user: User | None) -> str:
    return HOMES.get(user.role, "/login") if user else "/login"


@router.get("/")
def home(user: PageUser) -> Response:
    return see_other(home_of(user))


@router.get("/login")
def login_page(request: Request, user: PageUser, next: str = "") -> Response:
    if user is not None:
        return see_other(local_path(next, home_of(user)))
    return render(request, "login.html", form={"login": ""}, next=next)


@router.post("/login")
def login(request: Request, board: BoardDep, login: Text = "", password: Text = "",
          next: Text = "") -> Response:
    # "/" sends each role to its own start page
    response = see_other(local_path(next, "/"))
    done = attempt(lambda: api.login(parse(LoginIn, {"login": login, "password": password}),
                                     request, board, response))
    if isinstance(done, Problem):
        return render(request, "login.html", problem=done, form={"login": login}, next=next)
    return response


@router.post("/logout")
def logout(request: Request, board: BoardDep, token: Token) -> Response:
    response = see_other("/login")
    api.logout(request, board, token, response)
    return response


@router.get("/join")
def join_page(request: Request, code: str = "") -> Response:
    return render(request, "join.html", form={"code": code, "login": "", "name": "",
                                              "phone": "", "unit": ""})


@router.post("/join")
def join(request: Request, *, board: BoardDep, code: Text = "", login: Text = "",
         password: Text = "", name: Text = "", phone: Text = "", unit: Text = "") -> Response:
    form = {"code": code, "login": login, "name": name, "phone": phone, "unit": unit}
    response = see_other("/report?done=joined")
    done = attempt(lambda: api.join(parse(JoinIn, {**form, "password": password}), request,
                                    board, response))
    if isinstance(done, Problem):  # the password is never sent back into the page
        return render(request, "join.html", problem=done, form=form)
    return response
