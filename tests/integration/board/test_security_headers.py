"""Every response carries the security headers, and every page a Content-Security-Policy
that allows no inline code but the page's own <style> blocks, by hash (issue 14)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from services.board.middleware import page_policy

from .conftest import Site, report
from .test_pages import browser

_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>", re.DOTALL)


def _sources(policy: str, directive: str) -> list[str]:
    for part in policy.split(";"):
        name, *values = part.split()
        if name == directive:
            return values
    raise AssertionError(f"no {directive} in {policy!r}")


def _check_page(response: Any) -> None:
    where = response.request.url
    assert "text/html" in response.headers["content-type"], where
    policy = response.headers.get("content-security-policy", "")
    assert policy, f"{where}: no Content-Security-Policy"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, where
    assert _sources(policy, "default-src") == ["'none'"]
    assert _sources(policy, "frame-ancestors") == ["'none'"]
    assert _sources(policy, "form-action") == ["'self'"]
    assert _sources(policy, "script-src") == ["'none'"], where  # no page runs a script
    allowed = _sources(policy, "style-src")
    for block in _STYLE.findall(response.text):
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed, f"{where}: a <style> block is not allowed"
    # what the policy would refuse must not be on the page: it would silently not work
    assert not re.search(r"<[^>]+\sstyle=", response.text), f"{where}: a style attribute"
    assert not re.search(r"<[^>]+\son[a-z]+=", response.text), f"{where}: an event handler"
    assert "<script" not in response.text, where
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_every_page_carries_a_policy_its_page_satisfies(site: Site) -> None:
    ticket_id = report(site.as_("resident_a")).json()["id"]
    pages = {
        None: ["/login", "/join", "/login?lang=en", "/no-such-page"],
        "resident_a": ["/report", "/reports", f"/reports/{ticket_id}"],
        "kefu": ["/staff/queue", "/staff/tickets", f"/staff/tickets/{ticket_id}",
                 "/staff/offline"],
        "manager": ["/manager"],
        "auditor": ["/staff/tickets", f"/staff/tickets/{ticket_id}"],
    }
    seen = 0
    for who, paths in pages.items():
        client = browser(site, who)
        for path in paths:
            response = client.get(path, headers={"Accept": "text/html"})
            if "text/html" not in response.headers.get("content-type", ""):
                continue  # a redirect: it has a body of no kind
            _check_page(response)
            seen += 1
    assert seen >= 12
    # a refused form comes back as a page too, and a problem page with it
    failed = browser(site).post("/login", data={"login": "nobody", "password": "x"})
    assert failed.status_code == 401
    _check_page(failed)


def test_bulletin_pages_carry_the_policy(site: Site) -> None:
    for path in ("/bulletin", "/bulletin?lang=en"):
        response = site.anon.get(path, headers={"Accept": "text/html"})
        if "text/html" in response.headers.get("content-type", ""):
            _check_page(response)


def test_a_page_made_outside_the_app_carries_it_too(site: Site) -> None:
    """The 413 page the body limit answers with, before any route runs."""
    too_big = site.board.options.body_max_bytes + 1
    response = browser(site, "resident_a").post(
        "/report", content=b"x", headers={"Accept": "text/html",
                                          "Content-Length": str(too_big),
                                          "Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413
    _check_page(response)


def test_api_answers_may_run_nothing(site: Site) -> None:
    for response in (site.anon.get("/api/auth/me"), site.anon.get("/open311/v2/services.json"),
                     site.as_("kefu").get("/api/queue")):
        policy = response.headers["content-security-policy"]
        assert policy.startswith("default-src 'none'") and "frame-ancestors 'none'" in policy


def test_the_api_documentation_keeps_working() -> None:
    """/docs runs Swagger UI's inline script: allowed by its hash, and only there."""
    page = (b"<html><style>a{}</style><script src='https://cdn.jsdelivr.net/x.js'></script>"
            b"<script>const ui = SwaggerUIBundle({})</script></html>")
    policy = page_policy(page, docs=True)
    inline = base64.b64encode(hashlib.sha256(b"const ui = SwaggerUIBundle({})").digest())
    assert f"'sha256-{inline.decode()}'" in _sources(policy, "script-src")
    assert "https://cdn.jsdelivr.net" in _sources(policy, "script-src")
    assert _sources(page_policy(page), "script-src") != ["'none'"]  # hashes, never inline
    assert "unsafe-inline" not in policy
