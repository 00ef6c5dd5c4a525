"""Form posts carry a CSRF token besides the Origin check, and the cookies are HttpOnly,
SameSite=Lax, and Secure over HTTPS: read from the pages themselves, as a browser would."""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from services.board.deps import COOKIE
from services.board.pages import csrf
from services.config import EstateConfig
from services.tickets import Role

from .conftest import PASSWORD, Accounts, Site, add_account, make_site

pytestmark = pytest.mark.integration
TOKEN = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')


def page_client(site: Site, token: str | None = None) -> Any:
    """A browser without the tests' shortcuts: no Origin header (as some send none), no
    CSRF header; what a form carries comes from the page."""
    client = site.client(follow_redirects=False)
    if token is not None:
        client.cookies.set(COOKIE, token)
    return client


def tokens(html: str) -> list[str]:
    return TOKEN.findall(html)


def test_every_form_on_a_page_carries_the_token(site: Site) -> None:
    resident = page_client(site, site.accounts["resident_a"].token)
    page = resident.get("/report")
    assert page.status_code == 200
    forms = page.text.count('<form method="post"')
    assert forms == 2  # the report, and signing out
    assert tokens(page.text) == [tokens(page.text)[0]] * forms
    assert tokens(page.text)[0] == csrf.token_for(site.accounts["resident_a"].token)


def test_a_form_post_without_origin_needs_the_token(site: Site) -> None:
    resident = page_client(site, site.accounts["resident_a"].token)
    token = tokens(resident.get("/report").text)[0]
    form = {"category": "lighting", "place": "b3:stairwell", "description": "楼道灯不亮"}
    # what a page elsewhere can send when the browser names no origin: refused
    forged = resident.post("/report", data=form)
    assert forged.status_code == 403 and "expired" in forged.text
    # a token from another visitor's page does not fit this session
    other = tokens(page_client(site, site.accounts["resident_b"].token).get("/report").text)[0]
    assert resident.post("/report", data={**form, "csrf": other}).status_code == 403
    sent = resident.post("/report", data={**form, "csrf": token})
    assert sent.status_code == 303, sent.text
    # and the Origin check still stands with a good token
    elsewhere = resident.post("/report", data={**form, "csrf": token},
                              headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403


def test_staff_actions_and_signing_out_need_the_token(site: Site) -> None:
    # an account of its own: signing out revokes the session the other tests share
    manager = add_account(site.board.pool, site.board.estate, "leaving", Role.MANAGER)
    staff = page_client(site, manager.token)
    assert staff.post("/logout").status_code == 403
    assert staff.get("/staff/queue").status_code == 200  # still signed in
    assert staff.post("/staff/tickets/1", data={"do": "accept"}).status_code == 403
    token = tokens(staff.get("/staff/queue").text)[0]
    assert staff.post("/logout", data={"csrf": token}).status_code == 303


def test_signing_in_needs_the_token_of_the_sign_in_page(site: Site) -> None:
    visitor = page_client(site)
    credentials = {"login": site.accounts["resident_a"].login, "password": PASSWORD}
    # a login CSRF with no origin and no page visited: refused, no session set
    refused = visitor.post("/login", data=credentials)
    assert refused.status_code == 403 and COOKIE not in refused.cookies
    visitor = page_client(site)
    shown = visitor.get("/login")
    seed = shown.headers["set-cookie"]
    assert seed.startswith(f"{csrf.SEED_COOKIE}=") and "HttpOnly" in seed
    assert "samesite=lax" in seed.lower() and "Secure" not in seed  # plain HTTP here
    done = visitor.post("/login", data={**credentials, "csrf": tokens(shown.text)[0]})
    assert done.status_code == 303 and COOKIE in done.cookies
    # the pages now carry the token of the new session
    assert tokens(visitor.get("/reports").text)[0] == csrf.token_for(done.cookies[COOKIE])


def _cookie_of(client: Any, base_url: str = "http://testserver") -> str:
    client.base_url = base_url
    answer = client.post("/api/auth/login", json={"login": client.login, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    cookie: str = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    return cookie


def test_the_session_cookie_is_secure_whenever_the_board_is_on_https(
        site: Site, pool: ConnectionPool, estate: EstateConfig, accounts: Accounts,
        tmp_path: Path) -> None:
    def client(board: Site) -> Any:
        made = board.client()
        made.login = board.accounts["kefu"].login
        return made

    assert "Secure" not in _cookie_of(client(site))  # http://, public_url http://
    assert "Secure" in _cookie_of(client(site), "https://testserver")  # TLS proxy in front
    on_https = estate.model_copy(update={"site": estate.site.model_copy(
        update={"public_url": "https://sunlight.example"})})
    with ExitStack() as sites:
        public = sites.enter_context(make_site(pool, on_https, accounts, tmp_path))
        assert "Secure" in _cookie_of(client(public))
        forced = sites.enter_context(
            make_site(pool, estate, accounts, tmp_path, secure_cookies=True))
        assert "Secure" in _cookie_of(client(forced))
        off = sites.enter_context(
            make_site(pool, on_https, accounts, tmp_path, secure_cookies=False))
        assert "Secure" not in _cookie_of(client(off))
        # the language choice is set the same way
        lang = public.anon.get("/login?lang=en").headers.get_list("set-cookie")
        assert all("Secure" in c and "HttpOnly" in c for c in lang)
