"""Reads as data, so that one read (or a page's sequence of them) is written once and runs
on a psycopg connection or an async one.

A `Read` is a query, its parameters and how its rows become a value. A *plan* is a
generator that yields `Read`s and receives each one's value, then returns its result:
the page's logic with no I/O in it. `run` drives a plan on a connection (the workflow,
the CLI, the web pages); `run_async` drives the same plan on an async connection (the
board's hot API reads, which then hold no thread while PostgreSQL answers).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import RowFactory, tuple_row

__all__ = ["Plan", "Read", "run", "run_async"]

T = TypeVar("T")
Plan = Generator["Read[Any]", Any, T]
Query = str | bytes | sql.Composable


@dataclass(frozen=True)
class Read(Generic[T]):
    """One SELECT: `build` turns its rows (made by `rows`) into the value."""

    query: Query
    params: tuple[Any, ...] | list[Any] | dict[str, Any]
    build: Callable[[list[Any]], T]
    rows: RowFactory[Any] = tuple_row

    def run(self, conn: psycopg.Connection[Any]) -> T:
        with conn.cursor(row_factory=self.rows) as cur:
            cur.execute(self.query, self.params)  # type: ignore[arg-type]
            return self.build(cur.fetchall())

    async def run_async(self, conn: psycopg.AsyncConnection[Any]) -> T:
        async with conn.cursor(row_factory=self.rows) as cur:
            await cur.execute(self.query, self.params)  # type: ignore[arg-type]
            return self.build(await cur.fetchall())


def run(conn: psycopg.Connection[Any], plan: Plan[T]) -> T:
    """Drive `plan` on `conn`: each read it yields runs, and its value goes back in."""
    try:
        read = next(plan)
        while True:
            read = plan.send(read.run(conn))
    except StopIteration as done:
        result: T = done.value
        return result


async def run_async(conn: psycopg.AsyncConnection[Any], plan: Plan[T]) -> T:
    """`run` on an async connection."""
    try:
        read = next(plan)
        while True:
            read = plan.send(await read.run_async(conn))
    except StopIteration as done:
        result: T = done.value
        return result
