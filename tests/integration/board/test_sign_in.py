"""Sign-in abuse (issue 14): guessing slows the guesser down and locks nobody out; logins
have one normal form; weak passwords are refused; staff numbers are per estate."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool

from services.board.throttle import FIRST_DELAY, LONGEST, address_key
from services.config import EstateConfig
from services.store import throttle
from services.tickets import Role

from .conftest import PASSWORD, Accounts, Site, add_account, make_site
from .test_pages import browser, is_page


def _login(client: Any, login: str, password: str, **headers: str) -> httpx.Response:
    response: httpx.Response = client.post("/api/auth/login", json={
        "login": login, "password": password}, headers=headers)
    return response


def _from(site: Site, address: str) -> Any:
    return site.client(client=(address, 40000))


@pytest.fixture
def admin(site: Site) -> Any:
    return add_account(site.board.pool, site.board.estate, "admin", Role.MANAGER)


# --- lock-out abuse ---------------------------------------------------------------------


def test_guessing_at_admin_never_locks_the_real_admin_out(site: Site, admin: Any) -> None:
    """50 wrong passwords from one address: that address is made to wait (429, Retry-After,
    in Chinese unless English is asked for), the admin from elsewhere signs in at once."""
    attacker = _from(site, "203.0.113.7")
    answers = [_login(attacker, admin.login, f"guess-{i}").status_code for i in range(50)]
    assert answers[:5] == [401] * 5
    assert 429 in answers
    refused = _login(attacker, admin.login, PASSWORD)  # even the right password, from there
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["type"] == "/problems/rate-limited"
    assert "登录失败次数过多" in refused.json()["detail"]
    english = _login(attacker, admin.login, PASSWORD, **{"Accept-Language": "en-GB,en"})
    assert english.status_code == 429 and "too many failed sign-ins" in english.json()["detail"]
    signed_in = _login(_from(site, "198.51.100.20"), admin.login, PASSWORD)
    assert signed_in.status_code == 200, signed_in.text


def test_an_account_under_attack_slows_every_failing_address(site: Site, admin: Any) -> None:
    """Guesses spread over addresses: once the account's free failures are used, an address
    that has failed waits before its next try, while a clean address still signs in."""
    free = site.board.options.login_failures
    for i in range(free):
        assert _login(_from(site, f"192.0.2.{i + 1}"), admin.login, "wrong").status_code == 401
    assert _login(_from(site, "192.0.2.1"), admin.login, "wrong").status_code == 429
    # the account's wait is not the address's: it may still sign in to other accounts
    other = site.accounts["auditor"]
    assert _login(_from(site, "192.0.2.1"), other.login, PASSWORD).status_code == 200
    assert _login(_from(site, "192.0.2.200"), admin.login, PASSWORD).status_code == 200


def test_a_spray_over_many_logins_from_one_address_is_refused_before_hashing(
        site: Site) -> None:
    """Many logins, one wrong password each, from one address: after the address's free
    failures every try is refused, and refusing costs far less than checking a password."""
    sprayer = _from(site, "203.0.113.99")
    timed: dict[int, list[float]] = {401: [], 429: []}
    for i in range(site.board.options.address_failures + 15):
        started = time.perf_counter()
        status = _login(sprayer, f"user{i}-{uuid.uuid4().hex[:6]}", "Winter2024!").status_code
        timed.setdefault(status, []).append(time.perf_counter() - started)
    assert len(timed[401]) == site.board.options.address_failures
    assert len(timed[429]) == 15
    # argon2 runs for a 401 (an unknown login too); a 429 answers without it
    assert statistics.median(timed[429]) < statistics.median(timed[401]) / 2, timed


def test_the_wait_doubles_and_is_forgotten(pool: ConnectionPool) -> None:
    key, now = f"test:{uuid.uuid4().hex}", datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    rules = {"forget": timedelta(hours=1), "free": 2, "first_delay": FIRST_DELAY,
             "longest": LONGEST}
    with pool.connection() as conn:
        waits = []
        for i in range(14):
            failures, until = throttle.fail(conn, key, now + timedelta(seconds=i), **rules)
            assert failures == i + 1
            waits.append((until - (now + timedelta(seconds=i))).total_seconds())
        assert waits[:6] == [0, 1, 2, 4, 8, 16]
        assert waits[-1] == LONGEST.total_seconds()
        later = now + timedelta(hours=2)
        assert throttle.state(conn, [key], later, timedelta(hours=1)) == {}
        assert throttle.fail(conn, key, later, **rules) == (1, later)


def test_addresses_are_counted_as_the_host_holds_them() -> None:
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") \
        == "2001:db8:1:2::/64"
    assert address_key(None) == "unknown"


def test_invitation_code_guesses_are_throttled(site: Site) -> None:
    code = site.as_("manager").post("/api/invitations", json={
        "building": "b5", "uses": 5, "valid_days": 7}).json()["code"]

    def join(client: Any, code: str) -> httpx.Response:
        response: httpx.Response = client.post("/api/auth/join", json={
            "code": code, "login": f"res-{uuid.uuid4().hex[:8]}", "password": PASSWORD})
        return response

    guesser = _from(site, "203.0.113.50")
    wrong = [join(guesser, f"AAAA-BBBB-{i:04d}").status_code
             for i in range(site.board.options.code_failures)]
    assert wrong == [422] * site.board.options.code_failures
    refused = join(guesser, code)
    assert refused.status_code == 429 and "邀请码" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) >= 1
    assert join(_from(site, "198.51.100.50"), code).status_code == 201


# --- one normal form for logins ---------------------------------------------------------


def test_lookalike_logins_are_one_login_or_none(site: Site) -> None:
    """Issue 14: "tİger9" (Turkish capital İ) signed into the locked account "tiger9",
    because PostgreSQL's lower() and Python's differ. Logins are now NFKC case-folded once:
    full-width letters and ligatures are the same login, İ is another (unknown) one, and
    the lock-out counts every spelling of an account together."""
    tag = uuid.uuid4().hex[:6]
    tiger = add_account(site.board.pool, site.board.estate, f"tiger9-fi{tag}", Role.AUDITOR)
    suffix = tiger.login.removeprefix("tiger9")
    attacker = _from(site, "203.0.113.80")
    for _ in range(site.board.options.login_failures):
        assert _login(attacker, f"TIGER9{suffix}", "guess").status_code == 401
    # every spelling of the same login now waits, from the failing address
    full_width = "ｔｉｇｅｒ９" + suffix
    assert _login(attacker, full_width, PASSWORD).status_code == 429
    ligature = tiger.login.replace("fi", "ﬁ")
    assert _login(attacker, ligature, PASSWORD).status_code == 429
    # the Turkish İ is not tiger9: unknown, whatever the password
    turkish = _login(_from(site, "198.51.100.80"), f"tİger9{suffix}", PASSWORD)
    assert turkish.status_code == 401
    # and from a clean address the real spellings sign in
    clean = _from(site, "198.51.100.81")
    for spelling in (full_width, ligature, tiger.login.upper()):
        assert _login(clean, spelling, PASSWORD).status_code == 200, spelling


def test_new_logins_are_stored_in_their_normal_form(site: Site, pool: ConnectionPool) -> None:
    manager = site.as_("manager")
    tag = uuid.uuid4().hex[:6]
    made = manager.post("/api/users", json={"login": f"ＡＵＤＩＴ{tag}", "password": PASSWORD,
                                            "role": "auditor"})
    assert made.status_code == 201, made.text
    assert made.json()["login"] == f"audit{tag}"
    again = manager.post("/api/users", json={"login": f"Audit{tag}", "password": PASSWORD,
                                             "role": "auditor"})
    assert again.status_code == 409
    odd = manager.post("/api/users", json={"login": f"tİger{tag}", "password": PASSWORD,
                                           "role": "auditor"})
    assert odd.status_code == 422 and odd.json()["errors"][0]["field"] == "login"
    with pool.connection() as conn:
        stored = conn.execute("SELECT login FROM accounts WHERE login LIKE %s",
                              (f"%{tag}",)).fetchall()
    assert stored == [(f"audit{tag}",)]


# --- weak passwords ---------------------------------------------------------------------


@pytest.mark.parametrize("password", ["12345678", "password1", "qwertyuiop", "short"])
def test_weak_passwords_are_refused_for_manager_made_accounts(site: Site, password: str) \
        -> None:
    """Issue 14: 12345678 was accepted for an auditor."""
    manager = site.as_("manager")
    body = {"login": f"aud-{uuid.uuid4().hex[:6]}", "password": password, "role": "auditor"}
    chinese = manager.post("/api/users", json=body)
    assert chinese.status_code == 422, chinese.text
    assert chinese.json()["errors"][0]["field"] == "password"
    assert "密码" in chinese.json()["errors"][0]["detail"]
    english = manager.post("/api/users", json=body, headers={"Accept-Language": "en"})
    assert "password" in english.json()["detail"] and "密码" not in english.json()["detail"]


def test_a_password_made_of_the_login_is_refused(site: Site) -> None:
    login = f"zhangwei{uuid.uuid4().hex[:4]}"
    made = site.as_("manager").post("/api/users", json={
        "login": login, "password": login + "1", "role": "auditor"})
    assert made.status_code == 422 and made.json()["errors"][0]["field"] == "password"


def test_weak_passwords_are_refused_when_joining(site: Site) -> None:
    code = site.as_("manager").post("/api/invitations", json={
        "building": "b5", "uses": 1, "valid_days": 7}).json()["code"]
    weak = site.anon.post("/api/auth/join", json={
        "code": code, "login": f"res-{uuid.uuid4().hex[:8]}", "password": "woaini1314"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"
    # the code's one use was not spent on the refused account
    good = site.anon.post("/api/auth/join", json={
        "code": code, "login": f"res-{uuid.uuid4().hex[:8]}", "password": PASSWORD})
    assert good.status_code == 201, good.text


def test_the_join_page_says_why_in_chinese(site: Site) -> None:
    code = site.as_("manager").post("/api/invitations", json={
        "building": "b5", "uses": 1, "valid_days": 7}).json()["code"]
    page = browser(site).post("/join", data={
        "code": code, "login": f"res-{uuid.uuid4().hex[:8]}", "password": "woaini1314"})
    assert page.status_code == 422 and is_page(page)
    assert "密码太常见或太容易猜到" in page.text


# --- staff numbers per estate -----------------------------------------------------------


def test_staff_numbers_belong_to_their_estate(pool: ConnectionPool, estate: EstateConfig,
                                              accounts: Accounts, tmp_path: Any) -> None:
    """Two estates on one database each have a KF-002 (the config's customer-service desk):
    each signs in on its own board, acts as its own estate's staff, and neither estate can
    have two."""
    with make_site(pool, estate, accounts, tmp_path / "one") as one, \
            make_site(pool, estate, accounts, tmp_path / "two") as two:
        made = {}
        for site in (one, two):
            response = site.as_("manager").post("/api/users", json={
                "login": f"kf-{uuid.uuid4().hex[:6]}", "password": PASSWORD,
                "role": "staff", "staff_id": "KF-002"})
            assert response.status_code == 201, response.text
            made[site.board.site] = response.json()
            again = site.as_("manager").post("/api/users", json={
                "login": f"kf-{uuid.uuid4().hex[:6]}", "password": PASSWORD,
                "role": "staff", "staff_id": "KF-002"})
            assert again.status_code == 409 and again.json()["errors"][0]["field"] == \
                "staff_id"
        first, second = made[one.board.site], made[two.board.site]
        assert first["id"] != second["id"]
        assert first["name"] == second["name"] == "李娜"
        # each signs in on its own board only
        for site, mine, theirs in ((one, first, second), (two, second, first)):
            assert _login(site.anon, mine["login"], PASSWORD).status_code == 200
            assert _login(site.anon, theirs["login"], PASSWORD).status_code == 401
        with pool.connection() as conn:
            rows = conn.execute(
                "SELECT site, staff_number FROM accounts WHERE person_id = ANY(%s)"
                " ORDER BY site", ([first["id"], second["id"]],)).fetchall()
        assert sorted(rows) == sorted([(one.board.site, "KF-002"), (two.board.site, "KF-002")])
