"""The edge outbox: order, bounds (oldest dropped first, counted), survival across reopen."""

from __future__ import annotations

import time
from pathlib import Path

from edge.outbox import Limits, Outbox


def test_messages_come_back_in_order_per_device_until_removed(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "q.sqlite")
    for i in range(5):
        box.put("a", "t/a", f"a{i}".encode())
        box.put("b", "t/b", f"b{i}".encode())
    first = box.peek("a", 3)
    assert [q.payload for q in first] == [b"a0", b"a1", b"a2"]
    box.remove([q.id for q in first[:2]])
    assert [q.payload for q in box.peek("a")] == [b"a2", b"a3", b"a4"]
    assert len(box) == 8


def test_queue_survives_a_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "q.sqlite")
    box.put("a", "t/a", b"kept")
    box.close()
    again = Outbox(tmp_path / "q.sqlite")
    assert [q.payload for q in again.peek("a")] == [b"kept"] and len(again) == 1


def test_full_queue_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "q.sqlite", Limits(max_messages=3))
    for i in range(5):
        box.put("a", "t/a", bytes([i]))
    assert [q.payload for q in box.peek("a")] == [b"\x02", b"\x03", b"\x04"]
    assert box.dropped() == {"full": 2}


def test_byte_bound_drops_the_oldest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "q.sqlite", Limits(max_bytes=1000))
    for _ in range(5):
        box.put("a", "t/a", b"x" * 300)
    assert len(box) == 3 and box.dropped() == {"bytes": 2}


def test_too_old_messages_expire_and_are_counted(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "q.sqlite", Limits(max_age_s=0.2))
    box.put("a", "t/a", b"old")
    time.sleep(0.3)
    box.put("a", "t/a", b"new")
    assert [q.payload for q in box.peek("a")] == [b"new"]
    assert box.dropped() == {"too_old": 1}
