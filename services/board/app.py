"""The board's FastAPI app: `create_app(settings, estate, pool)`.

Nothing is read at import: the caller (main, a test) builds the settings, loads the
estate and opens the pool, and the app shares them through one `Board` in `app.state`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from services.board import pages, problems
from services.board.audit import ClientAddress
from services.board.context import AsyncReads, Board
from services.board.media import MediaFiles
from services.board.middleware import BodyLimit, SecurityHeaders, UnstorableText
from services.board.routers import (
    admin,
    auth,
    bulletin,
    bulletin_review,
    media,
    meta,
    open311,
    reports,
    staff,
)
from services.board.workflow import Workflow
from services.config import BoardOptions, EstateConfig, Settings
from services.store import TicketStore
from services.store.known_terms import MaskerCache
from services.tickets.public_text import KnownTerms

__all__ = ["JobsStarter", "RunningJobs", "create_app"]

DESCRIPTION = """
Resident reports, the staff workflow and Open311 GeoReport v2 for one estate
(阳光曝光台). Sign in with `POST /api/auth/login`: the response sets an HttpOnly session
cookie and returns the same token for `Authorization: Bearer`. Every error is an RFC 9457
problem (`application/problem+json`); `GET /problems/{type}` explains each type.
"""


class RunningJobs(Protocol):
    def stop(self) -> None: ...


# starts the background jobs (services.jobs.scheduler.start_scheduler, with its MQTT URL
# bound by whoever composes the board: the board itself does not import the jobs)
JobsStarter = Callable[[Settings, EstateConfig, ConnectionPool], RunningJobs]


def _version() -> str:
    try:
        return version("sunlight")
    except PackageNotFoundError:
        return "dev"


def create_app(settings: Settings, estate: EstateConfig, pool: ConnectionPool, *,
               options: BoardOptions | None = None,
               clock: Callable[[], datetime] | None = None,
               close_pool: bool = False, jobs: JobsStarter | None = None) -> FastAPI:
    """The app for one estate; `close_pool` hands the pool's lifetime to the app.

    `jobs`: run the SLA timers, notifications and the weekly bulletin in this worker while
    the app runs (each worker may; the database keeps every job to one effect)."""
    options = options or BoardOptions()
    clock = clock or (lambda: datetime.now(UTC))
    tickets = TicketStore(pool)
    files = MediaFiles(settings.data_dir)
    board = Board(settings=settings, options=options, estate=estate, pool=pool,
                  reads=AsyncReads(pool, f"{pool.name}-reads"), tickets=tickets, files=files,
                  workflow=Workflow(pool, tickets, files, clock), clock=clock,
                  public_text=MaskerCache(estate.site.id,
                                          KnownTerms(names=estate.staff_names()), pool=pool))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        handle: RunningJobs | None = None
        await board.reads.open()
        await asyncio.to_thread(board.public_text.warm)  # not in the first request
        if jobs is not None:
            handle = jobs(settings, estate, pool)
        try:
            yield
        finally:
            if handle is not None:
                handle.stop()  # before the pool it uses closes
            await board.reads.close()
            if close_pool:
                pool.close()

    app = FastAPI(title=f"Sunlight board — {estate.site.name}", version=_version(),
                  description=DESCRIPTION, lifespan=lifespan, docs_url="/docs",
                  openapi_url="/openapi.json")
    app.state.board = board
    problems.install(app)
    for module in (auth, reports, staff, media, open311, admin, meta, bulletin,
                   bulletin_review):
        app.include_router(module.router, responses=problems.RESPONSES)
    pages.install(app)  # the web pages for phones, over the same functions
    app.add_middleware(UnstorableText)  # NUL or a lone surrogate: 422, not a 500
    app.add_middleware(BodyLimit, max_bytes=options.body_max_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ClientAddress)  # the audit log names where a change came from
    return app
