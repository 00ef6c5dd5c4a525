"""Every bad input answers RFC 9457 problem details, including FastAPI's own errors."""

from __future__ import annotations

from .conftest import Site

SHAPE = {"type", "title", "status", "detail"}


def test_validation_errors_list_each_field(site: Site) -> None:
    response = site.as_("manager").post("/api/invitations",
                                        json={"building": "b1", "uses": 0, "extra": 1})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem.keys() >= SHAPE and problem["status"] == 422
    assert problem["type"] == "/problems/validation"
    fields = {e["field"]: e for e in problem["errors"]}
    assert set(fields) == {"uses", "extra"}
    assert fields["uses"]["in"] == "body" and fields["uses"]["pointer"] == "#/uses"
    assert "greater than or equal to 1" in fields["uses"]["detail"]
    assert "uses" in problem["detail"] and "extra" in problem["detail"]


def test_passwords_are_never_echoed_in_errors(site: Site) -> None:
    response = site.anon.post("/api/auth/join", json={"code": "x", "login": "a b",
                                                      "password": "s3cret!"})
    assert response.status_code == 422 and "s3cret!" not in response.text


def test_broken_json_wrong_paths_and_methods(site: Site) -> None:
    broken = site.anon.post("/api/auth/login", content=b"{not json",
                            headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["detail"]
    for response, status in ((site.anon.get("/api/nothing-here"), 404),
                             (site.anon.delete("/api/auth/login"), 405),
                             (site.as_("kefu").get("/api/tickets/abc"), 422),
                             (site.as_("kefu").get("/api/tickets/999999"), 404)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json().keys() >= SHAPE and response.json()["status"] == status


def test_problem_types_explain_themselves(site: Site) -> None:
    described = site.anon.get("/problems/version-conflict")
    assert described.status_code == 200
    assert described.json()["title"] == "The ticket was changed by someone else"
    assert site.anon.get("/problems/nope").status_code == 404


def test_openapi_documents_the_api(site: Site) -> None:
    spec = site.anon.get("/openapi.json").json()
    assert {"/api/reports", "/api/queue", "/open311/v2/requests.json",
            "/api/tickets/{ticket_id}/resolve"} <= set(spec["paths"])
    assert {"bearer", "cookie"} <= set(spec["components"]["securitySchemes"])
    assert site.anon.get("/docs").status_code == 200


def test_health(site: Site) -> None:
    assert site.anon.get("/api/health").json() == {"status": "ok"}
    estate = site.anon.get("/api/estate").json()
    assert {"code": "litter", "name": "垃圾/杂物", "name_en": "Litter and clutter",
            "department": "cleaning", "default_priority": "normal",
            "priorities": ["normal"]} in estate["categories"]
    assert {"building": "b3", "area": "east-lobby", "label": "3号楼 · 东侧大堂"} in \
        estate["places"]
