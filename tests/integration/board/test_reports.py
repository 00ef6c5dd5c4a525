"""Residents report with photos or a video, follow their reports, add information, rate,
reopen once; uploads are judged by content and stripped of GPS; reports are rate-limited."""

from __future__ import annotations

import io
import struct
import threading
import uuid
from contextlib import ExitStack
from pathlib import Path

from PIL import ExifTags, Image
from psycopg_pool import ConnectionPool

from services.config import EstateConfig

from .conftest import PASSWORD, Accounts, Site, add_account, jpeg, make_site, report


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 14.0, 5.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (121.0, 28.0, 0.0)
    data = jpeg(exif=exif)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it is there
    return data


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(seconds: int, location: bytes = b"+31.2304+121.4737/") -> bytes:
    mvhd = box(b"mvhd", bytes(4) + bytes(8) + struct.pack(">II", 1000, seconds * 1000)
               + bytes(80))
    udta = box(b"udta", box(b"\xa9xyz", struct.pack(">HH", len(location), 0) + location))
    return box(b"ftyp", b"isom" + bytes(4) + b"isomavc1") + box(b"moov", mvhd + udta) \
        + box(b"mdat", bytes(1024))


def test_a_report_with_a_gps_photo_keeps_the_photo_not_the_location(site: Site) -> None:
    resident = site.as_("resident_a")
    created = report(resident, photos=[gps_jpeg()])
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["linked"] is False and body["reporters"] == 1
    ticket = body["ticket"]
    assert ticket["state"] == "reported" and ticket["source"] == "resident"
    assert ticket["channel"] == "web" and ticket["location"] == "3号楼 · 楼道"
    assert ticket["mine"] is True and ticket["category_name"] == "照明故障"
    [photo] = ticket["photos"]
    assert photo["kind"] == "report" and photo["content_type"] == "image/jpeg"
    served = resident.get(photo["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (64, 48)
    assert not image.getexif() and b"Exif" not in served.content
    assert b"PhoneMaker" not in served.content
    # the file on disk is the cleaned one, under the data directory
    stored = list((site.data_dir / "media").rglob("*.jpg"))
    assert [p.read_bytes() for p in stored] == [served.content]


def test_exif_orientation_is_applied_before_the_metadata_goes(site: Site) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # rotate 90° when shown
    created = report(site.as_("resident_a"), photos=[jpeg(64, 48, exif=exif)])
    url = created.json()["ticket"]["photos"][0]["url"]
    image = Image.open(io.BytesIO(site.as_("resident_a").get(url).content))
    assert image.size == (48, 64) and not image.getexif()


def test_png_stays_png_without_its_text_chunks(site: Site) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "unit 3-0801, call 13800000001")
    out = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 255, 0, 128)).save(out, "PNG", pnginfo=info)
    created = report(site.as_("resident_a"), photos=[out.getvalue()])
    assert created.status_code == 201, created.text
    photo = created.json()["ticket"]["photos"][0]
    content = site.as_("resident_a").get(photo["url"]).content
    assert photo["content_type"] == "image/png" and b"13800000001" not in content
    assert Image.open(io.BytesIO(content)).mode == "RGBA"


def test_a_jpg_name_on_something_else_is_refused_and_nothing_is_kept(site: Site) -> None:
    resident = site.as_("resident_a")
    fake = report(resident, photos=[b"<html><script>alert(1)</script></html>"])
    assert fake.status_code == 415
    problem = fake.json()
    assert fake.headers["content-type"] == "application/problem+json"
    assert problem["type"] == "/problems/upload" and problem["errors"][0]["field"] == "media[0]"
    truncated = report(resident, photos=[jpeg()[:200]])
    assert truncated.status_code == 415
    assert resident.get("/api/reports").json()["items"] == []
    assert not list(site.data_dir.rglob("*.jpg"))


def test_limits_on_count_size_and_mixing(site: Site) -> None:
    resident = site.as_("resident_a")
    too_many = report(resident, photos=[jpeg()] * 10)
    assert too_many.status_code == 422 and "at most 9" in too_many.json()["detail"]
    mixed = report(resident, photos=[jpeg(), mp4(5)])
    assert mixed.status_code == 422 and "not both" in mixed.json()["detail"]
    # the shared resident reports in many tests: only the photo cap is under test here
    with make_site(site.board.pool, site.board.estate, site.accounts, site.data_dir,
                   photo_max_mb=1, reports_per_hour=1000) as small:
        big = jpeg(3000, 3000)
        noisy = Image.effect_noise((1500, 1500), 100).convert("RGB")
        buffer = io.BytesIO()
        noisy.save(buffer, "JPEG", quality=100)
        large = report(small.as_("resident_a"), photos=[buffer.getvalue()])
        assert len(buffer.getvalue()) > 2**20, "the test photo must exceed the cap"
        assert large.status_code == 413 and large.json()["type"] == "/problems/upload"
        assert report(small.as_("resident_a"), photos=[big]).status_code == 201  # small on disk


def test_the_whole_body_is_capped_before_it_is_read(site: Site) -> None:
    with make_site(site.board.pool, site.board.estate, site.accounts, site.data_dir,
                   photo_max_mb=1, video_max_mb=1) as small:
        huge = b"x" * (small.board.options.body_max_bytes + 1)
        response = small.as_("resident_a").post(
            "/api/reports", content=huge,
            headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"


def test_a_short_video_loses_its_location_and_a_long_one_is_refused(site: Site) -> None:
    resident = site.as_("resident_a")
    files = [("media", ("clip.mov", mp4(12), "video/quicktime"))]
    data = {"category": "litter", "area": "waste-station", "description": "垃圾站满溢"}
    created = resident.post("/api/reports", data=data, files=files)
    assert created.status_code == 201, created.text
    [video] = created.json()["ticket"]["photos"]
    assert video["content_type"] == "video/mp4"
    content = resident.get(video["url"]).content
    assert b"+31.2304" not in content and b"udta" not in content
    assert len(content) == len(mp4(12))  # blanked in place: every offset still holds
    long = resident.post("/api/reports", data=data,
                         files=[("media", ("long.mp4", mp4(300), "video/mp4"))])
    assert long.status_code == 415 and "at most 60 s" in long.json()["detail"]


def test_bad_fields_name_themselves(site: Site) -> None:
    resident = site.as_("resident_a")
    unknown = report(resident, category="ufo")
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"field": "category", "in": "body",
                                         "pointer": "#/category",
                                         "detail": "unknown category 'ufo'"}]
    place = report(resident, building="b3", area="rooftop-pool")
    assert place.status_code == 422 and place.json()["errors"][0]["field"] == "area"
    missing = resident.post("/api/reports", data={"category": "litter"})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"area", "description"}


def test_follow_add_information_rate_and_reopen_once(site: Site) -> None:
    resident, staff = site.as_("resident_a"), site.as_("kefu")
    tid = report(resident, category="noise", building=None, area="central-garden",
                 description="深夜广场舞").json()["id"]
    assert [t["id"] for t in resident.get("/api/reports").json()["items"]] == [tid]

    assert staff.post(f"/api/tickets/{tid}/request-info",
                      json={"note": "请问几点开始？"}).status_code == 200
    asked = resident.get(f"/api/reports/{tid}").json()
    assert asked["awaiting_reporter"] is True and "provide_info" in asked["allowed_actions"]
    info = resident.post(f"/api/reports/{tid}/info", data={"note": "每晚九点半"},
                         files=[("media", ("p.jpg", jpeg(color="blue"), "image/jpeg"))])
    assert info.status_code == 200, info.text
    assert info.json()["awaiting_reporter"] is False
    assert [p["kind"] for p in info.json()["photos"]] == ["report", "info"]

    for step, body in (("accept", {}), ("verify", {}),
                       ("dispatch", {"department": "kefu", "assignee": "KF-003"})):
        assert staff.post(f"/api/tickets/{tid}/{step}", json=body).status_code == 200
    assert staff.post(f"/api/tickets/{tid}/start", json={}).status_code == 200
    resolved = staff.post(f"/api/tickets/{tid}/resolve", data={"note": "已沟通，十点前结束"},
                          files=[("photos", ("r.jpg", jpeg(color="green"), "image/jpeg"))])
    assert resolved.status_code == 200, resolved.text
    mine = resident.get(f"/api/reports/{tid}").json()
    assert mine["state"] == "resolved" and mine["result_notes"] == "已沟通，十点前结束"
    result = [p for p in mine["photos"] if p["kind"] == "result"]
    assert len(result) == 1 and resident.get(result[0]["url"]).status_code == 200

    reopened = resident.post(f"/api/reports/{tid}/reopen", json={"reason": "还是很吵"})
    assert reopened.status_code == 200 and reopened.json()["state"] == "dispatched"
    staff.post(f"/api/tickets/{tid}/start", json={})
    staff.post(f"/api/tickets/{tid}/resolve", data={"note": "已调整时间"},
               files=[("photos", ("r.jpg", jpeg(color="green"), "image/jpeg"))])
    twice = resident.post(f"/api/reports/{tid}/reopen", json={"reason": "again"})
    assert twice.status_code == 409 and twice.json()["type"] == "/problems/transition"
    bad = resident.post(f"/api/reports/{tid}/rating", json={"rating": 6})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rating"
    rated = resident.post(f"/api/reports/{tid}/rating", json={"rating": 4, "comment": "还行"})
    assert rated.status_code == 200
    assert rated.json()["state"] == "closed" and rated.json()["rating"] == 4
    assert rated.json()["rating_comment"] == "还行"
    history = [h["action"] for h in rated.json()["history"]]
    assert history == ["open", "request_info", "provide_info", "accept", "verify", "dispatch",
                       "start", "resolve", "reopen", "start", "resolve", "rate"]


def test_reports_per_hour_are_limited_across_workers(pool: ConnectionPool,
                                                     estate: EstateConfig,
                                                     accounts: Accounts,
                                                     tmp_path: Path) -> None:
    # two apps are two workers: the count lives in PostgreSQL, not in either
    with ExitStack() as running:
        workers = [running.enter_context(make_site(pool, estate, accounts, tmp_path,
                                                   reports_per_hour=3))
                   for _ in range(2)]
        resident = add_account(pool, estate, "busy", accounts["resident_a"].role,
                               building="b1", unit="1-0101")
        areas = iter(["lobby", "elevator-hall", "garage-entrance", "stairwell"])
        assert report(workers[0].as_(resident), building="b1", area=next(areas)).status_code == 201
        assert report(workers[1].as_(resident), building="b1", area=next(areas)).status_code == 201
        assert report(workers[0].as_(resident), building="b1", area=next(areas)).status_code == 201
        refused = report(workers[1].as_(resident), building="b1", area=next(areas))
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert 3500 <= int(refused.headers["retry-after"]) <= 3600
        assert refused.json()["type"] == "/problems/rate-limited"


def test_concurrent_reports_cannot_slip_past_the_limit(pool: ConnectionPool,
                                                       estate: EstateConfig,
                                                       accounts: Accounts,
                                                       tmp_path: Path) -> None:
    with ExitStack() as running:
        workers = [running.enter_context(make_site(pool, estate, accounts, tmp_path,
                                                   reports_per_hour=2))
                   for _ in range(3)]
        resident = add_account(pool, estate, "burst", accounts["resident_a"].role)
        codes: list[int] = []
        areas = ["lobby", "elevator-hall", "garage-entrance", "stairwell", "east-lobby",
                 "east-path"]

        def send(i: int) -> None:
            response = report(workers[i % 3].as_(resident), building="b3", area=areas[i])
            codes.append(response.status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes) == [201, 201, 429, 429, 429, 429]


def test_a_resident_who_joined_reports_through_a_cookie(site: Site) -> None:
    code = site.as_("manager").post("/api/invitations", json={"building": "b2"}).json()["code"]
    client = site.anon
    joined = client.post("/api/auth/join", json={"code": code, "login": f"c-{uuid.uuid4().hex}"
                                                 [:20], "password": PASSWORD})
    assert joined.status_code == 201, joined.text
    created = report(client, building="b2", area="lobby")  # the cookie from join
    assert created.status_code == 201, created.text
