"""The bulletin's figures, computed in SQL, and the published bulletins (append-only).

A week's bulletin describes the tickets as they stood at the end of the week (the
cut-off), read from the append-only history, so that its figures can be recomputed at
any later time and come out the same. It reads `public_tickets` (no personal data) and
only the state, time and staff fields of the history, never who a resident is. The
definitions are in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, LiteralString, cast

from psycopg import ClientCursor, Connection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.store.timescale import Capabilities
from services.tickets.bulletin_model import Document
from services.tickets.commitments import (
    Opening,
    document_format,
    openings,
    sealed_form,
    with_openings,
)

Conn = Connection[Any]

# The week's tickets as of the cut-off, into a temporary table the figures are read from.
# Candidates: opened in the week, or opened before it and possibly still open at its
# start (not done now, or changed since the start); the history then decides. The state
# sets are migration 0017's functions (services/tickets/states.py).
_ROWS: LiteralString = """
CREATE TEMP TABLE bulletin_rows ON COMMIT DROP AS
WITH candidates AS (
    SELECT * FROM public_tickets
    WHERE site = %(site)s AND opened_at < %(end)s
      AND (opened_at >= %(start)s
           OR ticket_is_open(state)
           OR updated_at >= %(start)s)
)
SELECT c.id, c.category, c.priority, c.source, c.channel, c.description, c.building,
       c.area, c.asset, c.opened_at, c.respond_due_at, c.resolve_due_at,
       c.extra_reporters, c.opened_at >= %(start)s AS opened_in_week,
       e.state, e.responded_at, e.department, e.assignee, e.rating, e.breaches,
       CASE WHEN ticket_is_fixed(e.state) THEN e.resolved_at END AS resolved_at,
       CASE WHEN ticket_is_fixed(e.state) THEN e.measures ELSE '' END AS measures,
       CASE WHEN ticket_is_declined(e.state) THEN e.reason ELSE '' END AS reason
FROM candidates c
CROSS JOIN LATERAL (
    SELECT (array_agg(h.to_state ORDER BY h.seq DESC))[1] AS state,
           min(h.at) FILTER (WHERE h.action IN ('accept', 'reject', 'mark_unresolvable'))
               AS responded_at,
           max(h.at) FILTER (WHERE h.action = 'resolve') AS resolved_at,
           (array_agg(h.note ORDER BY h.seq DESC) FILTER (WHERE h.action = 'resolve'))[1]
               AS measures,
           (array_agg(h.note ORDER BY h.seq DESC)
               FILTER (WHERE h.action IN ('reject', 'mark_unresolvable')))[1] AS reason,
           (array_agg(h.data ->> 'department' ORDER BY h.seq DESC)
               FILTER (WHERE h.action IN ('dispatch', 'reassign')))[1] AS department,
           (array_agg(h.data ->> 'assignee' ORDER BY h.seq DESC)
               FILTER (WHERE h.action IN ('dispatch', 'reassign')))[1] AS assignee,
           ((array_agg(h.data ->> 'rating' ORDER BY h.seq DESC)
               FILTER (WHERE h.action = 'rate'))[1])::int AS rating,
           coalesce(array_agg(DISTINCT h.data ->> 'breach')
               FILTER (WHERE h.action = 'flag_breach'), '{}') AS breaches
    FROM ticket_history h
    WHERE h.ticket_id = c.id AND h.at < %(end)s
) e
LEFT JOIN LATERAL (
    SELECT h.to_state AS state FROM ticket_history h
    WHERE h.ticket_id = c.id AND h.at < %(start)s ORDER BY h.seq DESC LIMIT 1
) s ON true
WHERE c.opened_at >= %(start)s
   OR ticket_is_open(s.state)
"""

# Per row: time to fix, and whether each deadline was met, missed, or is still running.
_JUDGED: LiteralString = """
CREATE TEMP TABLE bulletin_judged ON COMMIT DROP AS
SELECT r.*,
       extract(epoch FROM r.resolved_at - r.opened_at) AS ttf_s,
       CASE WHEN r.responded_at IS NOT NULL
                THEN CASE WHEN r.responded_at <= r.respond_due_at
                          AND NOT 'respond' = ANY (r.breaches) THEN 'met' ELSE 'breached' END
            WHEN r.respond_due_at < %(end)s THEN 'breached'
            ELSE 'running' END AS sla_response,
       CASE WHEN ticket_is_declined(r.state) THEN 'n/a'
            WHEN r.resolved_at IS NOT NULL
                THEN CASE WHEN r.resolved_at <= r.resolve_due_at
                          AND NOT 'resolve' = ANY (r.breaches) THEN 'met' ELSE 'breached' END
            WHEN r.resolve_due_at < %(end)s THEN 'breached'
            ELSE 'running' END AS sla_resolution
FROM bulletin_rows r
"""

_LIST: LiteralString = """
SELECT id, category, priority, source, channel, description, building, area, asset,
       opened_at, opened_in_week, state, responded_at, resolved_at, measures, reason,
       department, assignee, rating, extra_reporters, ttf_s, sla_response, sla_resolution
FROM bulletin_judged ORDER BY id
"""

_SUMMARY: LiteralString = """
SELECT count(*) AS listed,
       count(*) FILTER (WHERE opened_in_week) AS opened,
       count(*) FILTER (WHERE opened_in_week AND source IN ('camera', 'sensor'))
           AS opened_by_machines,
       count(*) FILTER (WHERE opened_in_week AND source IN ('resident', 'staff'))
           AS opened_by_people,
       count(*) FILTER (WHERE resolved_at >= %(start)s) AS resolved_in_week,
       count(*) FILTER (WHERE sla_response = 'met') AS response_met,
       count(*) FILTER (WHERE sla_response = 'breached') AS response_breached,
       count(*) FILTER (WHERE sla_resolution = 'met') AS resolution_met,
       count(*) FILTER (WHERE sla_resolution = 'breached') AS resolution_breached,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ttf_s)
           FILTER (WHERE resolved_at >= %(start)s) AS ttf_median_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY ttf_s)
           FILTER (WHERE resolved_at >= %(start)s) AS ttf_p90_s,
       avg(rating)::float AS satisfaction_average,
       count(rating) AS ratings
FROM bulletin_judged
"""

_BY_CATEGORY: LiteralString = """
SELECT category, count(*) AS listed,
       count(*) FILTER (WHERE opened_in_week) AS opened,
       count(*) FILTER (WHERE resolved_at >= %(start)s) AS resolved_in_week,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ttf_s)
           FILTER (WHERE resolved_at >= %(start)s) AS ttf_median_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY ttf_s)
           FILTER (WHERE resolved_at >= %(start)s) AS ttf_p90_s
FROM bulletin_judged GROUP BY category ORDER BY category
"""

_DEPARTMENTS: LiteralString = """
SELECT department, count(*) AS handled,
       count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
       count(*) FILTER (WHERE sla_resolution = 'met') AS resolution_met,
       count(*) FILTER (WHERE sla_resolution = 'breached') AS resolution_breached,
       count(*) FILTER (WHERE sla_response = 'met') AS response_met,
       count(*) FILTER (WHERE sla_response = 'breached') AS response_breached,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ttf_s)
           FILTER (WHERE resolved_at >= %(start)s) AS ttf_median_s,
       avg(rating)::float AS satisfaction_average
FROM bulletin_judged WHERE department IS NOT NULL AND department <> ''
GROUP BY department
"""

# The same place or asset with `hot_count` or more tickets opened in the 4 weeks up to
# the cut-off (rejected ones are not problems and do not count).
_HOT_SPOTS: LiteralString = """
SELECT 'asset' AS kind, asset AS place, NULL AS building, NULL AS area,
       count(*) AS tickets, array_agg(id ORDER BY id) AS numbers,
       array_agg(DISTINCT category) AS categories
FROM public_tickets
WHERE site = %(site)s AND opened_at >= %(since)s AND opened_at < %(end)s
  AND asset IS NOT NULL AND asset <> '' AND state <> 'rejected'
GROUP BY asset HAVING count(*) >= %(hot_count)s
UNION ALL
SELECT 'place', coalesce(building, '') || '/' || area, building, area,
       count(*), array_agg(id ORDER BY id), array_agg(DISTINCT category)
FROM public_tickets
WHERE site = %(site)s AND opened_at >= %(since)s AND opened_at < %(end)s
  AND (asset IS NULL OR asset = '') AND state <> 'rejected'
GROUP BY building, area HAVING count(*) >= %(hot_count)s
ORDER BY 5 DESC, 2
"""

_RATINGS: LiteralString = """
SELECT rating, count(*) AS n FROM bulletin_judged WHERE rating IS NOT NULL
GROUP BY rating ORDER BY rating
"""

_STATUS: LiteralString = """
SELECT state, count(*) AS n FROM bulletin_judged GROUP BY state ORDER BY state
"""

_SOURCES: LiteralString = """
SELECT source, count(*) AS n FROM bulletin_judged WHERE opened_in_week
GROUP BY source ORDER BY source
"""


@dataclass(frozen=True)
class Week:
    site: str
    start: datetime
    end: datetime  # the cut-off: the bulletin describes the tickets as they stood here


def _all(conn: Conn, sql: LiteralString, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(sql, params).fetchall())


def week_figures(conn: Conn, week: Week, caps: Capabilities, *, trend_weeks: int = 8,
                 hot_count: int = 3) -> dict[str, Any]:
    """The rows and figures of one week, in one transaction (raw SQL results; the
    bulletin module shapes them into the document)."""
    params = {"site": week.site, "start": week.start, "end": week.end,
              "since": week.end - timedelta(weeks=4), "hot_count": hot_count}
    with conn.transaction():
        # utility statements take no server-side parameters: bind these on the client
        with ClientCursor(conn) as cur:
            cur.execute(_ROWS, params)
            cur.execute(_JUDGED, params)
        figures = {
            "rows": _all(conn, _LIST, params),
            "summary": _all(conn, _SUMMARY, params)[0],
            "by_category": _all(conn, _BY_CATEGORY, params),
            "by_status": _all(conn, _STATUS, params),
            "by_source": _all(conn, _SOURCES, params),
            "departments": _all(conn, _DEPARTMENTS, params),
            "ratings": _all(conn, _RATINGS, params),
            "hot_spots": _all(conn, _HOT_SPOTS, params),
            "trend": weekly_trend(conn, week, caps, trend_weeks),
        }
        # dropped now, not at commit: the caller may compute another week in its transaction
        conn.execute("DROP TABLE bulletin_judged, bulletin_rows")
    return figures


def weekly_trend(conn: Conn, week: Week, caps: Capabilities, weeks: int) -> list[dict[str, Any]]:
    """Tickets opened per week for the `weeks` weeks up to the cut-off, by source kind,
    bucketed on the estate's Monday midnight (time_bucket on TimescaleDB)."""
    bucket = caps.bucket_sql("width", "opened_at - %(shift)s::interval")
    since = week.end - timedelta(weeks=weeks)
    # buckets start on Mondays 00:00 UTC; shift by the cut-off's offset from that
    shift = week.end.utcoffset() or timedelta(0)
    query = (
        f"SELECT {bucket} + %(shift)s::interval AS week_start, count(*) AS opened,"
        " count(*) FILTER (WHERE source IN ('camera', 'sensor')) AS by_machines"
        " FROM public_tickets WHERE site = %(site)s"
        " AND opened_at >= %(since)s AND opened_at < %(end)s"
        " GROUP BY 1 ORDER BY 1"
    )
    rows = _all(conn, query, {"width": timedelta(weeks=1), "shift": -shift, "site": week.site,
                              "since": since, "end": week.end})
    return rows


# --- publications ---------------------------------------------------------------------


def lock_site(conn: Conn, site: str) -> None:
    """Serialise publishing per site (the scheduler may run on several workers)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('bulletin/' || %s))", (site,))


def _served(conn: Conn, site: str, documents: list[Document]) -> list[Document]:
    """Format 2 documents with the openings still kept (a redacted field has none)."""
    numbers = [d["n"] for d in documents if document_format(d) >= 2]
    if not numbers:
        return documents
    found: dict[int, dict[str, Opening]] = {}
    for n, field, salt, text in conn.execute(
            "SELECT n, field, salt, text FROM bulletin_texts WHERE site = %s AND n = ANY(%s)",
            (site, numbers)).fetchall():
        found.setdefault(n, {})[field] = Opening(salt, text)
    return [cast(Document, with_openings(d, found.get(d["n"], {})))
            if document_format(d) >= 2 else d for d in documents]


def chain(conn: Conn, site: str) -> list[Document]:
    """Every publication of the site, in order, as served."""
    rows = conn.execute("SELECT document FROM bulletins WHERE site = %s ORDER BY n",
                        (site,)).fetchall()
    return _served(conn, site, [row[0] for row in rows])  # as published (jsonb)


def published_week(conn: Conn, site: str, week: str) -> list[Document]:
    """The week's revisions, in order, as served."""
    rows = conn.execute("SELECT document FROM bulletins WHERE site = %s AND week = %s"
                        " ORDER BY revision", (site, week)).fetchall()
    return _served(conn, site, [row[0] for row in rows])  # as published (jsonb)


def insert(conn: Conn, document: Document) -> None:
    """Store a sealed publication: format 2 keeps only digests in the append-only table,
    the openings apart (so that a redaction can delete them)."""
    stored = sealed_form(document) if document_format(document) >= 2 else document
    conn.execute(
        "INSERT INTO bulletins (site, n, week, revision, hash, prev_hash, published_at,"
        " document) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (document["site"], document["n"], document["week"], document["revision"],
         document["hash"], document["prev_hash"], document["published_at"],
         Jsonb(stored)),
    )
    texts = openings(document) if document_format(document) >= 2 else {}
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO bulletin_texts (site, n, field, salt, text) VALUES (%s, %s, %s, %s, %s)",
            [(document["site"], document["n"], name, o.salt, o.text)
             for name, o in texts.items()])


def withhold(conn: Conn, site: str, week: str, fields: Sequence[str]) -> int:
    """Delete the text of these fields from every publication of the week (a redaction);
    the number of texts deleted."""
    cur = conn.execute(
        "DELETE FROM bulletin_texts t USING bulletins b WHERE b.site = %s AND b.week = %s"
        " AND t.site = b.site AND t.n = b.n AND t.field = ANY(%s)",
        (site, week, list(fields)))
    return int(cur.rowcount)


def opened_numbers(conn: Conn, week: Week) -> Sequence[int]:
    """The tickets the store says were opened in the week (for `verify` with a database)."""
    rows = conn.execute("SELECT id FROM tickets WHERE site = %s AND opened_at >= %s"
                        " AND opened_at < %s ORDER BY id",
                        (week.site, week.start, week.end)).fetchall()
    return [int(r[0]) for r in rows]
