"""Each role tries what it must not do: anonymous 401, wrong role 403, someone else's 404."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Site, jpeg, report
from .test_staff import camera_finding

PHOTO = [("photos", ("r.jpg", jpeg(), "image/jpeg"))]


@pytest.fixture
def scene(site: Site) -> dict[str, Any]:
    """A resident's report with a photo, a camera finding, and resident B's report."""
    mine = report(site.as_("resident_a"), category="lighting", area="lobby").json()
    other = report(site.as_("resident_b"), category="noise", building=None,
                   area="clubhouse").json()
    finding, evidence = camera_finding(site)
    return {"mine": mine["id"], "photo": mine["ticket"]["photos"][0]["url"],
            "other": other["id"], "other_photo": other["ticket"]["photos"][0]["url"],
            "finding": finding,
            "evidence": f"/api/tickets/{finding}/evidence/{evidence.removeprefix('evidence/')}"}


def test_anonymous_gets_401_everywhere_but_public_reads(site: Site, scene: dict[str, Any]) \
        -> None:
    anon = site.anon
    refused = [
        anon.get("/api/auth/me"), anon.get("/api/reports"), anon.get(f"/api/reports/"
                                                                     f"{scene['mine']}"),
        report(anon), anon.get("/api/tickets"), anon.get("/api/queue"),
        anon.get(f"/api/tickets/{scene['mine']}"),
        anon.post(f"/api/tickets/{scene['finding']}/confirm", json={}),
        anon.get(scene["photo"]), anon.get(scene["evidence"]),
        anon.post("/api/invitations", json={"building": "b1"}),
        anon.post("/open311/v2/requests.json", data={"service_code": "litter",
                                                     "description": "x", "address_id": "garage"}),
    ]
    for response in refused:
        assert response.status_code == 401, (response.request.url, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["type"] == "/problems/unauthenticated"
    public = anon.get("/open311/v2/requests.json")
    assert public.status_code == 200 and all(r["media_url"] is None for r in public.json())
    assert anon.get("/open311/v2/services.json").status_code == 200


def test_a_resident_cannot_act_as_staff_or_manager(site: Site, scene: dict[str, Any]) -> None:
    resident = site.as_("resident_a")
    forbidden = [
        resident.post(f"/api/tickets/{scene['finding']}/confirm", json={}),
        resident.post(f"/api/tickets/{scene['mine']}/accept", json={}),
        resident.post(f"/api/tickets/{scene['mine']}/resolve", data={"note": "done"},
                      files=PHOTO),
        resident.get("/api/queue"),
        resident.get("/api/tickets"),
        resident.get(f"/api/tickets/{scene['mine']}"),
        resident.post("/api/tickets", json={"channel": "phone", "category": "litter",
                                            "area": "garage", "description": "x"}),
        resident.post("/api/invitations", json={"building": "b1"}),
        resident.post("/api/users", json={"login": "sneaky", "password": "12345678",
                                          "role": "manager"}),
    ]
    for response in forbidden:
        assert response.status_code == 403, (response.request.url, response.text)
        assert response.json()["type"] == "/problems/forbidden"


def test_a_resident_cannot_reach_another_residents_report(site: Site, scene: dict[str, Any]) \
        -> None:
    resident = site.as_("resident_a")
    other = scene["other"]
    hidden = [
        resident.get(f"/api/reports/{other}"),
        resident.post(f"/api/reports/{other}/rating", json={"rating": 1}),
        resident.post(f"/api/reports/{other}/reopen", json={"reason": "x"}),
        resident.post(f"/api/reports/{other}/info", data={"note": "x"}),
        resident.get(scene["other_photo"]),
        resident.get(scene["evidence"]),
        resident.get(f"/api/reports/{scene['finding']}"),
    ]
    for response in hidden:
        assert response.status_code == 404, (response.request.url, response.text)
    assert resident.get(scene["photo"]).status_code == 200  # their own, for contrast
    assert other not in {t["id"] for t in resident.get("/api/reports").json()["items"]}


def test_staff_cannot_act_as_residents_or_manager(site: Site, scene: dict[str, Any]) -> None:
    staff = site.as_("kefu")
    forbidden = [
        staff.post(f"/api/reports/{scene['mine']}/rating", json={"rating": 5}),
        staff.post(f"/api/reports/{scene['mine']}/reopen", json={"reason": "x"}),
        staff.get("/api/reports"),
        report(staff),
        staff.post("/open311/v2/requests.json", data={"service_code": "litter",
                                                      "description": "x",
                                                      "address_id": "garage"}),
        staff.post("/api/invitations", json={"building": "b1"}),
        staff.post("/api/users", json={"login": "mine2", "password": "12345678",
                                       "role": "manager"}),
    ]
    for response in forbidden:
        assert response.status_code == 403, (response.request.url, response.text)


def test_only_reviewers_send_back_a_resolution(site: Site, scene: dict[str, Any]) -> None:
    tid, kefu = scene["mine"], site.as_("kefu")
    for step, body in (("accept", {}), ("verify", {}),
                       ("dispatch", {"department": "kefu", "assignee": "KF-002"}),
                       ("start", {})):
        assert kefu.post(f"/api/tickets/{tid}/{step}", json=body).status_code == 200
    kefu.post(f"/api/tickets/{tid}/resolve", data={"note": "done"}, files=PHOTO)
    staff_try = kefu.post(f"/api/tickets/{tid}/send-back", json={"reason": "照片不清楚"})
    assert staff_try.status_code == 403 and "send_back" in staff_try.json()["detail"]
    manager = site.as_("manager").post(f"/api/tickets/{tid}/send-back",
                                       json={"reason": "照片不清楚"})
    assert manager.status_code == 200 and manager.json()["state"] == "in_progress"


def test_the_auditor_reads_everything_and_changes_nothing(site: Site, scene: dict[str, Any]) \
        -> None:
    auditor = site.as_("auditor")
    tid, finding = scene["mine"], scene["finding"]
    attempts = [
        auditor.post(f"/api/tickets/{finding}/confirm", json={}),
        auditor.post(f"/api/tickets/{finding}/reject", json={"reason": "x"}),
        auditor.post(f"/api/tickets/{tid}/accept", json={}),
        auditor.post(f"/api/tickets/{tid}/dispatch", json={"department": "kefu",
                                                           "assignee": "KF-002"}),
        auditor.post(f"/api/tickets/{tid}/resolve", data={"note": "x"}, files=PHOTO),
        auditor.post(f"/api/tickets/{tid}/comment", json={"note": "x"}),
        auditor.post(f"/api/tickets/{tid}/duplicate-of", json={"primary_id": scene["other"]}),
        auditor.post("/api/tickets", json={"channel": "phone", "category": "litter",
                                           "area": "garage", "description": "x"}),
        report(auditor),
        auditor.post(f"/api/reports/{tid}/rating", json={"rating": 1}),
        auditor.post("/api/invitations", json={"building": "b1"}),
    ]
    for response in attempts:
        assert response.status_code == 403, (response.request.url, response.text)
    detail = site.as_("kefu").get(f"/api/tickets/{tid}").json()
    assert detail["version"] == 0 and detail["state"] == "reported"  # untouched
    assert auditor.get("/api/tickets").status_code == 200
    assert auditor.get("/api/queue").status_code == 200
    seen = auditor.get(f"/api/tickets/{finding}").json()
    assert seen["allowed_actions"] == [] and seen["version"] is None
    assert auditor.get(scene["evidence"]).status_code == 200  # blurred camera evidence
    assert auditor.get(scene["photo"]).status_code == 404  # a resident's own photo
