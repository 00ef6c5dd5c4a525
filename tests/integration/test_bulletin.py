"""The weekly bulletin on a hand-made week: every figure against a hand computation, the
publication chain, corrections, verification of tampered copies, and privacy.

Week 2026-W40 runs from Monday 2026-09-28 00:00 to Monday 2026-10-05 00:00, Shanghai
time. Tickets (ids ascending in this order):

G lighting lamp-b1-07, opened W39-10d, resolved a day later: done before the week, not
  listed, but one of the lamp's three tickets in four weeks (a hot spot).
F lighting lamp-b1-07, resident, opened day -3, accepted 1 h later, resolved day 4 10:00:
  carried over; time to fix 7 days; resolve deadline (3 days) missed.
A lighting lamp-b1-07, resident, opened day 0 10:00, accepted 2 h later, resolved day 1
  10:00 (24 h, met), rated 4.
B litter, camera, opened day 1 08:00, confirmed, accepted 13:00 (5 h > 4 h: response
  breached), resolved 20:00 (12 h, met).
C repair_emergency pump-b2, sensor, opened day 2 00:00, accepted 00:30 (met), never
  resolved: the 24 h deadline passed in the week (breached).
D cleaning, resident, opened day 3 10:00, rejected 11:00 as a duplicate.
E repair_routine, staff at the front desk, opened day 5 09:00, never accepted: the 24 h
  response deadline passed on day 6 (breached); resolution still running.
J litter, resident, opened day 6 20:00, accepted 21:00, resolved after the week ends:
  in progress at the cut-off.
H opened after the week: not listed.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from services.bulletin.publish import BulletinError, publish
from services.bulletin.text import render_text
from services.bulletin.view import readable
from services.cli import app
from services.config import EstateConfig, load_config
from services.store import bulletin_figures as store
from services.store.tickets import NewTicket, TicketStore
from services.tickets import Action, Actor, Channel, Command, Role, Source
from services.tickets.chain import verify_chain, week_bounds

pytestmark = pytest.mark.integration
WEEK = "2026-W40"
BASE = load_config("deploy/estate.example.yaml")
START, END = week_bounds(WEEK, BASE.site.tz)
STAFF = Actor("KF-002", Role.STAFF, "李娜")
SYSTEM = Actor("vision", Role.SYSTEM)
PERSONAL = {"name": "张三丰", "phone": "13812345678", "unit": "3-1201"}


def at(day: float, hour: float = 0.0) -> datetime:
    return START + timedelta(days=day, hours=hour)


class Week:
    def __init__(self, pool: ConnectionPool, estate: EstateConfig) -> None:
        self.store = TicketStore(pool)
        self.estate = estate
        self.ids: dict[str, int] = {}

    def open(self, key: str, category: str, source: Source, when: datetime, *,
             building: str = "b1", area: str = "stairwell", asset: str | None = None,
             reporter: str | None = None, description: str = "") -> None:
        c = self.estate.category(category)
        channel = {Source.RESIDENT: Channel.APP, Source.STAFF: Channel.FRONT_DESK}.get(
            source, Channel.DEVICE)
        actor = Actor(reporter, Role.RESIDENT) if reporter else (
            STAFF if source is Source.STAFF else SYSTEM)
        opened = self.store.open(NewTicket(
            site=self.estate.site.id, category=category, priority=c.default_priority,
            source=source, channel=channel, description=description or f"{category} {key}",
            building=building, area=area, opened_at=when,
            sla=self.estate.sla_target(category, c.default_priority), actor=actor,
            reporter_id=reporter, asset=asset,
            finding_key=f"test/{uuid.uuid4().hex}" if source in (Source.CAMERA, Source.SENSOR)
            else None), link_duplicates=False)
        assert opened.ticket.id is not None
        self.ids[key] = opened.ticket.id

    def do(self, key: str, action: Action, when: datetime, actor: Actor = STAFF,
           **fields: object) -> None:
        self.store.change(self.ids[key], Command(action, actor, when, **fields))  # type: ignore[arg-type]

    def fix(self, key: str, accepted: datetime, resolved: datetime | None, department: str,
            person: str) -> None:
        self.do(key, Action.ACCEPT, accepted)
        self.do(key, Action.VERIFY, accepted + timedelta(minutes=1))
        self.do(key, Action.DISPATCH, accepted + timedelta(minutes=2), department=department,
                assignee=person)
        worker = Actor(person, Role.STAFF, department=department)  # the department's own
        self.do(key, Action.START, accepted + timedelta(minutes=3), worker)
        if resolved is not None:
            self.do(key, Action.RESOLVE, resolved, worker, note="更换灯管，电话13900001111回访",
                    photos=("result/1.jpg",))


@pytest.fixture
def estate() -> EstateConfig:
    site = BASE.site.model_copy(update={"id": f"bulletin-{uuid.uuid4().hex[:8]}"})
    return BASE.model_copy(update={"site": site})


@pytest.fixture
def week(pool: ConnectionPool, estate: EstateConfig) -> Week:
    resident = f"res-{uuid.uuid4().hex[:8]}"
    with pool.connection() as conn:
        conn.execute("INSERT INTO people (id, role, display_name, phone, building, unit)"
                     " VALUES (%s, 'resident', %s, %s, 'b1', %s)",
                     (resident, PERSONAL["name"], PERSONAL["phone"], PERSONAL["unit"]))
    w = Week(pool, estate)
    lamp = "lamp-b1-07"
    w.open("G", "lighting", Source.SENSOR, at(-10, 10), asset=lamp)
    w.do("G", Action.CONFIRM, at(-10, 10.5))
    w.fix("G", at(-10, 11), at(-9, 10), "engineering", "GC-007")
    w.open("F", "lighting", Source.RESIDENT, at(-3, 10), asset=lamp, reporter=resident)
    w.fix("F", at(-3, 11), at(4, 10), "engineering", "GC-007")
    w.open("A", "lighting", Source.RESIDENT, at(0, 10), asset=lamp, reporter=resident,
           description=f"楼道灯不亮，我是{PERSONAL['unit']}的{PERSONAL['name']}，"
                       f"电话{PERSONAL['phone']}")
    w.fix("A", at(0, 12), at(1, 10), "engineering", "GC-007")
    w.do("A", Action.RATE, at(2), Actor(resident, Role.RESIDENT), rating=4, note="很快")
    w.open("B", "litter", Source.CAMERA, at(1, 8), building="b3")
    w.do("B", Action.CONFIRM, at(1, 9))
    w.fix("B", at(1, 13), at(1, 20), "cleaning", "BJ-002")
    w.open("C", "repair_emergency", Source.SENSOR, at(2), building="b2", area="lobby",
           asset="pump-b2")
    w.do("C", Action.CONFIRM, at(2, 0.25))
    w.fix("C", at(2, 0.5), None, "engineering", "GC-003")
    w.open("D", "cleaning", Source.RESIDENT, at(3, 10), reporter=resident)
    w.do("D", Action.REJECT, at(3, 11), reason="重复报告 (duplicate)")
    w.open("E", "repair_routine", Source.STAFF, at(5, 9), building="b2", area="lobby")
    w.open("J", "litter", Source.RESIDENT, at(6, 20), building="b4", area="lobby",
           reporter=resident)
    w.fix("J", at(6, 21), at(7, 2), "cleaning", "BJ-003")
    w.open("H", "litter", Source.RESIDENT, at(7, 1), reporter=resident)
    return w


def _content(pool: ConnectionPool, estate: EstateConfig) -> dict:
    """The published content as read (format 2 commits to each text: see view.readable)."""
    return readable(publish(pool, estate, WEEK).document)["content"]


def test_every_figure_matches_the_hand_computation(pool, estate, week) -> None:
    c = _content(pool, estate)
    ids = week.ids
    tickets = {t["number"]: t for t in c["tickets"]}
    listed = [ids[k] for k in "FABCDEJ"]
    assert sorted(tickets) == sorted(listed)
    assert c["opened_numbers"] == sorted(ids[k] for k in "ABCDEJ")
    s = c["summary"]
    assert (s["listed"], s["opened"], s["carried_over"], s["resolved_in_week"]) == (7, 6, 1, 3)
    assert s["by_status"] == {"resolved": 3, "in_progress": 3, "rejected": 1}
    assert s["by_state"] == {"closed": 1, "resolved": 2, "in_progress": 2, "rejected": 1,
                             "reported": 1}
    assert s["by_source"] == {"resident": 3, "camera": 1, "sensor": 1, "staff": 1}
    assert (s["machine_share"], s["resident_share"]) == (round(2 / 6, 4), round(4 / 6, 4))
    # time to fix of the tickets resolved in the week: A 24 h, B 12 h, F 168 h
    assert s["ttf_median_s"] == 24 * 3600
    assert s["ttf_p90_s"] == pytest.approx((24 + 0.8 * (168 - 24)) * 3600)  # percentile_cont
    lighting = next(x for x in s["by_category"] if x["category"] == "lighting")
    assert (lighting["listed"], lighting["opened"], lighting["resolved_in_week"]) == (2, 1, 2)
    assert lighting["ttf_median_s"] == (24 + 168) / 2 * 3600
    # response: met A, C, D, F, J; breached B (5 h > 4 h) and E (never accepted, due day 6)
    assert s["sla_response"] == {"met": 5, "breached": 2, "compliance": round(5 / 7, 4)}
    # resolution: met A, B; breached F (late) and C (due day 3, unresolved); D n/a; E, J run
    assert s["sla_resolution"] == {"met": 2, "breached": 2, "compliance": 0.5}
    assert tickets[ids["F"]]["sla_resolution"] == "breached"
    assert tickets[ids["J"]]["sla_resolution"] == "running"
    assert tickets[ids["J"]]["status_group"] == "in_progress"  # resolved after the cut-off
    assert tickets[ids["J"]]["time_to_fix_s"] is None
    assert tickets[ids["D"]]["sla_resolution"] == "n/a"
    assert s["satisfaction"] == {"average": 4.0, "ratings": 1,
                                 "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}}
    assert s["rejected"] == [{"number": ids["D"], "reason": "重复报告 (duplicate)"}]
    assert s["unresolvable"] == []
    assert s["hot_spots"] == [{"kind": "asset", "place": "lamp-b1-07", "tickets": 3,
                               "numbers": [ids["G"], ids["F"], ids["A"]],
                               "categories": ["lighting"], "advice": "consider_replacement"}]
    # departments: cleaning 1 met of 1 (B; J running) ranks before engineering 1 of 3
    ranking = [(d["rank"], d["department"], d["resolution"]["compliance"])
               for d in s["departments"]]
    assert ranking == [(1, "cleaning", 1.0), (2, "engineering", round(1 / 3, 4))]
    a = tickets[ids["A"]]
    assert (a["person"], a["department_name"], a["time_to_fix_s"]) == (
        "GC-007", "工程部", 24 * 3600)  # by staff number: a name is personal data
    assert a["opened_at"] == "2026-09-28T10:00:00+08:00"
    assert c["week_over_week"]["opened"] == {"this_week": 6, "last_week": 1, "change": 5}
    trend = {t["week_start"][:10]: (t["opened"], t["by_machines"]) for t in c["trend"]}
    assert trend["2026-09-28"] == (6, 2) and trend["2026-09-21"] == (1, 0)
    assert trend["2026-09-14"] == (1, 1)


def test_publishing_twice_returns_the_same_and_corrections_chain(pool, estate, week) -> None:
    first = publish(pool, estate, WEEK)
    again = publish(pool, estate, WEEK)
    assert first.created and not again.created and again.document == first.document
    with pytest.raises(BulletinError, match="reason"):
        publish(pool, estate, WEEK, correction="  ")
    with pytest.raises(BulletinError, match="not over"):
        publish(pool, estate, "2099-W01")
    with pytest.raises(BulletinError, match="never published"):
        publish(pool, estate, "2026-W41", correction="typo")
    week.do("E", Action.ACCEPT, at(20))  # later events do not change the week's figures
    fixed = publish(pool, estate, WEEK, correction="部门名称有误 / wrong department name")
    assert (fixed.document["revision"], fixed.document["n"]) == (2, 2)
    assert fixed.document["corrects"] == first.document["hash"]
    assert fixed.document["prev_hash"] == first.document["hash"]
    assert fixed.document["content"] == first.document["content"]
    with psycopg.connect(pool.conninfo) as conn, pytest.raises(psycopg.Error):
        conn.execute("UPDATE bulletins SET week = '2026-W41' WHERE site = %s",
                     (estate.site.id,))


def test_verify_catches_a_deleted_ticket_and_an_edited_figure(pool, estate, week,
                                                              tmp_path: Path) -> None:
    publish(pool, estate, "2026-W39")
    publish(pool, estate, WEEK)
    with pool.connection() as conn:  # as served: the texts are kept apart (format 2)
        chain = store.chain(conn, estate.site.id)
    assert verify_chain(chain, week=WEEK) == []
    anchor = chain[-1]["hash"]

    deleted = json.loads(json.dumps(chain))
    deleted[1]["content"]["tickets"] = [t for t in deleted[1]["content"]["tickets"]
                                        if t["number"] != week.ids["C"]]
    problems = verify_chain(deleted, week=WEEK)
    assert any("altered" in p for p in problems)
    assert any(f"#{week.ids['C']}" in p and "missing" in p for p in problems)

    edited = json.loads(json.dumps(chain))
    edited[1]["content"]["summary"]["sla_resolution"]["compliance"] = 0.99
    assert any("altered" in p for p in verify_chain(edited, week=WEEK))
    # a forger who recomputes every hash is caught by the hash on the notice board
    from services.tickets.chain import seal
    forged = [seal(edited[0])]
    forged.append(seal({**edited[1], "prev_hash": forged[0]["hash"]}))
    assert verify_chain(forged, week=WEEK) == []
    assert any("anchor" in p for p in verify_chain(forged, week=WEEK, anchor=anchor))

    # the command line, on downloaded copies, without any database
    runner = CliRunner()
    good, bad = tmp_path / "chain.json", tmp_path / "tampered.json"
    good.write_text(json.dumps(chain, ensure_ascii=False))
    bad.write_text(json.dumps(deleted, ensure_ascii=False))
    ok = runner.invoke(app, ["bulletin", "verify", WEEK, "--file", str(good), "--anchor",
                             anchor], env={"DATABASE_URL": "postgresql://nowhere:1/none"})
    assert ok.exit_code == 0, ok.output
    failed = runner.invoke(app, ["bulletin", "verify", WEEK, "--file", str(bad)])
    assert failed.exit_code == 1 and "altered" in failed.output


def test_no_personal_data_in_any_published_format(pool, estate, week) -> None:
    document = publish(pool, estate, WEEK).document
    outputs = [json.dumps(document, ensure_ascii=False), render_text(document, "zh-CN"),
               render_text(document, "en")]
    for text in outputs:
        for value in (*PERSONAL.values(), "13900001111"):
            assert value not in text
        assert "res-" not in text  # no resident account ids either
    text = render_text(document, "zh-CN")
    assert f"#{week.ids['A']} " in text and f"#{week.ids['H']} " not in text
    assert "GC-007" in text and "孙志刚" not in text and document["hash"] in text


def test_figures_do_not_change_when_published_later(pool, estate, week) -> None:
    before = _content(pool, estate)
    week.do("C", Action.RESOLVE, at(9), Actor("GC-003", Role.STAFF, department="engineering"),
            note="done", photos=("r.jpg",))
    week.do("E", Action.ACCEPT, at(9))
    from services.bulletin.publish import build_content
    from services.store.timescale import PLAIN
    with pool.connection() as conn:
        after = build_content(conn, estate, WEEK, PLAIN, previous_summary=None)
    assert after["tickets"] == before["tickets"] and after["summary"] == before["summary"]


def test_the_demo_week_of_sunlight_up_publishes_machine_and_resident_tickets(
        pool, estate) -> None:
    from datetime import UTC

    from services.bulletin.publish import last_due_week
    from services.stack.demo_history import STORIES, seed_week

    now = datetime.now(UTC)
    week = last_due_week(estate, now)
    assert seed_week(pool, estate, week) == len(STORIES)
    assert seed_week(pool, estate, week) == 0  # once
    content = publish(pool, estate, week, now=now).document["content"]
    sources = {t["source"] for t in content["tickets"]}
    assert {"resident", "camera", "sensor", "staff"} <= sources
    fixed = [t for t in content["tickets"] if t["time_to_fix_s"] is not None]
    assert {t["source"] for t in fixed} >= {"resident", "camera", "sensor"}
    assert content["summary"]["hot_spots"][0]["place"] == "lamp-b1-s3"
    assert content["summary"]["unresolvable"] and content["summary"]["rejected"]
