"""Personal data (name, phone, unit, account id) of residents never reaches another
resident, an auditor or the public; staff see it to call back."""

from __future__ import annotations

from .conftest import Site, report


def personal(site: Site, who: str) -> list[str]:
    account = site.accounts[who]
    assert account.phone and account.unit and account.name
    return [account.phone, account.unit, account.name, account.id, account.login]


def test_no_one_but_staff_sees_a_residents_personal_data(site: Site) -> None:
    a, b = site.as_("resident_a"), site.as_("resident_b")
    first = report(a, category="elevator", building="b3", area="elevator-hall",
                   description="电梯门关不上").json()
    linked = report(b, category="elevator", building="b3", area="elevator-hall",
                    description="电梯门夹人").json()
    assert linked["linked"] and linked["id"] == first["id"]
    own = report(b, category="security", building=None, area="north-gate",
                 description="北门门禁坏了").json()
    tid, b_ticket = first["id"], own["id"]
    kefu = site.as_("kefu")
    kefu.post(f"/api/tickets/{b_ticket}/request-info", json={"note": "请补充照片"})
    b.post(f"/api/reports/{b_ticket}/info", data={"note": "门禁屏幕黑了"})

    seen_by_a = [
        a.get(f"/api/reports/{tid}"), a.get("/api/reports"),
        a.get("/open311/v2/requests.json"), a.get(f"/open311/v2/requests/{b_ticket}.json"),
        a.get(f"/open311/v2/requests/{tid}.json"),
    ]
    auditor = site.as_("auditor")
    seen_by_auditor = [
        auditor.get("/api/tickets"), auditor.get(f"/api/tickets/{tid}"),
        auditor.get(f"/api/tickets/{b_ticket}"), auditor.get(f"/api/tickets/{tid}/history"),
        auditor.get("/api/queue"), auditor.get("/open311/v2/requests.json"),
    ]
    public = [site.anon.get("/open311/v2/requests.json"),
              site.anon.get(f"/open311/v2/requests/{tid}.json")]
    for response in seen_by_a + seen_by_auditor + public:
        assert response.status_code == 200, (response.request.url, response.text)
        for secret in personal(site, "resident_b"):
            assert secret not in response.text, (response.request.url, secret)
    for response in seen_by_auditor + public:
        for secret in personal(site, "resident_a"):
            assert secret not in response.text, (response.request.url, secret)

    # B's words on A's ticket stay with staff; A sees that a second resident reported
    mine = seen_by_a[0].json()
    assert "电梯门夹人" not in seen_by_a[0].text and mine["reporters"] == 2
    assert [r["mine"] for r in mine["reports"]] == [True, False]
    assert all(r["reporter"] is None for r in mine["reports"])
    history = seen_by_auditor[3].json()
    assert {h["actor"] for h in history if h["actor_role"] == "resident"} == {"resident"}

    # staff do see who reported, to call them back
    staff_view = kefu.get(f"/api/tickets/{tid}").json()
    assert staff_view["reporter"]["phone"] == site.accounts["resident_a"].phone
    assert staff_view["reports"][1]["reporter"]["unit"] == site.accounts["resident_b"].unit


def test_what_a_resident_wrote_stays_with_them_and_staff(site: Site) -> None:
    a = site.as_("resident_a")
    phone = site.accounts["resident_a"].phone
    made = report(a, category="lighting", building="b2", area="stairwell",
                  description=f"楼道灯坏了，我住2-1101，电话{phone}").json()
    public = site.anon.get(f"/open311/v2/requests/{made['id']}.json")
    assert public.status_code == 200 and phone not in public.text and "2-1101" not in public.text
    assert public.json()[0]["description"] == "照明故障 · 2号楼 · 楼道"
    assert phone not in site.anon.get("/open311/v2/requests.json").text
    auditor = site.as_("auditor")
    for path in (f"/api/tickets/{made['id']}", "/api/tickets"):
        assert phone not in auditor.get(path).text  # the auditor sees no personal data
    own = a.get(f"/open311/v2/requests/{made['id']}.json").json()[0]
    assert phone in own["description"]  # the reporter reads their own words
    assert phone in a.get(f"/api/reports/{made['id']}").text
    assert phone in site.as_("kefu").get(f"/api/tickets/{made['id']}").text
