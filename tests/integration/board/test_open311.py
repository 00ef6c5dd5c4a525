"""Open311 GeoReport v2 over the same tickets: services, a POST and reading it back."""

from __future__ import annotations

from datetime import datetime

from .conftest import Site, jpeg


def test_services_are_the_estate_categories(site: Site) -> None:
    services = site.anon.get("/open311/v2/services.json").json()
    codes = [s["service_code"] for s in services]
    assert codes == [c.code for c in site.board.estate.categories]
    litter = services[codes.index("litter")]
    assert litter == {"service_code": "litter", "service_name": "垃圾/杂物",
                      "description": "Litter and clutter", "metadata": False,
                      "type": "realtime", "keywords": "", "group": "保洁部"}
    english = site.anon.get("/open311/v2/services.json", headers={"Accept-Language": "en-GB"})
    assert english.json()[codes.index("litter")]["service_name"] == "Litter and clutter"


def test_post_and_read_back_a_request(site: Site) -> None:
    resident = site.as_("resident_a")
    posted = resident.post("/open311/v2/requests.json", data={
        "service_code": "litter", "description": "垃圾站旁有大件家具",
        "address_id": "waste-station", "email": "ignored@example.com",
    }, files=[("media", ("sofa.jpg", jpeg(), "image/jpeg"))])
    assert posted.status_code == 201, posted.text
    [created] = posted.json()
    rid = created["service_request_id"]
    assert created["service_notice"] == "received"

    [one] = resident.get(f"/open311/v2/requests/{rid}.json").json()
    assert one["service_request_id"] == rid and one["status"] == "open"
    assert one["service_code"] == "litter" and one["service_name"] == "垃圾/杂物"
    assert one["description"] == "垃圾站旁有大件家具"
    assert one["agency_responsible"] == "保洁部"
    assert one["address"] == "垃圾分类站" and one["address_id"] == "waste-station"
    assert one["status_notes"] == "reported"
    requested = datetime.fromisoformat(one["requested_datetime"])
    assert requested.utcoffset() is not None and requested.utcoffset().total_seconds() == 8 * 3600
    expected = datetime.fromisoformat(one["expected_datetime"])
    assert (expected - requested).total_seconds() == 24 * 3600  # litter: fixed within 24 h
    assert one["media_url"].startswith("http://testserver/api/media/")
    assert resident.get(one["media_url"]).status_code == 200
    [anonymous] = site.anon.get(f"/open311/v2/requests/{rid}.json").json()
    assert anonymous["media_url"] is None  # the public never gets a photo

    # the same ticket through the staff API, and its status after it is resolved
    staff = site.as_("kefu")
    ticket = staff.get(f"/api/tickets/{rid}").json()
    assert ticket["channel"] == "app" and ticket["source"] == "resident"
    for step, body in (("accept", {}), ("verify", {}),
                       ("dispatch", {"department": "cleaning", "assignee": "BJ-003"})):
        staff.post(f"/api/tickets/{rid}/{step}", json=body)
    site.as_("cleaner").post(f"/api/tickets/{rid}/start", json={})
    site.as_("cleaner").post(f"/api/tickets/{rid}/resolve", data={"note": "已清运"},
                             files=[("photos", ("r.jpg", jpeg(), "image/jpeg"))])
    [done] = site.anon.get(f"/open311/v2/requests/{rid}.json").json()
    assert done["status"] == "closed" and done["status_notes"] == "resolved: 已清运"
    assert done["expected_datetime"] is None

    listed = site.anon.get("/open311/v2/requests.json",
                           params={"service_code": "litter", "status": "closed"}).json()
    assert [r["service_request_id"] for r in listed] == [rid]
    assert site.anon.get("/open311/v2/requests.json", params={"status": "open"}).json() == []
    by_id = site.anon.get("/open311/v2/requests.json",
                          params={"service_request_id": f"{rid},999999"}).json()
    assert [r["service_request_id"] for r in by_id] == [rid]


def test_a_duplicate_post_is_linked_and_says_so(site: Site) -> None:
    data = {"service_code": "lighting", "description": "路灯不亮", "address_id": "b3/east-path"}
    first = site.as_("resident_a").post("/open311/v2/requests.json", data=data).json()[0]
    second = site.as_("resident_b").post("/open311/v2/requests.json", data=data).json()[0]
    assert second["service_request_id"] == first["service_request_id"]
    assert "2 residents reported" in second["service_notice"]


def test_bad_requests_are_problem_details(site: Site) -> None:
    resident = site.as_("resident_a")
    no_place = resident.post("/open311/v2/requests.json",
                             data={"service_code": "litter", "description": "x"})
    assert no_place.status_code == 422
    assert no_place.json()["errors"][0]["field"] == "address_id"
    url = resident.post("/open311/v2/requests.json", data={
        "service_code": "litter", "description": "x", "address_id": "garage",
        "media_url": "http://169.254.169.254/latest"})
    assert url.status_code == 422 and url.json()["errors"][0]["field"] == "media_url"
    unknown = resident.post("/open311/v2/requests.json", data={
        "service_code": "ufo", "description": "x", "address_id": "garage"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "category"
    missing = site.anon.get("/open311/v2/requests/999999.json")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    naive = site.anon.get("/open311/v2/requests.json", params={"start_date": "2026-11-01T00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "start_date"
    ids = site.anon.get("/open311/v2/requests.json", params={"service_request_id": "1,a"})
    assert ids.status_code == 422


def test_a_co_reporter_and_the_public_read_none_of_the_first_reporters_words(site: Site) \
        -> None:
    """Issue 14: B, linked as a duplicate of A's report, read A's text through Open311, and
    staff's request for information to A; the public read staff's notes unmasked."""
    a, b, kefu = site.as_("resident_a"), site.as_("resident_b"), site.as_("kefu")
    posted = a.post("/open311/v2/requests.json", data={
        "service_code": "lighting", "address_id": "b3/stairwell",
        "description": "楼道灯不亮，3-1203, call me 张伟 13800138001"})
    assert posted.status_code == 201, posted.text
    rid = posted.json()[0]["service_request_id"]
    linked = b.post("/open311/v2/requests.json", data={
        "service_code": "lighting", "address_id": "b3/stairwell", "description": "灯不亮了"})
    assert linked.json()[0]["service_request_id"] == rid
    secrets = ("3-1203", "张伟", "13800138001", "Zhang Wei")

    [seen_by_b] = b.get(f"/open311/v2/requests/{rid}.json").json()
    assert seen_by_b["description"] == "灯不亮了"  # B's own words, not A's
    [seen_by_a] = a.get(f"/open311/v2/requests/{rid}.json").json()
    assert "张伟 13800138001" in seen_by_a["description"]  # A's own words

    asked = kefu.post(f"/api/tickets/{rid}/request-info", json={"note": "请补充灯具的照片"})
    assert asked.status_code == 200, asked.text
    assert "请补充灯具的照片" in a.get(f"/api/reports/{rid}").text  # asked of A
    assert "请补充灯具的照片" not in b.get(f"/api/reports/{rid}").text  # not B's to read
    assert a.post(f"/api/reports/{rid}/info", data={"note": "已上传"}).status_code == 200

    for step, body in (("accept", {}), ("verify", {}),
                       ("dispatch", {"department": "engineering", "assignee": "GC-003"})):
        assert kefu.post(f"/api/tickets/{rid}/{step}", json=body).status_code == 200
    engineer = site.as_("engineer")
    engineer.post(f"/api/tickets/{rid}/start", json={})
    notes = "Replaced bulb outside flat 3-1203 for Zhang Wei (13800138001)"
    resolved = engineer.post(f"/api/tickets/{rid}/resolve", data={"note": notes},
                             files=[("photos", ("r.jpg", jpeg(), "image/jpeg"))])
    assert resolved.status_code == 200, resolved.text
    assert kefu.post(f"/api/tickets/{rid}/close", json={}).status_code == 200

    public = site.anon.get("/open311/v2/requests.json")
    [closed] = [r for r in public.json() if r["service_request_id"] == rid]
    assert closed["status"] == "closed" and closed["status_notes"].startswith("closed: ")
    assert "Replaced bulb outside flat" in closed["status_notes"]
    for response in (public, site.anon.get(f"/open311/v2/requests/{rid}.json"),
                     b.get(f"/open311/v2/requests/{rid}.json"), b.get(f"/api/reports/{rid}")):
        for secret in secrets:
            assert secret not in response.text, (response.request.url, secret)
    [staff_view] = kefu.get(f"/open311/v2/requests/{rid}.json").json()
    assert staff_view["status_notes"] == f"closed: {notes}"  # staff read it as written
