"""Store-and-forward: a local SQLite queue of messages not yet acknowledged by the broker.

Bounded by count, bytes and age; when a bound is hit the oldest messages go first, and
every message dropped is counted (never silently). Messages leave the queue only after
the broker acknowledged them (QoS 1), so a crash of the agent loses nothing queued.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Queued:
    id: int
    device: str
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Limits:
    max_messages: int = 100_000
    max_bytes: int = 256 * 1024 * 1024
    max_age_s: float = 7 * 24 * 3600  # ingest refuses readings older than 7 days anyway


class Outbox:
    def __init__(self, path: Path | str, limits: Limits = Limits()) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " device TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL,"
            " size INTEGER NOT NULL, queued_at REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS outbox_device ON outbox (device, id)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dropped (reason TEXT PRIMARY KEY, count INTEGER NOT NULL)"
        )
        count, size = self._db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM outbox").fetchone()
        self._count, self._bytes = int(count), int(size)

    def put(self, device: str, topic: str, payload: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO outbox (device, topic, payload, size, queued_at)"
                " VALUES (?, ?, ?, ?, ?)", (device, topic, payload, len(payload), time.time()))
            self._count += 1
            self._bytes += len(payload)
            self._enforce()

    def peek(self, device: str, limit: int = 100) -> list[Queued]:
        with self._lock:
            self._expire()
            rows = self._db.execute(
                "SELECT id, device, topic, payload FROM outbox WHERE device = ?"
                " ORDER BY id LIMIT ?", (device, limit)).fetchall()
        return [Queued(*row) for row in rows]

    def remove(self, ids: list[int]) -> None:
        """Forget messages the broker has acknowledged."""
        if not ids:
            return
        with self._lock:
            marks = ",".join("?" * len(ids))
            removed = self._db.execute(
                f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING size", ids).fetchall()
            self._count -= len(removed)
            self._bytes -= sum(r[0] for r in removed)

    def dropped(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT reason, count FROM dropped").fetchall())

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _enforce(self) -> None:
        over_count = self._count - self._limits.max_messages
        if over_count > 0:
            self._drop_oldest(over_count, "full")
        while self._bytes > self._limits.max_bytes and self._count:
            self._drop_oldest(max(1, self._count // 100), "bytes")

    def _expire(self) -> None:
        cutoff = time.time() - self._limits.max_age_s
        removed = self._db.execute(
            "DELETE FROM outbox WHERE queued_at < ? RETURNING size", (cutoff,)).fetchall()
        self._account(removed, "too_old")

    def _drop_oldest(self, n: int, reason: str) -> None:
        removed = self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)"
            " RETURNING size", (n,)).fetchall()
        self._account(removed, reason)

    def _account(self, removed: list[tuple[int]], reason: str) -> None:
        if not removed:
            return
        self._count -= len(removed)
        self._bytes -= sum(r[0] for r in removed)
        self._db.execute(
            "INSERT INTO dropped (reason, count) VALUES (?, ?)"
            " ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
            (reason, len(removed)))
