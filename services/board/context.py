"""What every request handler of one board app shares: settings, estate, pool, services."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from services.board.media import MediaFiles
from services.board.workflow import Workflow
from services.config import BoardOptions, EstateConfig, Settings
from services.store import TicketStore
from services.store.db import read_pool
from services.store.known_terms import MaskerCache

__all__ = ["AsyncReads", "Board"]

READ_POOL_SIZE = 8  # a read holds its connection for a few queries' time, never a thread


class AsyncReads:
    """The board's asyncio pool for the hot reads. It opens with the app (its lifespan) in
    the event loop that serves the requests, and closes with it."""

    def __init__(self, pool: ConnectionPool, name: str) -> None:
        self._sync = pool
        self._name = name
        self._pool: AsyncConnectionPool | None = None

    async def open(self) -> None:
        self._pool = read_pool(self._sync, max_size=READ_POOL_SIZE, name=self._name)
        await self._pool.open()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self._pool is None:
            raise RuntimeError("the board's read pool opens with the app: start it (uvicorn,"
                               " or `with TestClient(app)`) before serving requests")
        async with self._pool.connection() as conn:
            yield conn


@dataclass(frozen=True)
class Board:
    settings: Settings
    options: BoardOptions
    estate: EstateConfig
    pool: ConnectionPool
    reads: AsyncReads
    tickets: TicketStore
    files: MediaFiles
    workflow: Workflow
    clock: Callable[[], datetime]
    public_text: MaskerCache  # the public-text policy's masker for this estate

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

    def reading_async(self) -> contextlib.AbstractAsyncContextManager[
            psycopg.AsyncConnection[Any]]:
        """`reading` for async handlers: an autocommit connection that holds no thread."""
        return self.reads.connection()

    @property
    def secure_cookies(self) -> bool:
        return self.estate.site.public_url.startswith("https://")
