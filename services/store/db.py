"""Connections: one psycopg 3 pool per process."""

from __future__ import annotations

from psycopg_pool import ConnectionPool


def open_pool(url: str, *, min_size: int = 1, max_size: int = 10, name: str = "sunlight") \
        -> ConnectionPool:
    """A pool that is open and checked: a wrong URL fails here, not on first use."""
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        kwargs={"application_name": name},
    )
    pool.open(wait=True, timeout=30)
    return pool


def ping(pool: ConnectionPool, timeout: float = 5.0) -> None:
    """Raise unless the database answers within `timeout` seconds (health checks)."""
    with pool.connection(timeout=timeout) as conn:
        conn.execute("SELECT 1")
