"""Cross-site protection on every kind of response: security headers, no inline script or style
in any template, and WebSocket handshakes from elsewhere refused.

test_signin.py covers the Origin check of unsafe HTTP methods (foreign, look-alike, other
scheme, null, Referer only, none) and the headers of two pages; this covers the rest.
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import web
from server.auth.cross_site import trusted_origins
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import new_job_id
from tests.support.people import signed_in_people

STRICT_REFERRER = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


ROLES = {"super": "superadmin", "plain": "user"}

cast, people, headers = signed_in_people(ROLES)


def assert_security_headers(response) -> None:  # type: ignore[no-untyped-def]
    csp = response.headers.get("content-security-policy", "")
    directives = {p.split()[0]: p.split()[1:] for p in csp.split(";") if p.strip()}
    assert directives.get("script-src") == ["'self'"], csp
    assert directives.get("style-src") == ["'self'"], csp
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert directives.get("object-src") == ["'none'"], csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("referrer-policy") in STRICT_REFERRER


def a_job(store, owner) -> Job:  # type: ignore[no-untyped-def]
    job = Job(id=new_job_id(), kind="import_users", description="Import users from h.csv",
              owner=Person(owner.id, owner.name), created_at=time.time(), total=1)  # fmt: skip
    job = store.create(job)
    return store.transition(job.id, Event.START, at=time.time())


KINDS = [
    # (what, method, path, who, expected status)
    ("sign-in page", "GET", "/login", None, 200),
    ("HEAD of a page", "HEAD", "/login", None, 200),
    ("redirect", "GET", "/", None, 303),
    ("admin page", "GET", "/admin/background-jobs", "super", 200),
    ("htmx fragment", "GET", "/admin/background-jobs/{job}/errors-dialog", "super", 200),
    ("403 page", "GET", "/admin/background-jobs", "plain", 403),
    ("404 page", "GET", "/no/such/page", "super", 404),
    ("400 page", "GET", "/admin/background-jobs?status=bogus", "super", 400),
    ("405", "GET", "/logout", None, 405),
    ("JSON", "GET", "/api/jobs", "super", 200),
    ("JSON 401", "GET", "/api/jobs", None, 401),
    ("JSON 404", "GET", "/api/jobs/nope", "super", 404),
    ("CSV stream", "GET", "/api/jobs/{job}/errors.csv", "super", 200),
    ("OpenAPI document", "GET", "/api/openapi.json", None, 200),
    ("static file", "GET", "/static/jobdeck.js", None, 200),
    ("static 404", "GET", "/static/nothing.js", None, 404),
    ("415 upload refusal", "POST", "/api/imports/users", "super", 415),
    ("cross-site refusal", "POST", "/api/jobs/x/abort", "foreign", 403),
]


@pytest.mark.parametrize(
    ("what", "method", "path", "who", "status"), KINDS, ids=[k[0] for k in KINDS]
)
def test_every_kind_of_response_carries_the_security_headers(  # type: ignore[no-untyped-def]
    client, headers, people, store, what, method, path, who, status
) -> None:
    sent = {"origin": "http://testserver"}
    if who == "foreign":
        sent = {**headers["super"], "origin": "http://evil.example"}
    elif who:
        sent = headers[who]
    path = path.replace("{job}", a_job(store, people["super"]).id)
    response = client.request(method, path, headers=sent, follow_redirects=False)
    assert response.status_code == status, response.text[:300]
    assert_security_headers(response)


def test_server_errors_carry_the_security_headers_too(app) -> None:  # type: ignore[no-untyped-def]
    async def broken(request: Request) -> None:
        raise RuntimeError("a bug on purpose")

    app.router.routes.append(Route("/broken-on-purpose", broken))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken-on-purpose")
    assert response.status_code == 500
    assert "a bug on purpose" not in response.text
    assert_security_headers(response)


# -- templates: nothing that a CSP without 'unsafe-inline' would block -----------------------


class InlineFinder(HTMLParser):
    """Inline script, inline event handlers, style attributes and <style> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower(): value or "" for name, value in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in names.items():
            if name.startswith("on") or name.startswith("hx-on"):
                self.found.append(f"event handler attribute {name}")
            if name == "style":
                self.found.append("style attribute")
            if value.strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL in {name}")
            if name in ("hx-vals", "hx-headers") and value.strip().startswith("js:"):
                self.found.append(f"{name} evaluated as script")


TEMPLATES = sorted(Path(web.TEMPLATES).rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(web.TEMPLATES)))
def test_no_template_carries_inline_script_or_style(template: Path) -> None:
    source = re.sub(r"{[{%#].*?[}%#]}", "", template.read_text(), flags=re.S)
    finder = InlineFinder()
    finder.feed(source)
    assert finder.found == []


def test_htmx_is_told_not_to_inject_styles_or_evaluate_script() -> None:
    base = (Path(web.TEMPLATES) / "base.html").read_text()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", base)
    assert config, "base.html must configure htmx"
    import json

    settings = json.loads(config.group(1))
    assert settings["includeIndicatorStyles"] is False  # else htmx adds a <style> element
    assert settings["allowEval"] is False
    assert settings["allowScriptTags"] is False


def test_rendered_pages_carry_no_inline_script_or_style(client, headers, people, store) -> None:  # type: ignore[no-untyped-def]
    job = a_job(store, people["super"])
    for path in ["/admin", "/admin/background-jobs", f"/admin/background-jobs/{job.id}/errors",
                 "/admin/imports/users", "/admin/enrollments"]:  # fmt: skip
        finder = InlineFinder()
        finder.feed(client.get(path, headers=headers["super"]).text)
        assert finder.found == [], path
    finder = InlineFinder()
    finder.feed(client.get("/login").text)
    assert finder.found == []


# -- WebSocket handshakes from elsewhere (test_hub.py: a foreign Origin, and none) -------------


@pytest.mark.parametrize(
    "origin",
    ["http://testserver.evil.com", "https://testserver", "null", "http://evil.example"],
    ids=["look-alike", "other-scheme", "null", "foreign"],
)
def test_websocket_handshake_from_another_origin_is_refused(client, headers, origin) -> None:  # type: ignore[no-untyped-def]
    sent = {"cookie": headers["super"]["cookie"], "origin": origin}
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws/jobs", headers=sent) as ws:
            ws.receive_text()
    assert refused.value.code == 1008


def test_websocket_handshake_with_a_foreign_origin_but_own_referer_is_refused(
    client, headers
) -> None:  # type: ignore[no-untyped-def]
    sent = {**headers["super"], "origin": "http://evil.example",
            "referer": "http://testserver/admin"}  # fmt: skip
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws/jobs", headers=sent) as ws:
            ws.receive_text()


# -- DNS rebinding: a foreign name re-pointed at our address sends itself as Host and Origin ---


def test_a_request_whose_origin_is_only_its_own_host_is_refused(client, headers) -> None:  # type: ignore[no-untyped-def]
    # The site answers only to BASE_URL's host (test_host_header.py), so the request is refused
    # at the door; the Origin check alone trusts only BASE_URL's origin too (the test below).
    rebound = {**headers["super"], "host": "evil.example", "origin": "http://evil.example"}
    assert client.post("/logout", headers=rebound).status_code == 400
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws/jobs", headers=rebound) as ws:
            ws.receive_text()
    assert refused.value.code == 1008
    page = client.get("/admin/background-jobs", headers=headers["super"], follow_redirects=False)
    assert page.status_code == 200, "the refused sign-out ended the session"


def test_only_base_urls_origin_is_trusted_and_loopback_under_each_name() -> None:
    assert trusted_origins("https://jobs.example.com/") == {"https://jobs.example.com"}
    assert trusted_origins("http://127.0.0.1:8000") == {
        "http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"
    }  # fmt: skip
    assert "http://localhost:8001" not in trusted_origins("http://localhost:8000")
