"""What every request handler of one board app shares: settings, estate, pool, services."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from services.board.media import MediaFiles
from services.board.options import BoardOptions
from services.board.workflow import Workflow
from services.config import EstateConfig, Settings
from services.store import TicketStore

__all__ = ["Board"]


@dataclass(frozen=True)
class Board:
    settings: Settings
    options: BoardOptions
    estate: EstateConfig
    pool: ConnectionPool
    tickets: TicketStore
    files: MediaFiles
    workflow: Workflow
    clock: Callable[[], datetime]

    @property
    def site(self) -> str:
        return self.estate.site.id

    @contextlib.contextmanager
    def reading(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection for SELECTs only, in autocommit: no BEGIN and COMMIT round
        trips around a request's reads (each query sees the latest committed data)."""
        with self.pool.connection() as conn:
            conn.autocommit = True
            try:
                yield conn
            finally:
                try:
                    conn.autocommit = False  # the next user of the pool expects transactions
                except psycopg.Error:
                    conn.close()  # broken: the pool replaces a closed connection

    @property
    def secure_cookies(self) -> bool:
        return self.estate.site.public_url.startswith("https://")
