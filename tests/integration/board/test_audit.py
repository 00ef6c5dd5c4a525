"""The audit log on the real PostgreSQL: staff and manager changes, sign-ins (failed ones
too), invitations and accounts are logged with who, role, what, when and from where, in the
change's own transaction; the table refuses edits; managers and auditors read it through
GET /api/audit (auditors without addresses), nobody else does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from services.store.audit import AuditEntry, record

from .conftest import PASSWORD, Site, report

pytestmark = pytest.mark.integration


def log(site: Site, **query: Any) -> list[dict[str, Any]]:
    answer = site.as_("manager").get("/api/audit", params={"limit": 200, **query})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_each_staff_action_is_logged_with_who_what_and_where(site: Site) -> None:
    tid = report(site.as_("resident_a"), category="cleaning", building="b1", area="lobby",
                 description="大堂地面有污渍，张三 13800000001").json()["id"]
    kefu = site.as_("kefu")
    assert kefu.post(f"/api/tickets/{tid}/accept", json={}).status_code == 200
    assert kefu.post(f"/api/tickets/{tid}/comment",
                     json={"note": "已致电业主 13800000001"}).status_code == 200
    assert kefu.post(f"/api/tickets/{tid}/reject", json={"reason": "物业已处理"}).status_code \
        == 200
    entries = log(site, target=f"ticket:{tid}")
    assert [e["action"] for e in entries] == ["ticket.reject", "ticket.comment",
                                              "ticket.accept"]
    reject, comment, accept = entries
    assert accept["person_id"] == "KF-002" and accept["role"] == "staff"
    assert accept["name"] == "李娜" and accept["address"] == site.address
    assert accept["summary"] == "reported → accepted"
    assert reject["summary"] == "accepted → rejected; reason: 物业已处理"
    # a note may quote a resident: it stays in the ticket's history, out of the log
    assert "13800000001" not in comment["summary"]
    at = datetime.fromisoformat(accept["at"])
    assert abs(at - datetime.now(UTC)) < timedelta(minutes=1)
    # the resident's own report is in the ticket's history, not here
    assert all(e["role"] != "resident" for e in log(site))


def test_offline_reports_and_duplicates_are_logged(site: Site) -> None:
    kefu = site.as_("kefu")
    created = kefu.post("/api/tickets", json={
        "channel": "phone", "category": "elevator", "building": "b5", "area": "elevator-hall",
        "description": "电梯异响", "priority": "emergency"}).json()["id"]
    primary = report(site.as_("resident_a"), category="lighting", building="b2",
                     area="lobby").json()["id"]
    duplicate = report(site.as_("resident_b"), category="litter", building="b2",
                       area="lobby").json()["id"]
    assert kefu.post(f"/api/tickets/{duplicate}/duplicate-of",
                     json={"primary_id": primary}).status_code == 200
    [opened] = log(site, target=f"ticket:{created}")
    assert opened["action"] == "ticket.open" and opened["summary"] == "phone report, elevator"
    [merged] = log(site, target=f"ticket:{duplicate}")
    assert merged["action"] == "ticket.duplicate"
    assert merged["summary"] == f"duplicate of #{primary}"


def test_sign_ins_are_logged_failed_ones_too_but_not_what_was_typed(site: Site) -> None:
    staff = site.accounts["engineer"]
    assert site.anon.post("/api/auth/login", json={"login": staff.login,
                                                   "password": "guess"}).status_code == 401
    assert site.anon.post("/api/auth/login", json={"login": staff.login,
                                                   "password": PASSWORD}).status_code == 200
    typo = f"my password {uuid.uuid4().hex[:6]}"  # typed into the login field by mistake
    assert site.anon.post("/api/auth/login", json={"login": typo,
                                                   "password": "x"}).status_code == 401
    resident = site.accounts["resident_a"]
    assert site.anon.post("/api/auth/login", json={"login": resident.login,
                                                   "password": PASSWORD}).status_code == 200
    mine = log(site, person=staff.id, action="login")
    assert [(e["action"], e["summary"]) for e in mine] == [
        ("login", ""), ("login.failed", "wrong password")]
    assert all(e["address"] == site.address and e["target"] == f"account:{staff.id}"
               for e in mine)
    failed = log(site, action="login.failed")
    unknown = [e for e in failed if e["role"] == "anonymous"]
    assert len(unknown) == 1 and unknown[0]["person_id"] is None
    assert typo not in str(log(site))
    assert resident.id not in str(log(site))  # residents' sign-ins are not logged


def test_invitations_and_accounts_made_by_the_manager_are_logged(site: Site) -> None:
    manager = site.as_("manager")
    issued = manager.post("/api/invitations", json={"building": "b5", "uses": 3}).json()
    login = f"kf-{uuid.uuid4().hex[:6]}"
    made = manager.post("/api/users", json={"login": login, "password": PASSWORD,
                                            "role": "auditor", "name": "第三方"})
    assert made.status_code == 201, made.text
    [invitation] = log(site, action="invitation")
    assert invitation["target"] == "building:b5"
    assert invitation["person_id"] == site.accounts["manager"].id
    assert invitation["summary"].startswith(f"invitation {issued['id']} ({issued['hint']}…):"
                                            " 3 uses")
    assert issued["code"] not in str(invitation)  # the code itself is shown once, never kept
    [account] = log(site, action="account.create")
    assert account["target"] == f"account:{made.json()['id']}"
    assert account["summary"] == f"auditor {login!r}"


def test_a_refused_change_leaves_no_entry(site: Site) -> None:
    tid = report(site.as_("resident_a"), category="lighting", area="lobby").json()["id"]
    stale = site.as_("kefu").post(f"/api/tickets/{tid}/accept", json={"version": 99})
    assert stale.status_code == 409
    assert log(site, target=f"ticket:{tid}") == []


def test_the_log_refuses_edits_and_deletions(pool: ConnectionPool) -> None:
    site = f"t{uuid.uuid4().hex[:10]}"
    with pool.connection() as conn:
        record(conn, AuditEntry(site=site, at=datetime.now(UTC), role="manager",
                                action="account.create", person_id="m-1"))
        conn.commit()
        for statement in (b"UPDATE audit_log SET summary = 'nothing happened'",
                          b"DELETE FROM audit_log", b"TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)
        with pytest.raises(ValueError):
            record(conn, AuditEntry(site=site, at=datetime.now(UTC), role="resident",
                                    action="login"))


def test_managers_and_auditors_read_the_log_a_page_at_a_time(site: Site) -> None:
    tid = report(site.as_("resident_a"), category="lighting", area="lobby").json()["id"]
    kefu = site.as_("kefu")
    for note in ("一", "二", "三"):
        assert kefu.post(f"/api/tickets/{tid}/comment", json={"note": note}).status_code == 200
    first = site.as_("manager").get("/api/audit", params={"action": "ticket", "limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2 and page["next_before"] == page["items"][-1]["id"]
    rest = site.as_("manager").get("/api/audit", params={
        "action": "ticket", "limit": 2, "before": page["next_before"]}).json()
    assert [e["action"] for e in rest["items"]] == ["ticket.comment"]
    assert rest["next_before"] is None
    # the auditor reads it all, but no one's address (personal data)
    audited = site.as_("auditor").get("/api/audit", params={"action": "ticket"})
    assert audited.status_code == 200
    assert [e["id"] for e in audited.json()["items"]] == \
        [e["id"] for e in page["items"] + rest["items"]]
    assert {e["address"] for e in audited.json()["items"]} == {None}
    for who in ("kefu", "resident_a"):
        refused = site.as_(who).get("/api/audit")
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
    assert site.anon.get("/api/audit").status_code == 401
    naive = site.as_("manager").get("/api/audit", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "since"
    later = datetime.now(UTC) + timedelta(hours=1)
    assert log(site, since=later.isoformat()) == []
    assert site.as_("manager").get("/api/audit", params={"action": "DROP TABLE"}) \
        .status_code == 422


def test_each_estate_reads_its_own_log(site: Site, pool: ConnectionPool) -> None:
    with pool.connection() as conn:
        record(conn, AuditEntry(site=f"other-{uuid.uuid4().hex[:6]}", at=datetime.now(UTC),
                                role="manager", action="account.create", person_id="m-x",
                                summary="on another estate"))
    assert "on another estate" not in str(log(site))


def test_the_operation_is_documented_with_its_problems(site: Site) -> None:
    operation = site.anon.get("/openapi.json").json()["paths"]["/api/audit"]["get"]
    for status in ("200", "401", "403", "422"):
        assert status in operation["responses"], status
    assert "application/problem+json" in operation["responses"]["403"]["content"]
