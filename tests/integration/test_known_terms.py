"""What the estate's records know about people, for the masker: read per estate, and the
board's cached masker picks up a new person after its refresh."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from psycopg_pool import ConnectionPool

from services.store.accounts import Person, add_account
from services.store.known_terms import MaskerCache, known_terms
from services.store.reads import run
from services.tickets import Role
from services.tickets.public_text import KnownTerms


def _resident(pool: ConnectionPool, site: str, name: str, phone: str, unit: str) -> None:
    pid = f"r-{uuid.uuid4().hex[:10]}"
    with pool.connection() as conn, conn.transaction():
        add_account(conn, Person(pid, "resident", name, phone, "b1", unit),
                    login=pid, password_hash="x", role=Role.RESIDENT, department=None,
                    at=datetime.now(UTC), site=site)


def test_each_estate_knows_its_own_people(pool: ConnectionPool) -> None:
    mine, other = f"k{uuid.uuid4().hex[:8]}", f"k{uuid.uuid4().hex[:8]}"
    _resident(pool, mine, "诸葛明月", "13711112222", "7-0808")
    _resident(pool, other, "上官飞燕", "13733334444", "9-0909")
    with pool.connection() as conn:
        terms = known_terms(conn, mine)
    assert {"诸葛明月", "13711112222", "7-0808"} <= terms.names | terms.phones | terms.units
    assert "上官飞燕" not in terms.names and "13733334444" not in terms.phones


def test_the_cached_masker_learns_a_new_person_after_its_refresh(pool: ConnectionPool) -> None:
    site, now = f"k{uuid.uuid4().hex[:8]}", [0.0]
    cache = MaskerCache(site, KnownTerms(names=frozenset({"王芳"})), refresh_s=30,
                        clock=lambda: now[0])
    text = "已回访 ximen chuixue，王芳陪同"  # lower case: no pattern takes it for a name
    with pool.connection() as conn:
        assert run(conn, cache.plan())(text) == "已回访 ximen chuixue，＊＊＊陪同"
        _resident(pool, site, "西门吹雪", "13755556666", "1-0101")
        assert "ximen chuixue" in cache.get(conn)(text)  # cached for now
        now[0] = 31.0
        assert cache.get(conn)(text) == "已回访 ＊＊＊，＊＊＊陪同"  # pinyin of the new name


def test_with_a_pool_a_stale_masker_serves_while_the_next_is_built(
        pool: ConnectionPool) -> None:
    """A request never waits for a rebuild (about a second for thousands of residents):
    the stale masker answers at once and a thread builds the next."""
    site, now = f"k{uuid.uuid4().hex[:8]}", [0.0]
    cache = MaskerCache(site, KnownTerms(), refresh_s=30, clock=lambda: now[0], pool=pool)
    cache.refresh()
    text = "已回访 ximen chuixue"
    _resident(pool, site, "西门吹雪", "13755556666", "1-0101")
    now[0] = 31.0
    with pool.connection() as conn:
        stale = cache.plan()
        try:
            next(stale)  # a plan that yields wants a read: the request would wait
            raise AssertionError("the stale masker should have answered without a read")
        except StopIteration as done:
            assert "ximen chuixue" in done.value(text)
        deadline = time.monotonic() + 10
        while "ximen chuixue" in cache.get(conn)(text):
            assert time.monotonic() < deadline, "the masker was never rebuilt"
            time.sleep(0.05)
        assert cache.get(conn)(text) == "已回访 ＊＊＊"
