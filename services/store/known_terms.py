"""What the estate's records know about people, for the public-text policy to mask: the
names, phones and units of everyone with an account of the estate (or unbound), and of
everyone who reported one of its tickets. The masker built from them is cached per board
for a short while (`MaskerCache`): a name registered a minute ago may be missed by an
exact match for that long, never by the patterns."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from services.store.reads import Plan, Read, run
from services.tickets.public_text import KnownTerms, Masker

__all__ = ["MaskerCache", "known_terms", "known_terms_read"]

REFRESH_S = 30.0
log = logging.getLogger(__name__)

_PEOPLE = """
SELECT p.display_name, p.phone, p.unit FROM people p
WHERE p.id IN (SELECT person_id FROM accounts WHERE site IS NULL OR site = %(site)s)
   OR p.id IN (SELECT reporter_id FROM tickets WHERE site = %(site)s)
   OR p.id IN (SELECT r.reporter_id FROM ticket_reports r JOIN tickets t ON t.id = r.ticket_id
               WHERE t.site = %(site)s)
"""


def _terms(rows: list[tuple[Any, ...]]) -> KnownTerms:
    def present(i: int) -> frozenset[str]:
        return frozenset(str(r[i]).strip() for r in rows if r[i] and str(r[i]).strip())

    return KnownTerms(names=present(0), phones=present(1), units=present(2))


def known_terms_read(site: str) -> Read[KnownTerms]:
    return Read(_PEOPLE, {"site": site}, _terms)


def known_terms(conn: psycopg.Connection[Any], site: str) -> KnownTerms:
    return known_terms_read(site).run(conn)


class MaskerCache:
    """One estate's masker: `base` (what the config knows: staff names) and what the
    database knows, read again after `refresh_s`.

    With a `pool`, a stale masker keeps serving while a thread reads the records and builds
    the next one: building takes about a second for thousands of residents, which a
    request must not wait for (nor the event loop that serves the others)."""

    def __init__(self, site: str, base: KnownTerms, *, refresh_s: float = REFRESH_S,
                 clock: Callable[[], float] = time.monotonic,
                 pool: ConnectionPool | None = None) -> None:
        self.site = site
        self.base = base
        self._refresh_s = refresh_s
        self._clock = clock
        self._pool = pool
        self._lock = threading.Lock()
        self._masker: Masker | None = None
        self._terms: KnownTerms | None = None
        self._expires = 0.0
        self._refreshing = False

    def plan(self) -> Plan[Masker]:
        """The masker, reading the records again when they are due (a plan: `run` or
        `run_async` it, or `yield from` it in another)."""
        with self._lock:
            masker, fresh = self._masker, self._clock() < self._expires
            behind = masker is not None and not fresh and self._pool is not None
            start = behind and not self._refreshing
            if start:
                self._refreshing = True
        if start:
            threading.Thread(target=self._refresh_in_background, daemon=True,
                             name=f"masker-{self.site}").start()
        if masker is not None and (fresh or behind):
            return masker
        terms: KnownTerms = yield known_terms_read(self.site)
        return self._keep(terms)

    def get(self, conn: psycopg.Connection[Any]) -> Masker:
        return run(conn, self.plan())

    def refresh(self) -> Masker:
        """Read the records and build the masker now (at start, before the first request)."""
        if self._pool is None:
            raise RuntimeError("a MaskerCache without a pool refreshes in its reads")
        with self._pool.connection() as conn:
            return self._keep(known_terms(conn, self.site))

    def warm(self) -> None:
        """`refresh`, logging a failure: the first read builds the masker then."""
        try:
            self.refresh()
        except Exception:  # the stale masker keeps serving; the next read tries again
            log.exception("event=masker_refresh_failed site=%s", self.site)

    def _refresh_in_background(self) -> None:
        try:
            self.warm()
        finally:
            with self._lock:
                self._refreshing = False

    def _keep(self, terms: KnownTerms) -> Masker:
        with self._lock:
            masker, known = self._masker, self._terms
        if masker is None or terms != known:  # built again only when people changed
            masker = Masker(self.base | terms)
        with self._lock:
            self._masker, self._terms = masker, terms
            self._expires = self._clock() + self._refresh_s
        return masker
