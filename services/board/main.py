"""A board worker's app: `worker_app(settings, options, jobs)`, the factory that each
worker process calls at start (services.board.serve), with the settings and options that
`sunlight board` read once and passed on.

Each worker loads its estate and opens its pool here, at start, never at import (a pool
must not be shared across a fork).
"""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from services import logs
from services.board.app import JobsStarter, create_app
from services.board.media import MediaFiles
from services.config import BoardOptions, Settings, load_config
from services.runtime import when_database_answers
from services.store import open_pool
from services.store.media import known_paths

log = logging.getLogger(__name__)

POOL_SIZE = 16  # below uvicorn's 40 threads: handlers wait for a connection, not the server
# a handler waits this long for a connection, then answers 503 (the database is away, or
# every connection is busy): a client learns to retry instead of hanging on a dead socket
POOL_WAIT_S = 5.0


def worker_app(settings: Settings, options: BoardOptions, jobs: JobsStarter | None) \
        -> FastAPI:
    """The app of one worker; `jobs`: run the background jobs in it too."""
    logs.configure(settings.log_level)
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    estate = load_config(settings.config_path)
    url = settings.database_url
    pool = when_database_answers("connect", lambda: open_pool(
        url, max_size=POOL_SIZE, name="sunlight-board", wait_s=POOL_WAIT_S))
    sweep_media(pool, settings.data_dir)
    app = create_app(settings, estate, pool, options=options, close_pool=True, jobs=jobs)
    # What exists now (modules, routes, schemas, the estate) lives as long as the worker:
    # keep it out of the collector's full passes, each of which would otherwise walk it
    # all (tens of ms, every request on the worker waiting) to find nothing to free.
    gc.collect()
    gc.freeze()
    return app


def sweep_media(pool: ConnectionPool, data_dir: Path) -> None:
    """Remove the photos a board killed mid-upload wrote but never recorded (each worker
    may: files younger than any upload can take are left alone)."""

    def known(paths: list[str]) -> set[str]:
        with pool.connection() as conn:
            return known_paths(conn, paths)

    try:
        MediaFiles(data_dir).sweep(known, datetime.now(UTC))
    except Exception:  # a start must not fail over leftovers; they wait for the next one
        log.exception("event=media_sweep_failed data_dir=%s", data_dir)
