"""Signing in: argon2 passwords, opaque sessions (cookie and bearer), invitation codes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from services.cli import app as cli
from services.store.accounts import account_by_login

from .conftest import PASSWORD, Site


def test_login_sets_an_httponly_cookie_and_returns_a_bearer_token(site: Site) -> None:
    staff = site.accounts["kefu"]
    client = site.anon
    response = client.post("/api/auth/login", json={"login": staff.login.upper(),
                                                    "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["user"]["role"] == "staff"
    assert body["user"]["department"] == "kefu" and body["user"]["id"] == "KF-002"
    cookie = response.headers["set-cookie"]
    assert "sunlight_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in \
        cookie.lower()
    # the cookie alone signs in (pages), and so does the bearer token (API clients)
    assert client.get("/api/auth/me").json()["login"] == staff.login
    bearer = site.anon.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert bearer.json()["id"] == "KF-002"


def test_the_database_keeps_hashes_only(site: Site, pool: ConnectionPool) -> None:
    resident = site.accounts["resident_a"]
    with pool.connection() as conn:
        account = account_by_login(conn, resident.login)
        sessions = conn.execute("SELECT token_hash FROM sessions").fetchall()
    assert account is not None and account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    assert all(bytes(row[0]) != resident.token.encode() for row in sessions)
    assert all(len(bytes(row[0])) == 32 for row in sessions)  # SHA-256


def test_wrong_password_is_401_problem_and_logout_ends_the_session(site: Site) -> None:
    staff = site.accounts["engineer"]
    wrong = site.anon.post("/api/auth/login", json={"login": staff.login, "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["type"] == "/problems/unauthenticated"
    unknown = site.anon.post("/api/auth/login", json={"login": "nobody", "password": "x"})
    assert unknown.status_code == 401 and unknown.json()["detail"] == wrong.json()["detail"]

    client = site.anon
    token = client.post("/api/auth/login", json={"login": staff.login, "password": PASSWORD}) \
        .json()["token"]
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401
    again = site.anon.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401 and "was revoked" in again.json()["detail"]


def test_repeated_failed_logins_are_refused_for_a_while(site: Site) -> None:
    """From the address that failed, further tries wait (a correct password too); from
    another address the account still signs in (issue 14: nobody can lock staff out)."""
    from .conftest import add_account

    victim = add_account(site.board.pool, site.board.estate, "victim", site.accounts[
        "auditor"].role)
    for _ in range(site.board.options.login_failures):
        assert site.anon.post("/api/auth/login", json={"login": victim.login,
                                                       "password": "guess"}).status_code == 401
    locked = site.anon.post("/api/auth/login", json={"login": victim.login,
                                                     "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    elsewhere = site.client(client=("198.51.100.1", 1234)).post(
        "/api/auth/login", json={"login": victim.login, "password": PASSWORD})
    assert elsewhere.status_code == 200


def test_cookie_writes_from_another_origin_are_refused(site: Site) -> None:
    resident = site.accounts["resident_a"]
    client = site.anon
    client.cookies.set("sunlight_session", resident.token)
    forged = client.post("/api/reports/1/reopen", json={"reason": "x"},
                         headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    same = client.post("/api/reports/999999/reopen", json={"reason": "x"},
                       headers={"Origin": "http://testserver"})
    assert same.status_code == 404  # got past the origin check


def test_a_resident_joins_with_a_code_until_its_uses_run_out(site: Site) -> None:
    manager = site.as_("manager")
    issued = manager.post("/api/invitations", json={"building": "b5", "uses": 2,
                                                    "valid_days": 7})
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    assert len(code) == 14 and issued.json()["uses_left"] == 2
    listed = manager.get("/api/invitations").json()
    assert all(i["code"] is None for i in listed) and issued.json()["id"] in {i["id"] for i in
                                                                                listed}

    def join(code: str) -> httpx.Response:
        login = f"res-{uuid.uuid4().hex[:8]}"
        return site.anon.post("/api/auth/join", json={
            "code": code, "login": login, "password": PASSWORD, "name": "王五",
            "phone": "13700000003", "unit": "5-0101"})

    first = join(code.lower().replace("-", " "))  # typed loosely: still the same code
    assert first.status_code == 201, first.text
    me = first.json()["user"]
    assert me["role"] == "resident" and me["building"] == "b5" and me["unit"] == "5-0101"
    assert join(code).status_code == 201
    used_up = join(code)
    assert used_up.status_code == 422
    assert used_up.json()["errors"][0]["field"] == "code"
    assert join("AAAA-BBBB-CCCC").status_code == 422


def test_invitations_for_unknown_buildings_are_refused(site: Site) -> None:
    response = site.as_("manager").post("/api/invitations", json={"building": "b99"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "building"


def test_manager_creates_staff_accounts_from_the_estate_config(site: Site) -> None:
    manager = site.as_("manager")
    login = f"staff-{uuid.uuid4().hex[:6]}"
    made = manager.post("/api/users", json={"login": login, "password": PASSWORD,
                                            "role": "staff", "staff_id": "AB-002"})
    assert made.status_code == 201, made.text
    assert made.json()["department"] == "security" and made.json()["name"] == "胡斌"
    unknown = manager.post("/api/users", json={"login": login + "x", "password": PASSWORD,
                                               "role": "staff", "staff_id": "ZZ-001"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "staff_id"
    taken = manager.post("/api/users", json={"login": login, "password": PASSWORD,
                                             "role": "auditor"})
    assert taken.status_code == 409


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """The CLI points logging at its own stderr, which CliRunner closes: put ours back."""
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


@pytest.mark.usefixtures("keep_logging")
def test_cli_creates_the_first_manager(database_url: str) -> None:
    login = f"admin-{uuid.uuid4().hex[:6]}"
    result = CliRunner().invoke(
        cli, ["board", "create-user", "--role", "manager", "--login", login, "--id",
              f"PM-{uuid.uuid4().hex[:4]}", "--name", "项目经理"],
        env={"DATABASE_URL": database_url, "SUNLIGHT_NEW_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    assert f"created manager '{login}'" in result.output
    short = CliRunner().invoke(
        cli, ["board", "create-user", "--role", "auditor", "--login", login + "2"],
        env={"DATABASE_URL": database_url, "SUNLIGHT_NEW_PASSWORD": "short"},
    )
    assert short.exit_code == 1 and "密码至少需要 10 个字符" in short.output
    weak = CliRunner().invoke(
        cli, ["board", "create-user", "--role", "auditor", "--login", login + "3"],
        env={"DATABASE_URL": database_url, "SUNLIGHT_NEW_PASSWORD": "password123"},
    )
    assert weak.exit_code == 1 and "太常见" in weak.output


def test_failed_logins_count_across_a_window_boundary(site: Site) -> None:
    """The limit counts the window before the current one too: crossing a quarter hour
    gives no fresh allowance (this test used to fail when run across one)."""
    from datetime import timedelta

    from services.store.ratelimit import hit, hits

    window = timedelta(minutes=15)
    edge = datetime(2026, 11, 27, 8, 15, tzinfo=UTC)
    with site.board.pool.connection() as conn:
        for _ in range(3):
            hit(conn, "login:edge-test", edge - timedelta(seconds=5), window)
        assert hits(conn, "login:edge-test", edge + timedelta(seconds=5), window) == 3
        assert hits(conn, "login:edge-test", edge + window + timedelta(seconds=5), window) == 0
