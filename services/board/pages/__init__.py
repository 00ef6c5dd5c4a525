"""Server-rendered pages for phones, Chinese first (?lang=en switches): residents report
and follow their reports, staff confirm and handle tickets, the manager sees the whole.

Pages are a second face of the JSON API: forms call the routers' own functions, so every
rule (roles, lifecycle, uploads, rate limits, privacy) is the API's. Forms work without
JavaScript (POST, then a redirect); a problem is shown on the page, in words.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.board.pages import (
    auth,
    bulletin_review,
    errors,
    manager,
    offline,
    resident,
    staff,
)

__all__ = ["install"]


def install(app: FastAPI) -> None:
    errors.install(app)
    for module in (auth, resident, staff, offline, manager, bulletin_review):
        app.include_router(module.router)
