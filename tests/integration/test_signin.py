"""Sign-in, sign-out, roles and cross-site protection: the real app on real Redis and SQLite.

The app runs under Starlette's TestClient (its lifespan included) at http://testserver, so a
same-origin request carries `Origin: http://testserver`; unsafe requests here set it explicitly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server.app import create_app
from server.auth.sessions import SESSION_TTL_S, Sessions, SignInRefused
from tasks.data.users import User, add_user, update_user
from tasks.runtime import Runtime
from tasks.settings import Settings

SITE = "http://testserver"
SAME_ORIGIN = {"Origin": SITE}
COOKIE = "jobdeck_session"
PASSWORD = "right-password-1"
GENERIC = "Wrong email address or password."


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url=SITE, follow_redirects=False) as client:
        yield client


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def add(engine: Engine, email: str, role: str, password: str = PASSWORD) -> User:
    with engine.begin() as conn:
        return add_user(conn, email, email.split("@")[0].title(), role, password)


def sign_in(
    client: TestClient, email: str, password: str = PASSWORD, **fields: str
) -> httpx.Response:
    return client.post(
        "/login", data={"email": email, "password": password, **fields}, headers=SAME_ORIGIN
    )


def session_cookie(response: httpx.Response) -> str:
    """The raw Set-Cookie header for the session cookie (exactly one is expected)."""
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def cookie_attributes(header: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in header.split(";")[1:]}


def with_cookie(client: TestClient, value: str | None) -> TestClient:
    """The same client holding exactly this session cookie (None: no cookie)."""
    client.cookies.clear()
    if value is not None:
        client.cookies.set(COOKIE, value)
    return client


def alert(response: httpx.Response) -> str:
    found = re.search(r'role="alert">([^<]*)<', response.text)
    assert found, response.text
    return found.group(1).strip()


def is_sent_to_login(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def signin_keys(r: redis.Redis) -> list[Any]:
    return sorted(r.scan_iter("jobdeck:signin*")) + sorted(r.scan_iter("jobdeck:session*"))


# -- the session cookie ----------------------------------------------------------------------


def test_sign_in_sets_an_httponly_samesite_lax_cookie(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    response = sign_in(client, "ada@example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    header = session_cookie(response)
    attributes = cookie_attributes(header)
    assert "httponly" in attributes
    assert re.search(r";\s*samesite=lax\b", header, re.IGNORECASE)
    assert "secure" not in attributes
    assert client.get("/admin").status_code == 200


def test_cookie_is_secure_when_base_url_is_https(settings: Settings, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    site = "https://jobs.example.com"  # the app answers only to its own host
    https = dataclasses.replace(settings, base_url=site)
    with TestClient(create_app(https), base_url=site, follow_redirects=False) as client:
        data = {"email": "ada@example.com", "password": PASSWORD}
        response = client.post("/login", data=data, headers={"Origin": site})
    assert response.status_code == 303
    attributes = cookie_attributes(session_cookie(response))
    assert {"secure", "httponly", "samesite"} <= attributes


def test_login_page_sets_no_cookie(client: TestClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert not response.headers.get_list("set-cookie")


# -- sign-out ----------------------------------------------------------------------------------


def test_sign_out_ends_the_session(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    sign_in(client, "ada@example.com")
    assert client.get("/admin").status_code == 200
    response = client.post("/logout", headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert is_sent_to_login(client.get("/admin"))


def test_copied_cookie_stops_working_after_sign_out(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    copied = cookie_value(session_cookie(sign_in(client, "ada@example.com")))
    assert with_cookie(client, copied).get("/admin").status_code == 200
    client.post("/logout", headers=SAME_ORIGIN)
    assert is_sent_to_login(with_cookie(client, copied).get("/admin"))
    assert with_cookie(client, copied).get("/api/jobs").status_code == 401


def test_no_session_record_outlives_its_sessions(
    client: TestClient, engine: Engine, redis_client: redis.Redis
) -> None:
    add(engine, "ada@example.com", "superadmin")
    sign_in(client, "ada@example.com")
    keys = list(redis_client.scan_iter("jobdeck:session*"))
    assert len(keys) == 2  # the session, and the user's set of sessions
    assert all(0 < redis_client.ttl(key) <= SESSION_TTL_S for key in keys)


# -- refusals ----------------------------------------------------------------------------------


def test_wrong_password_and_unknown_email_get_the_same_401(
    client: TestClient, engine: Engine
) -> None:
    add(engine, "ada@example.com", "superadmin")
    wrong_password = sign_in(client, "ada@example.com", "not-the-password")
    unknown_email = sign_in(client, "nobody@example.com", PASSWORD)
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert alert(wrong_password) == alert(unknown_email) == GENERIC
    assert not wrong_password.headers.get_list("set-cookie")
    assert not unknown_email.headers.get_list("set-cookie")


def test_inactive_user_gets_the_generic_401(client: TestClient, engine: Engine) -> None:
    ada = add(engine, "ada@example.com", "superadmin")
    with engine.begin() as conn:
        update_user(conn, ada.id, is_active=False)
    response = sign_in(client, "ada@example.com")
    assert response.status_code == 401
    assert alert(response) == GENERIC


@pytest.mark.parametrize(
    ("email", "password"), [("", ""), ("ada@example.com", ""), ("", PASSWORD), ("   ", PASSWORD)]
)
def test_empty_fields_get_400(
    client: TestClient, engine: Engine, email: str, password: str
) -> None:
    add(engine, "ada@example.com", "superadmin")
    response = sign_in(client, email, password)
    assert response.status_code == 400
    assert alert(response) == "Enter your email address and your password."


def test_missing_fields_get_400(client: TestClient) -> None:
    response = client.post("/login", data={}, headers=SAME_ORIGIN)
    assert response.status_code == 400


def test_ten_kilobyte_email_gets_400_and_writes_nothing(
    client: TestClient, engine: Engine, redis_client: redis.Redis
) -> None:
    add(engine, "ada@example.com", "superadmin")
    huge = "a" * 10_000 + "@example.com"
    response = sign_in(client, huge)
    assert response.status_code == 400
    assert alert(response) == "That email address or password is too long."
    assert "a" * 300 not in response.text
    assert not response.headers.get_list("set-cookie")
    assert signin_keys(redis_client) == []


def test_ten_failures_for_one_email_refuse_even_the_right_password(
    client: TestClient, engine: Engine
) -> None:
    add(engine, "ada@example.com", "superadmin")
    for attempt in range(10):
        assert sign_in(client, "ada@example.com", f"wrong-{attempt}").status_code == 401
    response = sign_in(client, "ada@example.com", PASSWORD)
    assert response.status_code == 429
    assert alert(response) == "Too many failed attempts. Wait a minute and try again."
    assert not response.headers.get_list("set-cookie")


def test_rate_limit_ignores_the_case_of_the_email(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    for attempt in range(10):
        email = "ADA@example.com" if attempt % 2 else "ada@EXAMPLE.com"
        assert sign_in(client, email, f"wrong-{attempt}").status_code == 401
    assert sign_in(client, "ada@example.com").status_code == 429


def test_ten_failures_from_one_address_refuse_other_emails(
    client: TestClient, engine: Engine
) -> None:
    add(engine, "ada@example.com", "superadmin")
    for attempt in range(10):
        assert sign_in(client, f"guess{attempt}@example.com", "x").status_code == 401
    assert sign_in(client, "ada@example.com").status_code == 429


def test_parallel_guesses_cannot_outrun_the_limit(runtime: Runtime, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    sessions = Sessions(runtime)

    async def guess(n: int) -> int:
        try:
            await sessions.sign_in("ada@example.com", f"wrong-{n}", "10.0.0.1")
        except SignInRefused as refused:
            return refused.status
        return 200

    async def guesses() -> list[int]:
        return await asyncio.gather(*(guess(n) for n in range(40)))

    statuses = asyncio.run(guesses())
    sessions.close()
    assert statuses.count(401) == 10
    assert statuses.count(429) == 30


def test_failures_from_other_addresses_do_not_lock_the_owner_out(
    runtime: Runtime, engine: Engine
) -> None:
    add(engine, "admin@example.com", "superadmin")
    sessions = Sessions(runtime)

    async def attack_then_sign_in() -> list[int]:
        statuses = []
        for n in range(30):  # case and spaces fold to the same account
            try:
                await sessions.sign_in("ADMIN@example.com ", "wrong", f"10.0.{n // 3}.1")
            except SignInRefused as refused:
                statuses.append(refused.status)
        user, _ = await sessions.sign_in("admin@example.com", PASSWORD, "192.0.2.7")
        assert user.email == "admin@example.com"
        return statuses

    assert asyncio.run(attack_then_sign_in()) == [401] * 30
    sessions.close()


def test_x_forwarded_for_is_not_believed_by_default(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    for n in range(10):
        forwarded = {**SAME_ORIGIN, "X-Forwarded-For": f"10.0.0.{n}"}
        data = {"email": f"guess{n}@example.com", "password": "x"}
        assert client.post("/login", data=data, headers=forwarded).status_code == 401
    forwarded = {**SAME_ORIGIN, "X-Forwarded-For": "10.9.9.9"}
    data = {"email": "ada@example.com", "password": PASSWORD}
    assert client.post("/login", data=data, headers=forwarded).status_code == 429


def test_x_forwarded_for_is_believed_from_forwarded_allow_ips(
    settings: Settings, engine: Engine
) -> None:
    # TestClient's peer is "testclient": trusting it stands for a proxy in FORWARDED_ALLOW_IPS.
    trusting = dataclasses.replace(settings, forwarded_allow_ips="testclient")
    add(engine, "ada@example.com", "superadmin")
    with TestClient(create_app(trusting), base_url=SITE, follow_redirects=False) as client:
        for n in range(10):
            forwarded = {**SAME_ORIGIN, "X-Forwarded-For": "10.0.0.1"}
            data = {"email": f"guess{n}@example.com", "password": "x"}
            assert client.post("/login", data=data, headers=forwarded).status_code == 401
        forwarded = {**SAME_ORIGIN, "X-Forwarded-For": "10.9.9.9"}
        data = {"email": "ada@example.com", "password": PASSWORD}
        assert client.post("/login", data=data, headers=forwarded).status_code == 303


def test_successful_sign_ins_do_not_count_as_failures(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    for _ in range(12):
        assert sign_in(client, "ada@example.com").status_code == 303
    assert sign_in(client, "ada@example.com", "wrong").status_code == 401


def test_nine_failures_still_let_the_right_password_in(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    for attempt in range(9):
        assert sign_in(client, "ada@example.com", f"wrong-{attempt}").status_code == 401
    assert sign_in(client, "ada@example.com").status_code == 303


# -- where sign-in leads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("next_", "location"),
    [
        ("/admin/background-jobs", "/admin/background-jobs"),
        ("/admin/background-jobs?tab=mine", "/admin/background-jobs?tab=mine"),
        ("//evil.com", "/admin"),
        ("/\\evil.com", "/admin"),
        ("https://evil.com/admin", "/admin"),
        ("javascript:alert(1)", "/admin"),
        ("", "/admin"),
    ],
)
def test_redirect_after_sign_in_only_to_local_paths(
    client: TestClient, engine: Engine, next_: str, location: str
) -> None:
    add(engine, "ada@example.com", "superadmin")
    response = sign_in(client, "ada@example.com", next=next_)
    assert response.status_code == 303
    assert response.headers["location"] == location


def test_login_form_never_carries_a_foreign_next(client: TestClient) -> None:
    response = client.get("/login", params={"next": "//evil.com"})
    assert response.status_code == 200
    assert "evil.com" not in response.text
    assert 'name="next" value="/admin"' in response.text


def test_stranger_is_sent_to_sign_in_and_back(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    response = client.get("/admin/background-jobs", params={"tab": "mine"})
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    target = parse_qs(location.query)["next"][0]
    assert target == "/admin/background-jobs?tab=mine"
    form = client.get("/login", params={"next": target})
    assert 'value="/admin/background-jobs?tab=mine"' in form.text
    signed_in = sign_in(client, "ada@example.com", next=target)
    assert signed_in.headers["location"] == target
    assert client.get(target).status_code == 200


def test_stranger_on_the_api_gets_401_json(client: TestClient) -> None:
    response = client.get("/api/jobs")
    assert response.status_code == 401
    assert response.json() == {"error": "Sign in first."}


# -- roles ---------------------------------------------------------------------------------------


def test_plain_user_gets_403_on_admin_pages_and_api(client: TestClient, engine: Engine) -> None:
    add(engine, "bob@example.com", "user")
    assert sign_in(client, "bob@example.com").status_code == 303
    page = client.get("/admin/background-jobs")
    assert page.status_code == 403
    assert "Not allowed" in page.text
    assert "Admin Menu" not in page.text
    api = client.get("/api/jobs")
    assert api.status_code == 403
    assert "error" in api.json()


def test_plain_user_sees_no_admin_menu(client: TestClient, engine: Engine) -> None:
    add(engine, "bob@example.com", "user")
    sign_in(client, "bob@example.com")
    home = client.get("/admin")
    assert home.status_code == 200
    assert "Admin Menu" not in home.text
    assert "/admin/background-jobs" not in home.text


@pytest.mark.parametrize("role", ["superadmin", "power_user"])
def test_admins_see_the_admin_menu(client: TestClient, engine: Engine, role: str) -> None:
    add(engine, "ada@example.com", role)
    sign_in(client, "ada@example.com")
    home = client.get("/admin")
    assert home.status_code == 200
    assert 'aria-label="Admin Menu"' in home.text
    assert "Advanced Settings" in home.text
    assert 'href="/admin/background-jobs"' in home.text
    assert client.get("/admin/background-jobs").status_code == 200
    assert client.get("/api/jobs").status_code == 200


def test_deactivated_user_loses_access_at_once(client: TestClient, engine: Engine) -> None:
    ada = add(engine, "ada@example.com", "superadmin")
    sign_in(client, "ada@example.com")
    assert client.get("/admin").status_code == 200
    with engine.begin() as conn:
        update_user(conn, ada.id, is_active=False)
    assert is_sent_to_login(client.get("/admin"))
    assert is_sent_to_login(client.get("/admin/background-jobs"))
    assert client.get("/api/jobs").status_code == 401


def test_demoted_user_loses_the_admin_pages_at_once(client: TestClient, engine: Engine) -> None:
    ada = add(engine, "ada@example.com", "power_user")
    sign_in(client, "ada@example.com")
    assert client.get("/admin/background-jobs").status_code == 200
    with engine.begin() as conn:
        update_user(conn, ada.id, role="user")
    assert client.get("/admin/background-jobs").status_code == 403


# -- session fixation ----------------------------------------------------------------------------


def test_sign_in_issues_a_new_session_and_ends_the_old_one(
    client: TestClient, engine: Engine
) -> None:
    add(engine, "ada@example.com", "superadmin")
    add(engine, "bob@example.com", "user")
    before = cookie_value(session_cookie(sign_in(client, "bob@example.com")))
    after = cookie_value(session_cookie(sign_in(client, "ada@example.com")))
    assert before != after
    assert with_cookie(client, after).get("/admin/background-jobs").status_code == 200
    assert is_sent_to_login(with_cookie(client, before).get("/admin"))


def test_signing_in_twice_as_the_same_user_changes_the_session(
    client: TestClient, engine: Engine
) -> None:
    add(engine, "ada@example.com", "superadmin")
    before = cookie_value(session_cookie(sign_in(client, "ada@example.com")))
    after = cookie_value(session_cookie(sign_in(client, "ada@example.com")))
    assert before != after
    assert is_sent_to_login(with_cookie(client, before).get("/admin"))
    assert with_cookie(client, after).get("/admin").status_code == 200


def test_forged_cookie_is_ignored(client: TestClient) -> None:
    assert is_sent_to_login(with_cookie(client, "eyJzaWQiOiAieCJ9.forged.sig").get("/admin"))


# -- cross-site protection -----------------------------------------------------------------------

UNSAFE = [("/logout", "post"), ("/api/jobs/x/abort", "post"), ("/login", "post")]


@pytest.mark.parametrize(("path", "method"), UNSAFE)
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.com"},
        {"Origin": "http://testserver.evil.com"},
        {"Origin": "https://testserver"},
        {"Origin": "null"},
        {"Referer": "http://evil.com/admin"},
        {"Origin": "http://evil.com", "Referer": f"{SITE}/admin"},
        {},
    ],
    ids=["foreign", "lookalike", "other-scheme", "null", "foreign-referer", "origin-wins", "none"],
)
def test_unsafe_request_from_elsewhere_gets_403(
    client: TestClient, engine: Engine, path: str, method: str, headers: dict[str, str]
) -> None:
    add(engine, "ada@example.com", "superadmin")
    sign_in(client, "ada@example.com")
    response = client.request(method, path, headers=headers)
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    assert client.get("/admin").status_code == 200, "the session must survive a refused request"


def test_same_origin_referer_alone_passes_the_check(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    sign_in(client, "ada@example.com")
    referer = {"Referer": f"{SITE}/admin/background-jobs"}
    abort = client.post("/api/jobs/x/abort", headers=referer)
    assert abort.status_code == 404
    logout = client.post("/logout", headers=referer)
    assert logout.status_code == 303
    assert is_sent_to_login(client.get("/admin"))


def test_same_origin_passes_the_check_for_the_api(client: TestClient, engine: Engine) -> None:
    add(engine, "ada@example.com", "superadmin")
    sign_in(client, "ada@example.com")
    assert client.post("/api/jobs/x/abort", headers=SAME_ORIGIN).status_code == 404


def test_safe_methods_need_no_origin(client: TestClient) -> None:
    assert client.get("/login").status_code == 200


# -- security headers ----------------------------------------------------------------------------


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize(("path", "is_signed_in"), [("/login", False), ("/admin", True)])
def test_pages_carry_security_headers(
    client: TestClient, engine: Engine, path: str, is_signed_in: bool
) -> None:
    if is_signed_in:
        add(engine, "ada@example.com", "superadmin")
        sign_in(client, "ada@example.com")
    response = client.get(path)
    assert response.status_code == 200
    csp = csp_directives(response)
    assert csp["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin")


def test_refusals_carry_security_headers_too(client: TestClient) -> None:
    response = client.post("/logout", headers={"Origin": "http://evil.com"})
    assert response.status_code == 403
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
