"""Reads as data, so that one read (or a page's sequence of them) is written once and runs
on a psycopg connection or an async one.

A `Read` is a query, its parameters and how its rows become a value. A *plan* is a
generator that yields a `Read` and receives its value, or yields a tuple of reads that
do not depend on each other and receives the tuple of their values; it returns its
result: the page's logic with no I/O in it. `run` drives a plan on a connection (the
workflow, the CLI, the web pages); `run_async` drives the same plan on an async
connection (the board's hot API reads, which then hold no thread while PostgreSQL
answers), sending a tuple's reads in one round trip (psycopg's pipeline mode).
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


Step = Read[Any] | tuple[Read[Any], ...]
Plan = Generator[Step, Any, T]


def run(conn: psycopg.Connection[Any], plan: Plan[T]) -> T:
    """Drive `plan` on `conn`: each read it yields runs, and its value goes back in."""
    try:
        step = next(plan)
        while True:
            step = plan.send(tuple(read.run(conn) for read in step) if isinstance(step, tuple)
                             else step.run(conn))
    except StopIteration as done:
        result: T = done.value
        return result


async def run_async(conn: psycopg.AsyncConnection[Any], plan: Plan[T]) -> T:
    """`run` on an async connection, a tuple of reads in one round trip."""
    try:
        step = next(plan)
        while True:
            step = plan.send(await _together(conn, step) if isinstance(step, tuple)
                             else await step.run_async(conn))
    except StopIteration as done:
        result: T = done.value
        return result


async def _together(conn: psycopg.AsyncConnection[Any], reads: tuple[Read[Any], ...]) \
        -> tuple[Any, ...]:
    """Send every query, then read every result: one wait for PostgreSQL, not one each."""
    async with conn.pipeline():
        cursors = [conn.cursor(row_factory=read.rows) for read in reads]
        for cur, read in zip(cursors, reads, strict=True):
            await cur.execute(read.query, read.params)  # type: ignore[arg-type]
        values = tuple([read.build(await cur.fetchall())
                        for cur, read in zip(cursors, reads, strict=True)])
    for cur in cursors:
        await cur.close()
    return values
