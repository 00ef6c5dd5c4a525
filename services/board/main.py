"""The board's entry point for uvicorn: `uvicorn services.board.main:app_from_env --factory`.

Each worker process builds its own settings, estate and pool here, at start, never at
import (a pool must not be shared across a fork).
"""

from __future__ import annotations

from fastapi import FastAPI

from services import logs
from services.board.app import create_app
from services.board.options import BoardOptions
from services.config import load_config, load_settings
from services.store import open_pool

POOL_SIZE = 16  # below uvicorn's 40 threads: handlers wait for a connection, not the server
# a handler waits this long for a connection, then answers 503 (the database is away, or
# every connection is busy): a client learns to retry instead of hanging on a dead socket
POOL_WAIT_S = 5.0


def app_from_env() -> FastAPI:
    settings = load_settings()
    logs.configure(settings.log_level)
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    estate = load_config(settings.config_path)
    pool = open_pool(settings.database_url, max_size=POOL_SIZE, name="sunlight-board",
                     wait_s=POOL_WAIT_S)
    options = BoardOptions()
    return create_app(settings, estate, pool, options=options, close_pool=True,
                      scheduler=options.scheduler)
