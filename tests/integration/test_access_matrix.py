"""Who may do what: one table of every route × visitor × job owner, and the tests made from it.

ROUTES has one row per route of `create_app()` (and a few query variants that change the
answer). A row reads:

    R(METHOD, PATH, JOB,  anonymous, plain user, Power User A, Power User B, Superadmin)

- METHOD: an HTTP method, or "WS" for a WebSocket handshake.
- PATH: the route's path as written in its Route (`{id}` is filled with a job's id), or a
  concrete URL under a Mount (`/static/...`); a query string may follow for a variant row.
- JOB: None when the route concerns no job; else the state the job must be in for the action
  to be possible ("queued", "running", "paused" or "ended"). A fresh job is made for every visitor × owner cell.
- each visitor's expected outcome: one value for every owner, or a tuple of three values for
  (A's job, B's job, the Superadmin's job). A value is an HTTP status (int), LOGIN (303 to the
  sign-in page, with `next`), J401 (401 with a JSON error), "303 /admin" (a redirect there),
  OPEN (the socket is accepted) or CLOSED (the socket is closed with 1008).
  Every API refusal (4xx under /api/) must also be JSON with an "error".

Adding a route is adding one row, for example:

    R("GET", "/healthz", None, 200, 200, 200, 200, 200),

`test_every_route_has_a_row` fails for a route without a row (and for a row without a route).

SHOWN is the second table: what a listing or a socket shows a visitor of each owner's jobs
(SEES or NEVER). For a socket, jobs made before it connects (its snapshot) and after (live
events: started, progress, completed) both count, and NEVER is checked once a later job of the
visitor's own has arrived, so nothing about the others' jobs can still be in flight.
"""

# ruff: noqa: E501  (the tables below are kept one row a line, in columns)
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from tasks.data.users import User
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import new_job_id
from tests.support.routes import served_routes

LOGIN = "303 /login"
J401 = "401 json"
OPEN = "open"
CLOSED = "close 1008"
HOME = "303 /admin"
SEES, NEVER = True, False
OWN = (200, 404, 404)  # Power User A: only A's job
OWN_B = (404, 200, 404)  # Power User B: only B's job

VISITORS = ("anonymous", "plain", "power_a", "power_b", "super")
OWNERS = ("power_a", "power_b", "super")
Outcome = int | str
Cell = Outcome | tuple[Outcome, Outcome, Outcome]


@dataclass(frozen=True)
class R:
    method: str
    path: str
    job: str | None
    anonymous: Cell
    plain: Cell
    power_a: Cell
    power_b: Cell
    super: Cell

    @property
    def route_key(self) -> tuple[str, str]:
        return self.method, self.path.split("?", 1)[0]

    def expected(self, visitor: str, owner_index: int) -> Outcome:
        cell: Cell = getattr(self, visitor)
        return cell[owner_index] if isinstance(cell, tuple) else cell

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


# fmt: off
ROUTES = [
    #  method    path                                        job        anonymous plain  Power A  Power B  Superadmin
    R("GET",    "/",                                         None,      LOGIN,  HOME,  HOME,    HOME,    HOME),
    R("GET",    "/login",                                    None,      200,    HOME,  HOME,    HOME,    HOME),
    R("POST",   "/login",                                    None,      400,    400,   400,     400,     400),
    R("POST",   "/logout",                                   None,      LOGIN,  LOGIN, LOGIN,   LOGIN,   LOGIN),
    R("GET",    "/admin",                                    None,      LOGIN,  200,   200,     200,     200),
    R("GET",    "/admin/background-jobs",                    None,      LOGIN,  403,   200,     200,     200),
    R("GET",    "/admin/background-jobs?tab=all",            None,      LOGIN,  403,   200,     200,     200),
    R("GET",    "/admin/background-jobs/{id}/errors",        "running", LOGIN,  403,   OWN,     OWN_B,   200),
    R("GET",    "/admin/background-jobs/{id}/errors-dialog", "running", LOGIN,  403,   OWN,     OWN_B,   200),
    R("POST",   "/admin/background-jobs/{id}/notify",        "running", LOGIN,  403,   OWN,     OWN_B,   200),
    R("GET",    "/admin/imports/users",                      None,      LOGIN,  403,   200,     200,     200),
    R("POST",   "/admin/imports/users",                      None,      LOGIN,  403,   415,     415,     415),
    R("GET",    "/admin/enrollments",                        None,      LOGIN,  403,   200,     200,     200),
    R("POST",   "/admin/enrollments",                        None,      LOGIN,  403,   415,     415,     415),
    R("GET",    "/api/jobs",                                 None,      J401,   403,   200,     200,     200),
    R("GET",    "/api/jobs?scope=all",                       None,      J401,   403,   403,     403,     200),
    R("GET",    "/api/jobs/{id}",                            "running", J401,   403,   OWN,     OWN_B,   200),
    R("DELETE", "/api/jobs/{id}",                            "ended",   J401,   403,   (204, 404, 404), (404, 204, 404), 204),
    R("GET",    "/api/jobs/{id}/errors",                     "running", J401,   403,   OWN,     OWN_B,   200),
    R("GET",    "/api/jobs/{id}/errors.csv",                 "running", J401,   403,   OWN,     OWN_B,   200),
    R("POST",   "/api/jobs/{id}/abort",                      "running", J401,   403,   (202, 404, 404), (404, 202, 404), 202),
    R("POST",   "/api/jobs/{id}/notify",                     "running", J401,   403,   OWN,     OWN_B,   200),
    R("POST",   "/api/jobs/{id}/fast-track",                 "queued",  J401,   403,   (403, 404, 404), (404, 403, 404), 200),
    R("POST",   "/api/jobs/{id}/pause",                      "running", J401,   403,   (202, 404, 404), (404, 202, 404), 202),
    R("POST",   "/api/jobs/{id}/resume",                     "paused",  J401,   403,   (200, 404, 404), (404, 200, 404), 200),
    R("POST",   "/api/jobs/{id}/commit",                     "ended",   J401,   403,   (409, 404, 404), (404, 409, 404), 409),
    R("POST",   "/api/jobs/{id}/retry",                      "ended",   J401,   403,   (409, 404, 404), (404, 409, 404), 409),
    R("POST",   "/api/jobs/{id}/revert",                     "running", J401,   403,   (409, 404, 404), (404, 409, 404), 409),
    R("POST",   "/api/imports/users",                        None,      J401,   403,   415,     415,     415),
    R("POST",   "/api/enrollments",                          None,      J401,   403,   415,     415,     415),
    R("GET",    "/api/openapi.json",                         None,      200,    200,   200,     200,     200),
    R("WS",     "/ws/jobs",                                  None,      CLOSED, CLOSED, OPEN,   OPEN,    OPEN),
    R("GET",    "/static/jobdeck.css",                       None,      200,    200,   200,     200,     200),
    R("GET",    "/admin/background-jobs/{id:job_id}",        "running", LOGIN,  403,   OWN,     OWN_B,   200),
    R("POST",   "/admin/background-jobs/{id:job_id}/commit", "ended",   LOGIN,  403,   (409, 404, 404), (404, 409, 404), 409),
    R("GET",    "/admin/background-jobs/{id:job_id}/retry",  "ended",   LOGIN,  403,   OWN,     OWN_B,   200),
    R("POST",   "/admin/background-jobs/{id:job_id}/retry",  "ended",   LOGIN,  403,   (409, 404, 404), (404, 409, 404), 409),
    R("GET",    "/admin/background-jobs/{id:job_id}/revert", "ended",   LOGIN,  403,   OWN,     OWN_B,   200),
    R("POST",   "/admin/background-jobs/{id:job_id}/revert", "running", LOGIN,  403,   (409, 404, 404), (404, 409, 404), 409),
    R("GET",    "/admin/background-jobs/wall",               None,      LOGIN,  403,   403,     403,     200),
    R("WS",     "/admin/background-jobs/wall/ws",            "running", CLOSED, CLOSED, CLOSED, CLOSED,  OPEN),
    R("GET",    "/screen/{token}",                           None,      403,    403,   403,     403,     403),
    R("GET",    "/admin/screens",                            None,      LOGIN,  403,   403,     403,     200),
    R("POST",   "/admin/screens",                            None,      LOGIN,  403,   403,     403,     400),
    R("POST",   "/admin/screens/{id}/revoke",                None,      LOGIN,  403,   403,     403,     404),
    R("GET",    "/healthz",                                  None,      200,    200,   200,     200,     200),
    R("GET",    "/readyz",                                   None,      503,    503,   503,     503,     503),
    R("GET",    "/metrics",                                  None,      403,    403,   403,     403,     403),
]

SHOWN = [
    #  visitor    where                                     A's job  B's job  Superadmin's job
    ("power_a", "GET /api/jobs",                            SEES,    NEVER,   NEVER),
    ("power_b", "GET /api/jobs?scope=mine",                 NEVER,   SEES,    NEVER),
    ("super",   "GET /api/jobs",                            SEES,    SEES,    SEES),
    ("super",   "GET /api/jobs?scope=mine",                 NEVER,   NEVER,   SEES),
    ("power_a", "GET /admin/background-jobs?tab=all",       SEES,    NEVER,   NEVER),
    ("super",   "GET /admin/background-jobs",               SEES,    SEES,    SEES),
    ("super",   "GET /admin/background-jobs?tab=mine",      NEVER,   NEVER,   SEES),
    ("power_a", "WS /ws/jobs?tab=all",                      SEES,    NEVER,   NEVER),
    ("power_b", "WS /ws/jobs?tab=all",                      NEVER,   SEES,    NEVER),
    ("super",   "WS /ws/jobs?tab=all",                      SEES,    SEES,    SEES),
    ("super",   "WS /ws/jobs?tab=mine",                     NEVER,   NEVER,   SEES),
    ("power_a", "WS /ws/jobs?tab=all&list=0",               SEES,    NEVER,   NEVER),
    ("super",   "WS /ws/jobs?tab=all&list=0",               NEVER,   NEVER,   SEES),
]
# fmt: on

ORIGIN = "http://testserver"
ROLES = {"plain": "user", "power_a": "power_user", "power_b": "power_user", "super": "superadmin"}


def fill(path: str, job_id: str) -> str:
    """The route's path with its `{id}` (or `{id:job_id}`) parameter set to `job_id`."""
    return re.sub(r"\{id(:\w+)?\}", job_id, path)


# -- the cast ----------------------------------------------------------------------------------


@pytest.fixture
def cast(signed_in) -> dict[str, tuple[User | None, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """Each visitor: the user (None for anonymous) and the headers of their browser."""
    made: dict[str, tuple[User | None, dict[str, str]]] = {"anonymous": (None, {"origin": ORIGIN})}
    for name, role in ROLES.items():
        made[name] = signed_in(role, f"{name}@example.com")
    return made


def make_job(store, owner: User, state: str | None, description: str = "") -> Job:  # type: ignore[no-untyped-def]
    job = Job(
        id=new_job_id(),
        kind="import_users",
        description=description or f"Import users for {owner.name} (10 rows)",
        owner=Person(owner.id, owner.name),
        created_at=time.time(),
        total=10,
    )
    job = store.create(job)
    if state in ("running", "ended", "paused"):
        job = store.transition(job.id, Event.START, at=time.time())
    if state == "ended":
        job = store.transition(job.id, Event.COMPLETE, at=time.time())
    if state == "paused":
        job = store.transition(job.id, Event.PAUSE, at=time.time())
        job = store.transition(job.id, Event.CONFIRM_PAUSE, at=time.time())
    return job


# -- the route table -----------------------------------------------------------------------------


def route_keys(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    keys = set()
    for path, route in served_routes(app.routes):
        if isinstance(route, Route):
            keys |= {(m, path) for m in (route.methods or ()) if m != "HEAD"}
        elif isinstance(route, WebSocketRoute):
            keys.add(("WS", path))
        else:
            keys.add(("GET", path + "/…"))
    return keys


def row_keys() -> set[tuple[str, str]]:
    keys = set()
    for row in ROUTES:
        method, path = row.route_key
        if path.startswith("/static/"):
            path = "/static/…"
        keys.add((method, path))
    return keys


def test_every_route_has_a_row(settings) -> None:  # type: ignore[no-untyped-def]
    served = route_keys(create_app(settings))
    assert sorted(served - row_keys()) == [], "routes without a row in ROUTES"
    assert sorted(row_keys() - served) == [], "rows in ROUTES for routes that do not exist"


def outcome_of(client: TestClient, row: R, url: str, headers: dict[str, str]) -> Outcome:
    client.cookies.clear()
    if row.method == "WS":
        try:
            with client.websocket_connect(url, headers=headers) as ws:
                ws.receive_text()  # the snapshot: the socket was accepted
                return OPEN
        except WebSocketDisconnect as closed:
            return f"close {closed.code}"
    response = client.request(row.method, url, headers=headers, follow_redirects=False)
    status = response.status_code
    if url.startswith("/api/") and 400 <= status < 500:
        assert "error" in response.json(), f"{row}: a refusal without a JSON error"
        if status == 401:
            return J401
    if status in (302, 303, 307):
        location = response.headers["location"]
        if location.startswith("/login?next="):
            return LOGIN
        return f"{status} {location.split('?', 1)[0]}"
    return status


@pytest.mark.parametrize("row", ROUTES, ids=str)
def test_route_answers_each_visitor_as_the_table_says(app, client, cast, store, row: R) -> None:  # type: ignore[no-untyped-def]
    wrong = []
    for visitor in VISITORS:
        _user, headers = cast[visitor]
        owners = OWNERS if row.job else OWNERS[:1]
        for index, owner in enumerate(owners):
            url = row.path
            if row.job:
                owner_user = cast[owner][0]
                assert owner_user is not None
                url = fill(url, make_job(store, owner_user, row.job).id)
            got = outcome_of(client, row, url, headers)
            want = row.expected(visitor, index)
            if got != want:
                wrong.append(f"{visitor} on {owner if row.job else '-'}'s: want {want}, got {got}")
    assert not wrong, f"{row}:\n" + "\n".join(wrong)


# -- what each visitor is shown -------------------------------------------------------------------


def frames_until(ws, needle: str) -> str:  # type: ignore[no-untyped-def]
    """Every frame until one holds `needle` (the pytest timeout bounds the wait)."""
    frames = [ws.receive_text()]
    while needle not in frames[-1]:
        frames.append(ws.receive_text())
    return "".join(frames)


def wait_for_sockets(app, count: int) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while len(app.state.hub.sockets) < count and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize(("visitor", "where", *OWNERS), SHOWN, ids=lambda v: str(v))
def test_visitor_is_shown_only_what_the_table_says(  # type: ignore[no-untyped-def]
    app, client, cast, store, visitor: str, where: str, power_a: bool, power_b: bool, super: bool
) -> None:
    sees = dict(zip(OWNERS, (power_a, power_b, super), strict=True))
    users = {owner: cast[owner][0] for owner in OWNERS}
    headers = cast[visitor][1]
    me = users[visitor]
    assert me is not None
    before = {o: make_job(store, u, "running", f"Before of {o}") for o, u in users.items()}  # type: ignore[arg-type]
    method, url = where.split(" ", 1)
    shown: dict[str, Any] = {}
    if method == "GET":
        text = client.get(url, headers=headers).text
        shown = {o: job.id in text for o, job in before.items()}
    else:
        with client.websocket_connect(url, headers=headers) as ws:
            wait_for_sockets(app, 1)
            own = make_job(store, me, None, "Sentinel one")
            text = frames_until(ws, own.id)
            after = {}
            for owner, user in users.items():
                job = make_job(store, user, "running", f"After of {owner}")  # type: ignore[arg-type]
                store.flush(job.id, {"done": "5"})
                store.transition(job.id, Event.COMPLETE, at=time.time())
                after[owner] = job
            sentinel = make_job(store, me, "ended", "Sentinel two")
            text += frames_until(ws, sentinel.id)
        shown = {o: before[o].id in text and after[o].id in text for o in OWNERS}
        leaked = {o: before[o].id in text or after[o].id in text for o in OWNERS}
        assert not any(leaked[o] for o in OWNERS if not sees[o]), leaked
    assert shown == sees


# -- cross-site: every unsafe route, generated from the same table ---------------------------------

UNSAFE = [row for row in ROUTES if row.method not in ("GET", "HEAD", "WS")]


@pytest.mark.parametrize("row", UNSAFE, ids=str)
@pytest.mark.parametrize(
    "origin", ["http://evil.example", None], ids=["foreign-origin", "no-origin"]
)
def test_every_unsafe_route_refuses_another_origin(client, cast, store, row: R, origin) -> None:  # type: ignore[no-untyped-def]
    user, headers = cast["super"]
    assert user is not None
    sent = {"cookie": headers["cookie"], **({"origin": origin} if origin else {})}
    job = make_job(store, user, row.job) if row.job else None
    url = fill(row.path, job.id) if job else row.path
    client.cookies.clear()
    response = client.request(row.method, url, headers=sent, follow_redirects=False)
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    if job is not None:
        after = store.get(job.id)  # still there, same state, nobody added as a watcher
        assert (after.status, after.seq) == (job.status, job.seq)
        assert store.watchers(job.id) == set()
