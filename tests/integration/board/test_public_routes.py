"""Nothing personal reaches the public or another resident (issue 14, section 1).

A week is filled with personal data in every place people write: a resident's report and
the information they add, a co-reporter's report, staff's request for information, notes,
results and reasons; names in Chinese and pinyin, phones, units and plates, of people the
estate's records know and of people they don't. The week's bulletin is published. Then
every GET route of the app (enumerated from `app.routes`, so a new route is walked too) is
requested anonymously and as the co-reporter, and the bulletin in every format and the
chain export; no served byte may hold any of the personal strings.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from psycopg_pool import ConnectionPool
from starlette.routing import Route

from services.board.deps import COOKIE
from services.bulletin.publish import publish
from services.config import EstateConfig
from services.store import bulletin_figures as bulletin_store
from services.tickets import Role
from services.tickets.chain import week_bounds, week_of

from .conftest import Account, Accounts, Site, add_account, jpeg, make_site, report

# a resident the records know (name, phone, unit) who also names a neighbour and a car
OWNER = {"name": "陈晓明", "phone": "13812345678", "unit": "5-0902"}
SECRETS = [
    "陈晓明", "Chen Xiaoming", "Xiaoming Chen", "13812345678", "138 1234 5678", "5-0902",
    "沪A·12345", "沪A12345",  # the owner's car
    "张伟", "Zhang Wei", "13800138001", "3-1203", "3栋12层03室",  # a neighbour named in text
    "王芳", "Wang Fang",  # a staff member named in staff's notes (KF-001)
    "李娜",  # the staff member who handles it (KF-002): staff are people too
    "欧阳娜娜",  # the co-reporter's name
    "zhangwei@example.com", "110101199003077777",
]


@dataclass
class Week:
    site: Site
    owner: Account
    co_reporter: Account
    tickets: list[int]
    week: str


def _act(client: Any, path: str, **body: Any) -> Any:
    response = client.post(path, json=body)
    assert response.status_code == 200, (path, response.text)
    return response.json()


@pytest.fixture
def week(pool: ConnectionPool, estate: EstateConfig, accounts: Accounts,
         tmp_path: Path) -> Iterator[Week]:
    owner = add_account(pool, estate, "owner", Role.RESIDENT, display=OWNER["name"],
                        phone=OWNER["phone"], building="b3", unit=OWNER["unit"])
    co = add_account(pool, estate, "co", Role.RESIDENT, display="欧阳娜娜",
                     phone="13988887777", building="b3", unit="3-0707")
    with make_site(pool, estate, accounts, tmp_path, reports_per_hour=1000) as site:
        a, b, kefu = site.as_(owner), site.as_(co), site.as_("kefu")
        first = report(a, category="lighting", building="b3", area="stairwell",
                       description="楼道灯坏了，我住5-0902，叫我陈晓明，电话13812345678，"
                                   "车牌沪A·12345，邻居3-1203 call me 张伟 13800138001").json()
        linked = report(b, category="lighting", building="b3", area="stairwell",
                        description="楼道灯一直不亮，欧阳娜娜 13988887777").json()
        assert linked["linked"] and linked["id"] == first["id"]
        tid = first["id"]
        _act(kefu, f"/api/tickets/{tid}/request-info",
             note="陈晓明先生您好，请补充照片；王芳会打13812345678联系您")
        info = a.post(f"/api/reports/{tid}/info", data={"note": "5-0902门口，沪A·12345旁边"})
        assert info.status_code == 200, info.text
        _act(kefu, f"/api/tickets/{tid}/accept", note="已联系 Chen Xiaoming (138 1234 5678)")
        _act(kefu, f"/api/tickets/{tid}/comment", note="Wang Fang 已回访 3栋12层03室 张伟")
        _act(kefu, f"/api/tickets/{tid}/verify", note="现场核实：5-0902 门口")
        _act(kefu, f"/api/tickets/{tid}/dispatch", department="engineering",
             assignee="GC-003")
        engineer = site.as_("engineer")
        _act(engineer, f"/api/tickets/{tid}/start",
             note="邮件 zhangwei@example.com，身份证110101199003077777")
        resolved = engineer.post(
            f"/api/tickets/{tid}/resolve",
            data={"note": "Replaced bulb outside flat 3-1203 for Zhang Wei (13800138001);"
                          " 王芳 checked 5-0902 with 陈晓明, car 沪A12345 moved"},
            files=[("photos", ("r.jpg", jpeg(), "image/jpeg"))])
        assert resolved.status_code == 200, resolved.text
        _act(kefu, f"/api/tickets/{tid}/close")
        other = report(a, category="litter", building=None, area="waste-station",
                       description="垃圾站满了 陈晓明 13812345678").json()["id"]
        _act(kefu, f"/api/tickets/{other}/reject",
             reason="重复报修，已与3-1203张伟(13800138001)沟通，李娜处理")
        now = site.board.clock()
        current = week_of(now, estate.site.tz)
        _, end = week_bounds(current, estate.site.tz)
        publish(pool, site.board.estate, current, now=end + timedelta(hours=1))
        yield Week(site, owner, co, [tid, other], current)


def _leaks(body: bytes, content_type: str) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type:  # escaped (\u9648) or not, the same characters
        with contextlib.suppress(ValueError):
            text += json.dumps(json.loads(text), ensure_ascii=False)
    flat = re.sub(r"\s+", " ", text).lower()
    return [s for s in SECRETS if s.lower() in flat]


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, route) for every route, through included routers (FastAPI keeps those as
    one entry each, holding the router, since 0.13x)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute | Route):
            yield prefix + route.path, route


def _paths(app: Any, week: Week) -> list[str]:
    """Every GET path of the app, with each path parameter filled from the fixtures."""
    values = {"ticket_id": [str(t) for t in week.tickets],
              "request_id": [str(t) for t in week.tickets], "week": [week.week]}
    out: list[str] = []
    for path, route in _routes(app.routes):
        if "GET" not in (route.methods or ()):
            continue
        paths = [path]
        for name in route.param_convertors:
            filled = values.get(name, ["1"])  # unknown parameters: a 404 is fine to walk
            paths = [p.replace(f"{{{name}}}", v) for p in paths for v in filled]
        out += paths
    return out


def _walk(week: Week, client: Any) -> dict[str, list[str]]:
    leaks: dict[str, list[str]] = {}
    paths = _paths(week.site.app, week)
    extra = [f"/bulletin/{week.week}?lang=en", f"/bulletin/{week.week}/print?lang=en",
             f"/bulletin/{week.week}/text?lang=en", "/open311/v2/requests.json?status=closed"]
    for path in paths + extra:
        response = client.get(path, follow_redirects=True)
        found = _leaks(response.content, response.headers.get("content-type", ""))
        if found:
            leaks[path] = found
    return leaks


def test_the_routes_walked_include_every_public_output(week: Week) -> None:
    paths = _paths(week.site.app, week)
    for needed in (f"/bulletin/{week.week}", f"/bulletin/{week.week}/print",
                   f"/bulletin/{week.week}/text", f"/bulletin/{week.week}/data.json",
                   "/bulletin/chain.json", "/open311/v2/requests.json",
                   f"/open311/v2/requests/{week.tickets[0]}.json",
                   f"/api/reports/{week.tickets[0]}"):
        assert needed in paths


def test_no_public_route_serves_personal_data(week: Week) -> None:
    chain = week.site.anon.get("/bulletin/chain.json")
    assert chain.status_code == 200 and week.week in chain.text  # the week is published
    assert _walk(week, week.site.anon) == {}


def test_the_chain_export_holds_no_personal_data(week: Week, pool: ConnectionPool) -> None:
    """What `sunlight bulletin export` writes: the stored chain, as it is."""
    with pool.connection() as conn:
        documents = bulletin_store.chain(conn, week.site.board.site)
    exported = json.dumps(documents, ensure_ascii=False, indent=1)
    assert week.week in exported and "GC-003" in exported  # staff by number
    assert _leaks(exported.encode(), "application/json") == []


def test_a_co_reporter_sees_no_one_elses_personal_data(week: Week) -> None:
    co = week.site.as_(week.co_reporter)
    co.cookies.set(COOKIE, week.co_reporter.token)  # the pages read the session cookie
    mine = co.get(f"/api/reports/{week.tickets[0]}")
    assert mine.status_code == 200 and "欧阳娜娜" in mine.text  # their own words, still
    leaks = _walk(week, co)
    for path, found in list(leaks.items()):
        # their own name is theirs to see, and a resident who reported a ticket is told
        # who handles it (李娜, as the actor of its history), though never in free text
        leaks[path] = [s for s in found if s not in ("欧阳娜娜", "李娜")]
    assert {path: found for path, found in leaks.items() if found} == {}


def test_the_owner_still_reads_their_own_words(week: Week) -> None:
    a = week.site.as_(week.owner)
    [mine] = a.get(f"/open311/v2/requests/{week.tickets[0]}.json").json()
    assert "陈晓明" in mine["description"] and "13812345678" in mine["description"]
    assert "5-0902" in a.get(f"/api/reports/{week.tickets[0]}").text
