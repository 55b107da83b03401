"""Fixtures for the massive actions: the people who launch them, a course catalogue, and ways to
wait for a job (a drained worker, or the job's own record)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dramatiq
import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server.app import create_app
from tasks.data.courses import add_course
from tasks.data.users import User, add_user
from tasks.jobs.model import Person
from tests.support.waiting import wait_until

CATALOGUE = {
    "CS101": "Introduction to programming",
    "MATH200": "Linear algebra",
    "SEC-110": "Information security awareness",
}


@pytest.fixture
def power_user(engine: Engine) -> Person:
    with engine.begin() as conn:
        user = add_user(conn, "pat@example.com", "Pat Power", "power_user")
    return Person(user.id, user.name)


@pytest.fixture
def catalogue(engine: Engine) -> dict[str, int]:
    """Course ids by code."""
    with engine.begin() as conn:
        return {code: add_course(conn, code, title).id for code, title in CATALOGUE.items()}


@pytest.fixture
def drain(worker: dramatiq.Worker) -> Callable[[], None]:
    """Wait until the in-process worker has processed every job message."""
    from tasks.worker import broker

    def wait() -> None:
        broker.join("jobs", timeout=120_000)
        worker.join()

    return wait


# -- the web edge: an app served in-process, and signed-in request headers per person -------

ORIGIN = {"origin": "http://testserver"}
PASSWORD = "correct horse battery"


@pytest.fixture
def people(engine: Engine) -> dict[str, User]:
    with engine.begin() as conn:
        return {
            "super": add_user(conn, "super@example.com", "Sue Super", "superadmin", PASSWORD),
            "super2": add_user(conn, "super2@example.com", "Sam Super", "superadmin", PASSWORD),
            "power": add_user(conn, "power@example.com", "Pat Power", "power_user", PASSWORD),
            "plain": add_user(conn, "plain@example.com", "Paul Plain", "user", PASSWORD),
        }


@pytest.fixture
def app(settings, runtime):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:  # one event loop for the app, its hub and every socket
        # Until the hub has subscribed, a socket that connects would get its snapshot twice
        # (once on connect, once when the subscription resyncs every socket).
        wait_until(lambda: app.state.hub.has_subscribed, 10, "the hub to subscribe")
        yield client


@pytest.fixture
def headers(client: TestClient, people: dict[str, User]) -> dict[str, dict[str, str]]:
    """Request headers (Origin and session cookie) for each person, signed in."""
    made = {}
    for name, user in people.items():
        response = client.post(
            "/login",
            data={"email": user.email, "password": PASSWORD},
            headers=ORIGIN,
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        made[name] = {**ORIGIN, "cookie": f"jobdeck_session={response.cookies['jobdeck_session']}"}
        client.cookies.clear()
    return made


@pytest.fixture
def signed_in(app, engine, runtime) -> Callable[[str, str], tuple[User, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """`signed_in(role, email)`: a new user and the headers of their signed-in browser (session
    cookie and Origin), without the slow password hash: the session is opened as a sign-in opens
    it after the password check (`Sessions.start`, test_signin.py covers the rest) and the cookie
    is signed as SessionMiddleware signs it."""
    import json
    from base64 import b64encode

    import itsdangerous

    from server.auth.sessions import Sessions

    signer = itsdangerous.TimestampSigner(app.state.settings.secret_key)
    sessions = Sessions(runtime)

    def sign_in(role: str, email: str) -> tuple[User, dict[str, str]]:
        with engine.begin() as conn:
            user = add_user(conn, email, email.split("@")[0].replace(".", " ").title(), role)
        data = b64encode(json.dumps({"sid": sessions.start(user.id)}).encode())
        cookie = f"jobdeck_session={signer.sign(data).decode()}"
        return user, {**ORIGIN, "cookie": cookie}

    return sign_in
