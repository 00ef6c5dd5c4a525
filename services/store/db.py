"""Connections: one psycopg 3 pool per process, built to ride out a database outage.

When PostgreSQL goes away (a restart, a failover, a network cut) every pooled connection
breaks at once. The pool then has to (1) notice a broken connection before handing it
out, (2) give up on a request quickly, so an HTTP client gets a clear 503 rather than a
hang, and (3) keep trying to reconnect often enough that the service is back within a
few seconds of the database, without anyone restarting it.
"""

from __future__ import annotations

import time
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

# The errors that mean "the database is away, try again later" rather than a bug: a refused
# or broken connection, a server shutting down, and the pool's own PoolTimeout (a subclass).
DATABASE_AWAY: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)
# how long a caller waits for a connection before PoolTimeout (an OperationalError)
WAIT_S = 10.0
# psycopg_pool retries a failed connection with doubling delays (1, 2, 4 … s) until this
# much time has passed, then gives up on that attempt and opens a fresh one on the next
# request (the first try of a fresh attempt has no delay). A short limit keeps the delay
# between the database's return and the first working connection short: with the default
# five minutes, a 30 s outage could leave the pool waiting ~30 s more for its next try.
RECONNECT_S = 8.0
OPEN_S = 30.0  # how long a starting service waits for its database
CONNECT_TIMEOUT_S = 5  # a host that does not answer at all must not hold a caller long
# A connection back in the pool for less than this is handed out again unchecked: a server
# restart takes longer, and a connection that broke while in use is discarded on return.
CHECK_AFTER_IDLE_S = 1.0


class _Returned:
    """When each connection last came back to its pool (the pools' check skips a connection
    that was in use a moment ago: the check is a round trip, as long as a small query)."""

    def __init__(self) -> None:
        self._at: WeakKeyDictionary[Any, float] = WeakKeyDictionary()

    def stamp(self, conn: Any) -> None:
        self._at[conn] = time.monotonic()

    def idle(self, conn: Any) -> bool:
        return time.monotonic() - self._at.get(conn, 0.0) >= CHECK_AFTER_IDLE_S


class _Pool(ConnectionPool):
    """A pool that tests a connection before handing it out when it has been idle for
    CHECK_AFTER_IDLE_S, so a request after an outage does not fail on a dead one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._returned = _Returned()
        super().__init__(*args, check=self._check_if_idle, **kwargs)

    def putconn(self, conn: psycopg.Connection[Any]) -> None:
        self._returned.stamp(conn)
        super().putconn(conn)

    def _check_if_idle(self, conn: psycopg.Connection[Any]) -> None:
        if self._returned.idle(conn):
            ConnectionPool.check_connection(conn)


class _AsyncPool(AsyncConnectionPool):
    """`_Pool` for asyncio."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._returned = _Returned()
        super().__init__(*args, check=self._check_if_idle, **kwargs)

    async def putconn(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._returned.stamp(conn)
        await super().putconn(conn)

    async def _check_if_idle(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._returned.idle(conn):
            await AsyncConnectionPool.check_connection(conn)


# keepalives: a connection to a host that vanished (no RST) is found dead within ~20 s
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
               "keepalives_count": 2}


def open_pool(url: str, *, min_size: int = 1, max_size: int = 10, name: str = "sunlight",
              wait_s: float = WAIT_S) -> ConnectionPool:
    """A pool that is open and checked: a wrong URL fails here, not on first use.

    `wait_s`: how long `pool.connection()` waits for a connection before it raises
    `PoolTimeout` (the board keeps it short, to answer 503 quickly during an outage).
    """
    pool = _Pool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        timeout=wait_s,
        reconnect_timeout=RECONNECT_S,
        kwargs={"application_name": name, "connect_timeout": CONNECT_TIMEOUT_S, **_KEEPALIVES},
    )
    pool.open(wait=False)
    # Wait for a first connection. Each request starts a fresh connection attempt when the
    # last one gave up (after RECONNECT_S), so ask again and again rather than once.
    deadline = time.monotonic() + OPEN_S
    while True:
        try:
            with pool.connection(timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
                return pool
        except PoolTimeout:
            if time.monotonic() >= deadline:
                pool.close()
                raise


def read_pool(pool: ConnectionPool, *, max_size: int, name: str) -> AsyncConnectionPool:
    """An asyncio pool to the database of `pool`, for reads only: its connections are in
    autocommit (no BEGIN and COMMIT round trips around SELECTs). Not open yet: open it in
    the event loop that will use it (`await read_pool.open()`)."""
    kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
    return _AsyncPool(pool.conninfo, min_size=1, max_size=max_size, name=name, open=False,
                      timeout=pool.timeout, reconnect_timeout=RECONNECT_S,
                      kwargs={**kwargs, "application_name": name, "autocommit": True})


def ping(pool: ConnectionPool, timeout: float = 5.0) -> None:
    """Raise unless the database answers within `timeout` seconds (health checks)."""
    with pool.connection(timeout=timeout) as conn:
        conn.execute("SELECT 1")


def ensure_database(admin_url: str, name: str, *, connect_timeout: int) -> bool:
    """Create the database `name` through the server's `admin_url` unless it exists; True
    when this call created it. psycopg.Error when the server cannot do it."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=connect_timeout) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:  # created meanwhile by another process
            return False
        return True
