"""The crops of camera findings, and the staff verdicts on them (for retraining)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Example:
    finding_key: str
    camera_id: str
    rule: str
    label: str
    crop_path: str
    box: Box
    created_at: datetime


@dataclass(frozen=True)
class Decided:
    """An example whose ticket staff confirmed (`confirmed`) or rejected, with the reason."""

    example: Example
    confirmed: bool
    reason: str
    decided_at: datetime


def record_example(conn: Any, example: Example) -> bool:
    """Keep the crop of a finding (once: a redelivered start changes nothing)."""
    cur = conn.execute(
        "INSERT INTO vision_examples (finding_key, camera_id, rule, label, crop_path, box,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (example.finding_key, example.camera_id, example.rule, example.label,
         example.crop_path, list(example.box), example.created_at),
    )
    return bool(cur.rowcount)


@dataclass(frozen=True)
class _Row:
    finding_key: str
    camera_id: str
    rule: str
    label: str
    crop_path: str
    box: list[float]
    created_at: datetime
    action: str
    note: str
    at: datetime


def decided_examples(conn: Any) -> list[Decided]:
    """Every example whose finding staff confirmed or rejected, oldest first. The verdict
    is the action that took the ticket out of `pending_confirmation`."""
    with conn.cursor(row_factory=class_row(_Row)) as cur:
        rows = cur.execute(
            "SELECT e.finding_key, e.camera_id, e.rule, e.label, e.crop_path, e.box,"
            " e.created_at, h.action, h.note, h.at"
            " FROM vision_examples e"
            " JOIN tickets t ON t.finding_key = e.finding_key"
            " JOIN LATERAL (SELECT action, note, at FROM ticket_history"
            "   WHERE ticket_id = t.id AND from_state = 'pending_confirmation'"
            "     AND action IN ('confirm', 'reject') ORDER BY seq LIMIT 1) h ON true"
            " ORDER BY e.created_at, e.finding_key"
        ).fetchall()
    return [
        Decided(
            Example(r.finding_key, r.camera_id, r.rule, r.label, r.crop_path,
                    (r.box[0], r.box[1], r.box[2], r.box[3]), r.created_at),
            confirmed=r.action == "confirm", reason=r.note, decided_at=r.at,
        )
        for r in rows
    ]
