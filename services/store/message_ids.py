"""Message ids: a message is stored once per (device, message_id) for HORIZON after it
first arrived, whatever `sent_at` each copy carries.

Ids are claimed in the batch's own transaction, so a failed batch claims nothing, and a
second ingest instance claiming the same id waits for the first one's commit. Rows are
claimed where they are already staged for the COPY path (a temporary table): the ids go
to the server once, and only the rare copies come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

Key = tuple[str, str]  # (device_id, message_id)

# A copy is accepted while its sent_at is at most 7 days old (services.ingest.sorting), so
# an id must be remembered at least that long after it arrived; a day more for slack.
HORIZON = timedelta(days=8)
PRUNE_CHUNK = 10_000  # rows deleted per statement: short locks, small transactions

_CLAIM_STAGED = """
WITH fresh AS (
    INSERT INTO message_ids (device_id, message_id, seen_at)
    SELECT DISTINCT device_id, message_id, coalesce(%(at)s, now()) FROM {staged}
    ON CONFLICT DO NOTHING
    RETURNING device_id, message_id
)
DELETE FROM {staged} AS s
WHERE NOT EXISTS (SELECT FROM fresh f WHERE f.device_id = s.device_id COLLATE "C"
                                        AND f.message_id = s.message_id COLLATE "C")
RETURNING s.device_id, s.message_id
"""


def claim_staged(conn: psycopg.Connection[Any], staged: str, at: datetime | None) -> set[Key]:
    """Claim the ids of the rows in the temporary table `staged` (which has `device_id`
    and `message_id` columns) as seen at `at` (None: now); rows whose id was seen before
    are deleted from it, and their keys returned."""
    query = sql.SQL(_CLAIM_STAGED).format(staged=sql.Identifier(staged))
    return {(str(r[0]), str(r[1])) for r in conn.execute(query, {"at": at})}


def claim(conn: psycopg.Connection[Any], keys: Sequence[Key], at: datetime) -> set[Key]:
    """Record `keys` as seen at `at`; returns those not seen before."""
    if not keys:
        return set()
    rows = conn.execute(
        "INSERT INTO message_ids (device_id, message_id, seen_at)"
        " SELECT d, m, %s FROM unnest(%s::text[], %s::text[]) AS k(d, m)"
        " ON CONFLICT DO NOTHING RETURNING device_id, message_id",
        (at, [k[0] for k in keys], [k[1] for k in keys]),
    ).fetchall()
    return {(str(r[0]), str(r[1])) for r in rows}


def prune(conn: psycopg.Connection[Any], now: datetime, *, most: int = 10 * PRUNE_CHUNK) \
        -> int:
    """Forget ids older than the horizon, at most `most` of them; returns how many."""
    removed = 0
    while removed < most:
        cur = conn.execute(
            "DELETE FROM message_ids WHERE ctid = ANY (ARRAY("
            " SELECT ctid FROM message_ids WHERE seen_at < %s LIMIT %s))",
            (now - HORIZON, min(PRUNE_CHUNK, most - removed)),
        )
        removed += cur.rowcount
        if cur.rowcount < PRUNE_CHUNK:
            break
    return removed
