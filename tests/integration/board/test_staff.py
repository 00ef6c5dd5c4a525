"""Staff: the machine-finding queue with evidence, every lifecycle step, offline reports,
duplicates, history, and 409 when two people change the same ticket."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.store import NewTicket
from services.tickets import Action, Actor, Channel, Command, Priority, Role, Source

from .conftest import Site, jpeg, report

VISION = Actor("vision", Role.SYSTEM, "vision service")


def camera_finding(site: Site, *, camera: str = "cam-b3-stairwell") -> tuple[int, str]:
    """A blocked-exit ticket as ingest opens it, with one evidence JPEG on disk."""
    board = site.board
    finding = uuid.uuid4().hex[:8]
    opened_at = datetime.now(UTC) - timedelta(minutes=5)
    ticket = board.tickets.open(NewTicket(
        site=board.site, category="fire_exit", priority=Priority.HIGH, source=Source.CAMERA,
        channel=Channel.DEVICE, description="消防通道堵塞: cam-b3-stairwell exit (box)",
        building="b3", area="stairwell", opened_at=opened_at,
        sla=board.estate.sla_target("fire_exit", Priority.HIGH), actor=VISION,
        asset=f"{camera}/exit", finding_key=f"camera/{finding}",
    )).ticket
    assert ticket.id is not None
    relative = f"evidence/{camera}/{finding}/m1.jpg"
    target = site.data_dir / relative
    target.parent.mkdir(parents=True)
    target.write_bytes(jpeg(color="gray"))
    board.tickets.change(ticket.id, Command(Action.ADD_EVIDENCE, VISION,
                                            opened_at + timedelta(seconds=1),
                                            note="detected box (score 0.91)",
                                            photos=(relative,)))
    return ticket.id, relative


def test_queue_lists_findings_with_their_evidence(site: Site) -> None:
    tid, relative = camera_finding(site)
    staff = site.as_("kefu")
    queue = staff.get("/api/queue")
    assert queue.status_code == 200
    [item] = queue.json()
    assert item["id"] == tid and item["state"] == "pending_confirmation"
    assert item["source"] == "camera" and item["version"] == 1
    [evidence] = item["evidence"]
    assert evidence["url"] == f"/api/tickets/{tid}/evidence/{relative.removeprefix('evidence/')}"
    image = staff.get(evidence["url"])
    assert image.status_code == 200 and image.content == (site.data_dir / relative).read_bytes()
    assert image.headers["x-content-type-options"] == "nosniff"
    # nothing outside the ticket's recorded evidence is served, whatever the path says
    for path in (f"/api/tickets/{tid}/evidence/../../etc/passwd",
                 f"/api/tickets/{tid}/evidence/%2e%2e/%2e%2e/etc/passwd",
                 f"/api/tickets/{tid}/evidence/{relative.removeprefix('evidence/')}x"):
        assert staff.get(path).status_code == 404


def test_confirm_or_reject_a_finding(site: Site) -> None:
    staff = site.as_("kefu")
    confirmed, _ = camera_finding(site)
    rejected, _ = camera_finding(site, camera="cam-waste-station")
    ok = staff.post(f"/api/tickets/{confirmed}/confirm", json={"note": "现场确认"})
    assert ok.status_code == 200 and ok.json()["state"] == "reported"
    no_reason = staff.post(f"/api/tickets/{rejected}/reject", json={})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    blank = staff.post(f"/api/tickets/{rejected}/reject", json={"reason": "   "})
    assert blank.status_code == 422
    no = staff.post(f"/api/tickets/{rejected}/reject", json={"reason": "误报：保洁推车经过"})
    assert no.status_code == 200
    assert no.json()["state"] == "rejected" and no.json()["reason"] == "误报：保洁推车经过"
    assert staff.get("/api/queue").json() == []


def test_the_whole_staff_workflow_with_result_photos(site: Site) -> None:
    tid, _ = camera_finding(site)
    kefu, engineer, cleaner = site.as_("kefu"), site.as_("engineer"), site.as_("cleaner")
    for step in ("confirm", "accept", "verify"):
        assert kefu.post(f"/api/tickets/{tid}/{step}", json={}).status_code == 200
    wrong = kefu.post(f"/api/tickets/{tid}/dispatch",
                      json={"department": "cleaning", "assignee": "GC-003"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "assignee"
    dispatched = kefu.post(f"/api/tickets/{tid}/dispatch",
                           json={"department": "engineering", "assignee": "GC-003"})
    assert dispatched.status_code == 200
    assert dispatched.json()["assignee_name"] == "陈建国"
    # another department's staff cannot handle it
    assert cleaner.post(f"/api/tickets/{tid}/start", json={}).status_code == 403
    assert engineer.post(f"/api/tickets/{tid}/start", json={}).status_code == 200
    no_photo = engineer.post(f"/api/tickets/{tid}/resolve", data={"note": "已清理"})
    assert no_photo.status_code == 422
    video = engineer.post(f"/api/tickets/{tid}/resolve", data={"note": "已清理"},
                          files=[("photos", ("v.mp4", b"\0\0\0\x10ftypisom\0\0\0\0",
                                             "video/mp4"))])
    assert video.status_code == 415
    resolved = engineer.post(f"/api/tickets/{tid}/resolve", data={"note": "已清理"},
                             files=[("photos", ("a.jpg", jpeg(), "image/jpeg")),
                                    ("photos", ("b.jpg", jpeg(color="blue"), "image/jpeg"))])
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["state"] == "resolved" and body["result_notes"] == "已清理"
    assert [p["kind"] for p in body["photos"]] == ["evidence", "result", "result"]
    closed = kefu.post(f"/api/tickets/{tid}/close", json={"note": "回访确认"})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    history = kefu.get(f"/api/tickets/{tid}/history").json()
    assert [h["action"] for h in history] == [
        "open", "add_evidence", "confirm", "accept", "verify", "dispatch", "start", "resolve",
        "close"]
    assert history[5]["actor"] == "KF-002" and history[5]["actor_name"] == "李娜"
    assert history[5]["data"] == {"department": "engineering", "assignee": "GC-003"}


def test_mark_unresolvable_needs_a_reason(site: Site) -> None:
    staff = site.as_("kefu")
    tid = report(site.as_("resident_a"), category="greenery", building=None,
                 area="central-garden", description="古树枯死").json()["id"]
    staff.post(f"/api/tickets/{tid}/accept", json={})
    assert staff.post(f"/api/tickets/{tid}/mark-unresolvable", json={}).status_code == 422
    done = staff.post(f"/api/tickets/{tid}/mark-unresolvable",
                      json={"reason": "属市政绿化，已转交街道"})
    assert done.status_code == 200 and done.json()["state"] == "unresolvable"


def test_offline_reports_carry_their_channel(site: Site) -> None:
    staff = site.as_("kefu")
    created = staff.post("/api/tickets", json={
        "channel": "phone", "category": "elevator", "building": "b5", "area": "elevator-hall",
        "description": "电梯异响（电话报修）", "priority": "emergency"})
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert ticket["source"] == "staff" and ticket["channel"] == "phone"
    assert ticket["priority"] == "emergency" and ticket["state"] == "reported"
    opened = datetime.fromisoformat(ticket["opened_at"])
    due = datetime.fromisoformat(ticket["respond_due_at"])
    assert due - opened == timedelta(minutes=15)  # the emergency elevator SLA
    wrong = staff.post("/api/tickets", json={
        "channel": "app", "category": "elevator", "area": "lobby", "description": "x"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "channel"
    no_sla = staff.post("/api/tickets", json={
        "channel": "front_desk", "category": "noise", "area": "clubhouse",
        "description": "x", "priority": "low"})
    assert no_sla.status_code == 422 and no_sla.json()["errors"][0]["field"] == "priority"


def test_reports_of_an_open_problem_are_linked_not_lost(site: Site) -> None:
    first = report(site.as_("resident_a"), category="water_leak", area="garage-entrance")
    second = report(site.as_("resident_b"), category="water_leak", area="garage-entrance")
    assert first.json()["linked"] is False
    assert second.json()["linked"] is True and second.json()["id"] == first.json()["id"]
    assert second.json()["reporters"] == 2
    # the second reporter follows it too, but it is not theirs to rate
    follows = site.as_("resident_b").get("/api/reports").json()["items"]
    assert [t["id"] for t in follows] == [first.json()["id"]] and follows[0]["mine"] is False


def test_staff_link_duplicates_and_the_duplicate_reporter_follows(site: Site) -> None:
    staff = site.as_("kefu")
    primary = report(site.as_("resident_a"), category="cleaning", building="b1", area="lobby",
                     description="大堂地面有污渍").json()["id"]
    duplicate = report(site.as_("resident_b"), category="litter", building="b1", area="lobby",
                       description="大堂有垃圾").json()["id"]
    itself = staff.post(f"/api/tickets/{primary}/duplicate-of", json={"primary_id": primary})
    assert itself.status_code == 422
    merged = staff.post(f"/api/tickets/{duplicate}/duplicate-of", json={"primary_id": primary})
    assert merged.status_code == 200, merged.text
    assert merged.json()["id"] == primary and merged.json()["reporters"] == 2
    assert [r["description"] for r in merged.json()["reports"]] == ["大堂地面有污渍", "大堂有垃圾"]
    dup = staff.get(f"/api/tickets/{duplicate}").json()
    assert dup["state"] == "rejected" and dup["reason"] == f"duplicate of #{primary}"
    follows = {t["id"] for t in site.as_("resident_b").get("/api/reports").json()["items"]}
    assert follows == {primary, duplicate}
    again = staff.post(f"/api/tickets/{duplicate}/duplicate-of", json={"primary_id": primary})
    assert again.status_code == 409  # a rejected ticket cannot be rejected again


def test_a_stale_version_is_409_and_nothing_changes(site: Site) -> None:
    tid = report(site.as_("resident_a"), category="lighting", area="lobby").json()["id"]
    kefu, manager = site.as_("kefu"), site.as_("manager")
    seen = kefu.get(f"/api/tickets/{tid}").json()["version"]
    assert manager.post(f"/api/tickets/{tid}/accept", json={"version": seen}).status_code == 200
    late = kefu.post(f"/api/tickets/{tid}/reject", json={"version": seen, "reason": "重复"})
    assert late.status_code == 409
    problem = late.json()
    assert problem["type"] == "/problems/version-conflict"
    assert problem["current_version"] == seen + 1 and problem["ticket_id"] == tid
    assert kefu.get(f"/api/tickets/{tid}").json()["state"] == "accepted"


def test_lists_filter_and_page(site: Site) -> None:
    staff = site.as_("kefu")
    ids = [report(site.as_("resident_a"), category="lighting", building="b2", area=a)
           .json()["id"] for a in ("lobby", "elevator-hall", "stairwell")]
    camera, _ = camera_finding(site)
    page = staff.get("/api/tickets", params={"limit": 2}).json()
    assert [t["id"] for t in page["items"]] == [camera, ids[2]]
    rest = staff.get("/api/tickets", params={"limit": 2, "before": page["next_before"]}).json()
    assert [t["id"] for t in rest["items"]] == [ids[1], ids[0]] and rest["next_before"] == ids[0]
    machines = staff.get("/api/tickets", params={"source": "camera"}).json()["items"]
    assert [t["id"] for t in machines] == [camera]
    states = staff.get("/api/tickets", params=[("state", "reported"),
                                               ("state", "pending_confirmation")]).json()
    assert len(states["items"]) == 4
    bad = staff.get("/api/tickets", params={"state": "lost"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["in"] == "query"


def test_another_department_cannot_take_a_ticket_by_reassigning_it(site: Site) -> None:
    """Issue 14: cleaning staff reassigned engineering's ticket to themselves, started and
    resolved it, and the engineer was refused. Now the reassign is refused (403) and
    offered to nobody outside the department; a manager may still move it."""
    tid, _ = camera_finding(site)
    kefu, engineer, cleaner = site.as_("kefu"), site.as_("engineer"), site.as_("cleaner")
    for step in ("confirm", "accept", "verify"):
        assert kefu.post(f"/api/tickets/{tid}/{step}", json={}).status_code == 200
    assert kefu.post(f"/api/tickets/{tid}/dispatch", json={
        "department": "engineering", "assignee": "GC-003"}).status_code == 200
    assert "reassign" not in cleaner.get(f"/api/tickets/{tid}").json()["allowed_actions"]
    taken = cleaner.post(f"/api/tickets/{tid}/reassign", json={
        "department": "cleaning", "assignee": "BJ-002", "reason": "我来处理"})
    assert taken.status_code == 403, taken.text
    assert "engineering" in taken.json()["detail"]
    ticket = engineer.get(f"/api/tickets/{tid}").json()
    assert (ticket["department"], ticket["assignee"]) == ("engineering", "GC-003")
    assert "reassign" in ticket["allowed_actions"]
    assert engineer.post(f"/api/tickets/{tid}/start", json={}).status_code == 200
    # the owning department hands it on; then it is the new department's alone
    moved = engineer.post(f"/api/tickets/{tid}/reassign", json={
        "department": "cleaning", "assignee": "BJ-002", "reason": "是保洁的活"})
    assert moved.status_code == 200 and moved.json()["department"] == "cleaning"
    back = engineer.post(f"/api/tickets/{tid}/reassign", json={
        "department": "engineering", "assignee": "GC-003", "reason": "拿回来"})
    assert back.status_code == 403
    manager = site.as_("manager").post(f"/api/tickets/{tid}/reassign", json={
        "department": "engineering", "assignee": "GC-003", "reason": "经理调整"})
    assert manager.status_code == 200 and manager.json()["department"] == "engineering"
