"""The web pages on the real PostgreSQL: who may open which page, same-origin form posts,
problems shown as readable pages, and each form reaching the same rules as the API."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.board.deps import COOKIE
from services.board.pages import csrf
from services.tickets import Role

from .conftest import PASSWORD, Account, Site, add_account, jpeg, make_site, report

pytestmark = pytest.mark.integration
ORIGIN = "http://testserver"  # TestClient's own origin: what a browser sends on its forms


def browser(site: Site, who: str | Account | None = None) -> Any:
    """A client like a browser: the session in the cookie, same-origin posts carrying the
    CSRF token its pages would hold (test_csrf.py reads it from the forms), no redirects."""
    client = site.anon
    client.follow_redirects = False
    client.headers["Origin"] = ORIGIN
    if who is not None:
        account = who if isinstance(who, Account) else site.accounts[who]
        client.cookies.set(COOKIE, account.token)
        client.headers[csrf.HEADER] = csrf.token_for(account.token)
    else:
        client.cookies.set(csrf.SEED_COOKIE, "a visitor's seed")
        client.headers[csrf.HEADER] = csrf.token_for("a visitor's seed")
    return client


@pytest.fixture
def neighbours(site: Site) -> tuple[Account, Account]:
    """Two residents of building 3 of their own: the shared ones' hourly report limit is
    left to the tests that are about it."""
    return tuple(add_account(site.board.pool, site.board.estate, name, Role.RESIDENT,
                             display=display, phone=phone, building="b3", unit=unit)
                 for name, display, phone, unit in (("zhang", "张三", "13800000001", "3-0801"),
                                                    ("li", "李四", "13900000002", "3-1202")))


def is_page(response: Any) -> bool:
    return response.headers["content-type"].startswith("text/html")


def test_anonymous_visitors_are_sent_to_sign_in_and_back(site: Site) -> None:
    anon = browser(site)
    for path in ("/report", "/reports", "/reports/1", "/staff/queue", "/staff/tickets/1",
                 "/staff/offline", "/manager"):
        answer = anon.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == f"/login?next={path.replace('/', '%2F')}"
    assert anon.get("/").headers["location"] == "/login"
    login = anon.get("/login?next=/reports")
    assert login.status_code == 200 and is_page(login)
    assert 'name="next" value="/reports"' in login.text and "登录" in login.text


def test_signing_in_sets_the_session_and_goes_back(site: Site) -> None:
    anon = browser(site)
    account = site.accounts["resident_a"]
    wrong = anon.post("/login", data={"login": account.login, "password": "nope",
                                      "next": "/reports"})
    assert wrong.status_code == 401 and is_page(wrong)
    assert "wrong login or password" in wrong.text and account.login in wrong.text
    done = anon.post("/login", data={"login": account.login, "password": PASSWORD,
                                     "next": "/reports"})
    assert done.status_code == 303 and done.headers["location"] == "/reports"
    assert COOKIE in done.cookies
    assert anon.get("/reports").status_code == 200
    # only paths on this site: never an open redirect
    again = browser(site).post("/login", data={"login": account.login, "password": PASSWORD,
                                               "next": "//evil.example/x"})
    assert again.headers["location"] == "/"
    assert browser(site, "resident_a").get("/").headers["location"] == "/reports"
    assert browser(site, "kefu").get("/").headers["location"] == "/staff/queue"
    assert browser(site, "manager").get("/").headers["location"] == "/manager"


def test_a_resident_cannot_open_staff_or_manager_pages(site: Site) -> None:
    resident = browser(site, "resident_a")
    for path in ("/staff/queue", "/staff/tickets", "/staff/offline", "/manager"):
        answer = resident.get(path)
        assert answer.status_code == 403 and is_page(answer), path
        assert "您的账号无权这样做" in answer.text
    english = resident.get("/staff/queue?lang=en")
    assert "Your account may not do this" in english.text
    posted = resident.post("/staff/tickets/1", data={"do": "accept"})
    assert posted.status_code == 403 and is_page(posted)


def test_staff_cannot_open_the_residents_or_managers_pages(site: Site) -> None:
    staff = browser(site, "kefu")
    for path in ("/report", "/reports", "/manager"):
        assert staff.get(path).status_code == 403, path
    auditor = browser(site, "auditor")
    assert auditor.get("/staff/tickets").status_code == 200
    assert auditor.get("/staff/offline").status_code == 403
    assert auditor.post("/staff/tickets/1", data={"do": "accept"}).status_code == 403


def test_a_resident_cannot_open_another_residents_report(site: Site, neighbours) -> None:
    zhang, li = neighbours
    mine = report(site.as_(zhang), description="楼道灯坏了 (a)").json()["id"]
    other = browser(site, li)
    answer = other.get(f"/reports/{mine}")
    assert answer.status_code == 404 and is_page(answer)
    assert "楼道灯坏了" not in answer.text
    tried = other.post(f"/reports/{mine}", data={"do": "rate", "rating": "1"})
    assert tried.status_code == 404 and is_page(tried)
    assert browser(site, zhang).get(f"/reports/{mine}").status_code == 200


def test_a_form_from_another_site_is_refused(site: Site) -> None:
    resident = browser(site, "resident_a")
    resident.headers["Origin"] = "https://evil.example"
    answer = resident.post("/report", data={"category": "lighting", "place": "b3:stairwell",
                                            "description": "x"})
    assert answer.status_code == 403 and is_page(answer)
    login = resident.post("/login", data={"login": site.accounts["resident_a"].login,
                                          "password": PASSWORD})
    assert login.status_code == 403 and COOKIE not in login.cookies


def test_a_report_form_with_problems_is_shown_again_with_them(site: Site, neighbours) -> None:
    resident = browser(site, neighbours[0])
    form = resident.get("/report")
    assert form.status_code == 200 and 'value="b3:stairwell"' in form.text
    # the resident's building comes first among the places
    assert form.text.index('label="3号楼"') < form.text.index('label="1号楼"')
    empty = resident.post("/report", data={"category": "lighting", "place": "b3:stairwell",
                                           "description": "  "})
    assert empty.status_code == 422 and is_page(empty)
    assert "有内容没有填好" in empty.text and "问题描述" in empty.text
    assert 'value="b3:stairwell" selected' in empty.text
    not_a_photo = resident.post(
        "/report", data={"category": "lighting", "place": "b3:stairwell",
                         "description": "灯不亮"},
        files=[("media", ("fake.jpg", b"GIF89a not a photo", "image/jpeg"))])
    assert not_a_photo.status_code == 415 and is_page(not_a_photo)
    assert "上传的文件没有被接受" in not_a_photo.text and "灯不亮" in not_a_photo.text
    unknown = resident.post("/report?lang=en", data={"category": "nope", "place": ":nowhere",
                                                     "description": "x"})
    assert unknown.status_code == 422 and "Some fields need attention" in unknown.text


def test_a_report_from_the_form_follows_the_api_rules(site: Site, neighbours) -> None:
    resident = browser(site, neighbours[0])
    sent = resident.post("/report", data={"category": "lighting", "place": "b3:stairwell",
                                          "description": "三楼楼道灯不亮"},
                         files=[("media", ("p.jpg", jpeg(), "image/jpeg"))])
    assert sent.status_code == 303
    location = sent.headers["location"]
    match = re.fullmatch(r"/reports/(\d+)\?done=reported", location)
    assert match, location
    page = resident.get(location)
    assert "报告已提交" in page.text and "三楼楼道灯不亮" in page.text
    assert "/api/media/" in page.text  # the photo, served by the media route
    listed = resident.get("/reports")
    assert f'id="r{match.group(1)}"' in listed.text
    # the same problem again is linked, as through the API
    again = browser(site, neighbours[1]).post(
        "/report", data={"category": "lighting", "place": "b3:stairwell",
                         "description": "楼道灯还是不亮"})
    assert again.headers["location"] == f"/reports/{match.group(1)}?done=linked"


def test_the_rate_limit_is_shown_on_the_page(pool, estate, accounts, tmp_path) -> None:
    with make_site(pool, estate, accounts, tmp_path, reports_per_hour=1) as limited:
        resident = browser(limited, add_account(pool, estate, "hasty", Role.RESIDENT))
        data = {"category": "lighting", "place": "b1:lobby", "description": "大堂灯不亮"}
        assert resident.post("/report", data=data).status_code == 303
        refused = resident.post("/report", data={**data, "place": "b2:lobby"})
        assert refused.status_code == 429 and is_page(refused)
        assert "提交太频繁" in refused.text


def test_staff_forms_report_stale_versions_and_missing_fields(site: Site, neighbours) -> None:
    ticket_id = report(site.as_(neighbours[0])).json()["id"]
    staff = browser(site, "kefu")
    page = staff.get(f"/staff/tickets/{ticket_id}")
    assert page.status_code == 200 and 'id="do-accept"' in page.text
    assert "13800000001" in page.text  # staff see the reporter's contact
    stale = staff.post(f"/staff/tickets/{ticket_id}", data={"do": "accept", "version": "0"})
    assert stale.status_code == 303
    again = staff.post(f"/staff/tickets/{ticket_id}", data={"do": "verify", "version": "0"})
    assert again.status_code == 409 and is_page(again)
    assert "工单刚被别人更新过" in again.text
    no_reason = staff.post(f"/staff/tickets/{ticket_id}", data={"do": "reject", "reason": ""})
    assert no_reason.status_code == 422 and "原因" in no_reason.text
    wrong_state = staff.post(f"/staff/tickets/{ticket_id}", data={"do": "start"})
    assert wrong_state.status_code == 409 and "工单当前的状态不允许这样做" in wrong_state.text
    unknown = staff.post(f"/staff/tickets/{ticket_id}", data={"do": "explode"})
    assert unknown.status_code == 422 and is_page(unknown)


def test_only_the_department_sees_the_handling_actions(site: Site, neighbours) -> None:
    ticket_id = report(site.as_(neighbours[0]), category="cleaning", area="lobby").json()["id"]
    kefu = browser(site, "kefu")
    for step in ("accept", "verify"):
        assert kefu.post(f"/staff/tickets/{ticket_id}", data={"do": step}).status_code == 303
    sent = kefu.post(f"/staff/tickets/{ticket_id}", data={"do": "dispatch",
                                                          "assignee": "BJ-002"})
    assert sent.status_code == 303
    assert 'id="do-start"' not in kefu.get(f"/staff/tickets/{ticket_id}").text
    # the API offers the same: what the department rule leaves to this user
    offered = site.as_("kefu").get(f"/api/tickets/{ticket_id}").json()["allowed_actions"]
    # handing it on is the department's too (issue 14: reassign was the way round the rule)
    assert "start" not in offered and "reassign" not in offered
    assert 'id="do-reassign"' not in kefu.get(f"/staff/tickets/{ticket_id}").text
    cleaner_page = browser(site, "cleaner").get(f"/staff/tickets/{ticket_id}").text
    assert 'id="do-start"' in cleaner_page and 'id="do-reassign"' in cleaner_page
    refused = kefu.post(f"/staff/tickets/{ticket_id}", data={"do": "start"})
    assert refused.status_code == 403 and is_page(refused)


def test_offline_reports_and_invitation_codes(site: Site) -> None:
    staff = browser(site, "kefu")
    assert "意见箱" in staff.get("/staff/offline").text
    bad = staff.post("/staff/offline", data={"channel": "web", "category": "lighting",
                                             "place": ":south-gate", "description": "灯"})
    assert bad.status_code == 422 and is_page(bad) and "渠道" in bad.text
    made = staff.post("/staff/offline", data={"channel": "phone", "category": "lighting",
                                              "place": ":south-gate",
                                              "description": "南门路灯不亮（电话）"})
    assert made.status_code == 303
    assert "南门路灯不亮" in staff.get(made.headers["location"]).text
    manager = browser(site, "manager")
    overview = manager.get("/manager")
    assert overview.status_code == 200 and 'href="/bulletin"' in overview.text
    issued = manager.post("/manager", data={"building": "b2", "uses": "3", "valid_days": "7"})
    assert issued.status_code == 201
    code = re.search(r'<span class="code">([^<]+)</span>', issued.text)
    assert code is not None
    assert browser(site).get(f"/join?code={code.group(1)}").status_code == 200
    joined = browser(site).post("/join", data={"code": code.group(1), "login": "page-joiner-"
                                               + code.group(1)[:4].lower(),
                                               "password": "long enough pw"})
    assert joined.status_code == 303 and joined.headers["location"] == "/report?done=joined"
    bad_code = browser(site).post("/join", data={"code": "NOPE-NOPE", "login": "whoever",
                                                 "password": "long enough pw"})
    assert bad_code.status_code == 422 and "邀请码" in bad_code.text
    assert "long enough pw" not in bad_code.text


def test_a_form_too_large_to_read_gets_a_page(pool, estate, accounts, tmp_path) -> None:
    with make_site(pool, estate, accounts, tmp_path, photo_max_mb=1,
                   video_max_mb=1) as small:
        huge = b"x" * (small.board.options.body_max_bytes + 1)
        answer = browser(small, "resident_a").post(
            "/report", content=huge, headers={"Content-Type": "multipart/form-data; boundary=x",
                                              "Accept": "text/html,application/xhtml+xml"})
        assert answer.status_code == 413 and is_page(answer)
        assert "文件太大" in answer.text and "10 MB" in answer.text


def test_a_resident_adds_information_reopens_once_and_rates_on_the_page(
        site: Site, neighbours) -> None:
    resident, staff = browser(site, neighbours[0]), browser(site, "kefu")
    sent = resident.post("/report", data={"category": "noise", "place": ":central-garden",
                                          "description": "深夜广场舞"})
    tid = int(sent.headers["location"].split("/")[2].split("?")[0])
    page = f"/reports/{tid}"
    assert 'id="provide-info"' not in resident.get(page).text
    asked = staff.post(f"/staff/tickets/{tid}", data={"do": "request_info",
                                                      "note": "请问几点开始？"})
    assert asked.status_code == 303
    shown = resident.get(page).text
    assert 'id="provide-info"' in shown and "请问几点开始？" in shown
    assert resident.get("/reports").text.count("等待您补充信息") == 1
    empty = resident.post(page, data={"do": "provide_info", "note": " "})
    assert empty.status_code == 422 and "有内容没有填好" in empty.text and "说明：" in empty.text
    info = resident.post(page, data={"do": "provide_info", "note": "每晚九点半"},
                         files=[("media", ("p.jpg", jpeg(color="blue"), "image/jpeg"))])
    assert info.status_code == 303 and info.headers["location"] == f"{page}?done=provide_info"
    assert "补充信息已提交" in resident.get(info.headers["location"]).text

    for do, extra in (("accept", {}), ("verify", {}), ("dispatch", {"assignee": "KF-003"}),
                      ("start", {})):
        assert staff.post(f"/staff/tickets/{tid}", data={"do": do, **extra}).status_code == 303
    no_photo = staff.post(f"/staff/tickets/{tid}", data={"do": "resolve", "note": "已沟通"})
    assert no_photo.status_code == 422 and "result photo" in no_photo.text
    resolved = staff.post(f"/staff/tickets/{tid}", data={"do": "resolve", "note": "已沟通"},
                          files=[("photos", ("r.jpg", jpeg(color="green"), "image/jpeg"))])
    assert resolved.status_code == 303

    shown = resident.get(page).text
    assert 'id="rate"' in shown and 'id="reopen"' in shown
    reopened = resident.post(page, data={"do": "reopen", "reason": "还是很吵"})
    assert reopened.status_code == 303
    assert "已派单" in resident.get(page).text
    staff.post(f"/staff/tickets/{tid}", data={"do": "start"})
    staff.post(f"/staff/tickets/{tid}", data={"do": "resolve", "note": "已调整时间"},
               files=[("photos", ("r.jpg", jpeg(color="green"), "image/jpeg"))])
    shown = resident.get(page).text
    assert 'id="reopen"' not in shown  # once only
    twice = resident.post(page, data={"do": "reopen", "reason": "again"})
    assert twice.status_code == 409 and "工单当前的状态不允许这样做" in twice.text
    bad = resident.post(page, data={"do": "rate", "rating": "6", "comment": "？"})
    assert bad.status_code == 422 and "评分" in bad.text and 'value="？"' not in bad.text
    assert "？</textarea>" in bad.text  # what was typed comes back
    rated = resident.post(page, data={"do": "rate", "rating": "4", "comment": "还行"})
    assert rated.status_code == 303
    done = resident.get(rated.headers["location"]).text
    assert "感谢您的评价" in done and "已关闭" in done and "★★★★☆" in done
