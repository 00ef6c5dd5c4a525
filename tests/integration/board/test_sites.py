"""Two estates' boards on one database: an account of one estate does not sign in, act,
issue codes or read the log on the other's board, and its codes are not redeemed there;
the migration binds the accounts of a one-estate database to that estate."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from services.board.accounts import NewAccount, create_account, start_session
from services.board.app import create_app
from services.board.deps import COOKIE
from services.board.pages import csrf
from services.config import BoardOptions, EstateConfig, Settings
from services.store import migrate
from services.store.accounts import account_by_login, account_by_session, bind_accounts
from services.tickets import Role
from tests.support.board_clients import BoardClients

from .conftest import PASSWORD, report

pytestmark = pytest.mark.integration


@dataclass
class Estate:
    app: Any
    site: str
    tokens: dict[str, str]
    logins: dict[str, str]
    clients: BoardClients = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.clients = BoardClients(self.app)  # the lifespan runs; close() ends it

    def close(self) -> None:
        self.clients.close()

    def client(self, **options: Any) -> TestClient:
        return self.clients.client(**options)

    def bearer(self, token: str) -> TestClient:
        return self.client(headers={"Authorization": f"Bearer {token}"})

    def as_(self, who: str) -> TestClient:
        return self.bearer(self.tokens[who])

    def browser(self, token: str) -> TestClient:
        client = self.client(follow_redirects=False)
        client.cookies.set(COOKIE, token)
        client.headers.update({"Origin": "http://testserver",
                               csrf.HEADER: csrf.token_for(token)})
        return client


def _estate(pool: ConnectionPool, base: EstateConfig, data_dir: Path,
            staff_id: str) -> Estate:
    """A board of its own site, with a manager, a staff member and a resident bound to it."""
    site = f"e{uuid.uuid4().hex[:10]}"
    estate = base.model_copy(update={"site": base.site.model_copy(update={"id": site})})
    now = datetime.now(UTC)
    tokens, logins = {}, {}
    for name, role, staff in (("manager", Role.MANAGER, None), ("staff", Role.STAFF, staff_id),
                              ("resident", Role.RESIDENT, None)):
        login = f"{name}-{uuid.uuid4().hex[:8]}"
        with pool.connection() as conn, conn.transaction():
            account = create_account(conn, estate, NewAccount(
                login, PASSWORD, role, staff_id=staff,
                building="b3" if role is Role.RESIDENT else None), now)
        assert account.site == site
        tokens[name], _ = start_session(pool, account, now, BoardOptions().session_ttl)
        logins[name] = login
    app = create_app(Settings(data_dir=data_dir / site), estate, pool)
    return Estate(app, site, tokens, logins)


@pytest.fixture(scope="module")
def two(pool: ConnectionPool, estate: EstateConfig,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Estate, Estate]]:
    # staff numbers are person ids, unique in the database: one each, made once, and no
    # other test signs these up
    data = tmp_path_factory.mktemp("estates")
    a = _estate(pool, estate, data, "AB-003")
    try:
        b = _estate(pool, estate, data, "BJ-003")
        try:
            yield a, b
        finally:
            b.close()
    finally:
        a.close()


def test_an_account_signs_in_on_its_own_estates_board_only(two: tuple[Estate, Estate]) -> None:
    a, b = two
    for who in ("manager", "staff", "resident"):
        credentials = {"login": a.logins[who], "password": PASSWORD}
        assert a.client().post("/api/auth/login", json=credentials).status_code == 200
        elsewhere = b.client().post("/api/auth/login", json=credentials)
        # answered as an unknown login: another estate's accounts are not even confirmed
        assert elsewhere.status_code == 401, who
        assert elsewhere.json()["detail"] == "wrong login or password"


def test_another_estates_session_does_not_act_on_this_board(two: tuple[Estate, Estate]) -> None:
    a, b = two
    ticket = report(b.as_("resident")).json()["id"]
    intruder = b.bearer(a.tokens["staff"])
    # on this board another estate's session identifies nobody: every write is 401
    refused = intruder.post(f"/api/tickets/{ticket}/accept", json={})
    assert refused.status_code == 401 and "not of this estate" in refused.json()["detail"]
    offline = intruder.post("/api/tickets", json={
        "channel": "phone", "category": "lighting", "area": "lobby", "building": "b1",
        "description": "x"})
    assert offline.status_code == 401
    resident = b.bearer(a.tokens["resident"])
    assert report(resident).status_code == 401
    manager = b.bearer(a.tokens["manager"])
    assert manager.post("/api/invitations", json={"building": "b1"}).status_code == 401
    assert manager.get("/api/audit").status_code == 401
    # B's own staff act as usual
    assert b.as_("staff").post(f"/api/tickets/{ticket}/accept", json={}).status_code == 200
    assert b.as_("manager").get("/api/audit").status_code == 200


def test_another_estates_session_counts_as_signed_out_on_the_pages(
        two: tuple[Estate, Estate]) -> None:
    a, b = two
    visitor = b.browser(a.tokens["staff"])
    assert visitor.get("/staff/queue").headers["location"].startswith("/login")
    assert visitor.get("/login").status_code == 200  # the form, not a redirect loop
    assert a.browser(a.tokens["staff"]).get("/staff/queue").status_code == 200


def test_invitation_codes_belong_to_their_estate(two: tuple[Estate, Estate]) -> None:
    a, b = two
    issued = a.as_("manager").post("/api/invitations", json={"building": "b3", "uses": 5})
    code = issued.json()["code"]
    assert issued.json()["id"] not in {i["id"] for i in
                                       b.as_("manager").get("/api/invitations").json()}

    def join(board: Estate) -> int:
        answer = board.client().post("/api/auth/join", json={
            "code": code, "login": f"r-{uuid.uuid4().hex[:8]}", "password": PASSWORD})
        return int(answer.status_code)

    assert join(b) == 422
    assert join(a) == 201


def test_another_estates_session_reads_nothing_here(two: tuple[Estate, Estate]) -> None:
    a, b = two
    intruder = b.bearer(a.tokens["staff"])
    assert intruder.get("/api/tickets").status_code == 401


def test_sessions_are_found_for_their_estate_only(two: tuple[Estate, Estate],
                                                  pool: ConnectionPool) -> None:
    from services.board.passwords import digest

    a, b = two
    now = datetime.now(UTC)
    with pool.connection() as conn:
        token = digest(a.tokens["staff"])
        assert account_by_session(conn, token, now) is not None  # as deps.py asks today
        assert account_by_session(conn, token, now, site=a.site) is not None
        assert account_by_session(conn, token, now, site=b.site) is None


def _apply(conn: psycopg.Connection[Any], upto: int, since: int = 0) -> None:
    for m in migrate.available():
        if since <= m.version <= upto:
            conn.execute(m.sql.encode())


def test_the_migration_binds_the_accounts_of_a_one_estate_database(
        empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        _apply(conn, upto=10)
        for person in ("m-1", "m-2"):
            conn.execute("INSERT INTO people (id, role, display_name, created_at)"
                         " VALUES (%s, 'manager', '', now())", (person,))
            conn.execute("INSERT INTO accounts (person_id, login, password_hash, role,"
                         " created_at) VALUES (%s, %s, 'x', 'manager', now())",
                         (person, person))
        conn.execute(
            "INSERT INTO tickets (site, category, priority, source, channel, state,"
            " description, area, opened_at, sla_respond, sla_resolve, respond_due_at,"
            " resolve_due_at, updated_at) VALUES ('garden', 'c', 'normal', 'staff', 'phone',"
            " 'reported', 'd', 'a', now(), '1h', '1d', now(), now(), now())")
        _apply(conn, upto=11, since=11)
        sites = {r[0] for r in conn.execute("SELECT site FROM accounts")}
        assert sites == {"garden"}


def test_accounts_of_a_database_of_several_estates_stay_unbound_until_bound(
        empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        _apply(conn, upto=10)
        conn.execute("INSERT INTO people (id, role, display_name, created_at)"
                     " VALUES ('m-1', 'manager', '', now())")
        conn.execute("INSERT INTO accounts (person_id, login, password_hash, role, created_at)"
                     " VALUES ('m-1', 'Boss', 'x', 'manager', now())")
        for site in ("garden", "riverside"):
            conn.execute(
                "INSERT INTO tickets (site, category, priority, source, channel, state,"
                " description, area, opened_at, sla_respond, sla_resolve, respond_due_at,"
                " resolve_due_at, updated_at) VALUES (%s, 'c', 'normal', 'staff', 'phone',"
                " 'reported', 'd', 'a', now(), '1h', '1d', now(), now(), now())", (site,))
        _apply(conn, upto=11, since=11)
        assert conn.execute("SELECT site FROM accounts").fetchall() == [(None,)]
        _apply(conn, upto=9999, since=12)  # logins in their normal form (0016)
        assert bind_accounts(conn, "riverside", login="BOSS") == ["boss"]
        assert bind_accounts(conn, "garden") == []  # bound already: left as it is
        assert conn.execute("SELECT site FROM accounts").fetchall() == [("riverside",)]


def test_the_migration_brings_logins_to_one_form_and_renames_collisions(
        empty_database_url: str) -> None:
    """Before 0016 logins were unique by lower(): "Tiger9" and "ＴＩＧＥＲ９" could both
    exist. Now the older keeps the normal login, the later is renamed (and says so in the
    audit log); staff numbers are kept per estate."""
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        _apply(conn, upto=11)
        for person, login, role, at in (("m-1", "Tiger9", "manager", "2025-01-01"),
                                        ("m-2", "ＴＩＧＥＲ９", "manager", "2025-02-01"),
                                        ("KF-002", "KF002", "staff", "2025-03-01")):
            conn.execute("INSERT INTO people (id, role, display_name, created_at)"
                         " VALUES (%s, %s, '', now())", (person, role))
            conn.execute("INSERT INTO accounts (person_id, login, password_hash, role,"
                         " department, created_at, site) VALUES (%s, %s, 'x', %s, %s, %s,"
                         " 'garden')", (person, login, role,
                                        "kefu" if role == "staff" else None, at))
        _apply(conn, upto=9999, since=12)
        rows = dict(conn.execute("SELECT person_id, login FROM accounts").fetchall())
        assert rows == {"m-1": "tiger9", "m-2": "tiger9~m-2", "KF-002": "kf002"}
        assert account_by_login(conn, "ＴＩＧＥＲ９").person_id == "m-1"  # type: ignore[union-attr]
        renamed = conn.execute("SELECT site, action, target, summary FROM audit_log").fetchall()
        assert len(renamed) == 1 and renamed[0][:3] == ("garden", "account.login_renamed",
                                                        "account:m-2")
        assert "'ＴＩＧＥＲ９'" in renamed[0][3] and "'tiger9~m-2'" in renamed[0][3]
        staff = conn.execute("SELECT staff_number FROM accounts WHERE role = 'staff'")
        assert staff.fetchall() == [("KF-002",)]
