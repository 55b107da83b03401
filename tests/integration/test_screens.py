"""Screen links and the wallboard's socket against a real Redis and the app served in-process:
creation, listing, last use, revocation, hashing, and a screen's least privilege."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, replace

import pytest
import sqlalchemy as sa
from starlette.routing import Match, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.auth.screen_links import COOKIE, ScreenLinks
from server.hub.flavour import Flavour
from tasks.data.db import users
from tasks.data.passwords import hash_password
from tasks.data.users import User, add_user, find_user
from tasks.jobs import events
from tasks.jobs.model import Event, Status, to_fields
from tasks.jobs.records import JobError
from tests.support.jobs import new_job

ORIGIN = {"origin": "http://testserver"}
PASSWORD = "correct horse battery"  # as tests/integration/conftest.py signs people in


@pytest.fixture(scope="module")
def password_hash() -> str:
    """PASSWORD hashed once: Argon2 is slow on purpose."""
    return hash_password(PASSWORD)


@pytest.fixture
def people(engine, password_hash: str) -> dict[str, User]:  # type: ignore[no-untyped-def]
    """The people these tests sign in (the `headers` fixture signs in each of them)."""
    made = {}
    with engine.begin() as conn:
        for key, email, name, role in [
            ("super", "super@example.com", "Sue Super", "superadmin"),
            ("power", "power@example.com", "Pat Power", "power_user"),
            ("plain", "plain@example.com", "Paul Plain", "user"),
        ]:
            add_user(conn, email, name, role)
            conn.execute(
                sa.update(users).where(users.c.email == email).values(password_hash=password_hash)
            )
            made[key] = find_user(conn, email)
    return made


WALL = "/admin/background-jobs/wall"
WALL_WS = WALL + "/ws"
DAY = 86400


def form_nonce(client, headers) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/admin/screens", headers=headers["super"]).text
    found = re.search(r'name="nonce" value="([\w-]+)"', page)
    assert found, "the creation form has no nonce"
    return found.group(1)


def create_link(client, headers, name: str = "Ops room", days: str = "7") -> str:  # type: ignore[no-untyped-def]
    """Create a link through the page as Sue Super; the token it shows once."""
    form = {"name": name, "lifetime_days": days, "nonce": form_nonce(client, headers)}
    response = client.post("/admin/screens", data=form, headers=headers["super"])
    assert response.status_code == 201, response.text
    found = re.search(r'value="https?://[^"/]+/screen/([\w-]+)"', response.text)
    assert found, "the new link's address is not on the page"
    return found.group(1)


def redeem(client, token: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Open the link as a screen with no session: headers that carry the screen's cookie."""
    client.cookies.clear()
    response = client.get(f"/screen/{token}", follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == WALL
    cookie = response.cookies[COOKIE]
    client.cookies.clear()
    return {**ORIGIN, "cookie": f"{COOKIE}={cookie}"}


def receive_until(ws, needle: str) -> str:  # type: ignore[no-untyped-def]
    """Every frame up to the first that contains `needle`, joined (pytest's timeout bounds it)."""
    frames = [ws.receive_text()]
    while needle not in frames[-1]:
        frames.append(ws.receive_text())
    return "".join(frames)


def every_stored_string(redis_client) -> str:  # type: ignore[no-untyped-def]
    """Every key, field, member and value in Redis, as one text."""
    parts: list[str] = []
    for key in redis_client.scan_iter("*"):
        parts.append(key)
        kind = redis_client.type(key)
        if kind == "string":
            parts.append(redis_client.get(key))
        elif kind == "hash":
            for field, value in redis_client.hgetall(key).items():
                parts += [field, value]
        elif kind == "zset":
            parts += redis_client.zrange(key, 0, -1)
        elif kind == "set":
            parts += list(redis_client.smembers(key))
        elif kind == "list":
            parts += redis_client.lrange(key, 0, -1)
    return "\n".join(parts)


def test_token_is_shown_once_and_stored_only_as_its_hash(client, headers, store):  # type: ignore[no-untyped-def]
    token = create_link(client, headers)
    stored = every_stored_string(store.redis)
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    listed = client.get("/admin/screens", headers=headers["super"]).text
    assert "Ops room" in listed
    assert token not in listed


def test_list_shows_name_creator_dates_and_last_use(client, headers, store):  # type: ignore[no-untyped-def]
    before = time.time()
    token = create_link(client, headers, name="Lobby <screen>", days="30")
    links = ScreenLinks(store.redis, store.prefix)
    [link] = links.list(time.time())
    assert (link.name, link.creator_name) == ("Lobby <screen>", "Sue Super")
    assert before <= link.created_at <= time.time()
    assert link.expires_at == pytest.approx(link.created_at + 30 * DAY)
    assert link.last_used_at is None
    page = client.get("/admin/screens", headers=headers["super"]).text
    assert "Lobby &lt;screen&gt;" in page and "Never" in page

    used_from = time.time()
    screen = redeem(client, token)
    [link] = links.list(time.time())
    assert link.last_used_at is not None and link.last_used_at >= used_from
    page = client.get("/admin/screens", headers=headers["super"]).text
    assert "Never" not in page
    assert client.get(WALL, headers=screen).status_code == 200


def test_only_superadmins_manage_screen_links(client, headers):  # type: ignore[no-untyped-def]
    for who in ("power", "plain"):
        assert client.get("/admin/screens", headers=headers[who]).status_code == 403
        refused = client.post(
            "/admin/screens", data={"name": "x", "lifetime_days": "1"}, headers=headers[who]
        )
        assert refused.status_code == 403
    form = {"name": "x", "lifetime_days": "365", "nonce": form_nonce(client, headers)}
    answered = client.post("/admin/screens", data=form, headers=headers["super"])
    assert answered.status_code == 400 and "Choose how long" in answered.text


def test_sending_the_creation_form_again_makes_no_second_link(client, headers, store):  # type: ignore[no-untyped-def]
    form = {"name": "Ops room", "lifetime_days": "7", "nonce": form_nonce(client, headers)}
    first = client.post("/admin/screens", data=form, headers=headers["super"])
    again = client.post("/admin/screens", data=form, headers=headers["super"])  # a reload
    assert first.status_code == 201 and "/screen/" in first.text
    assert again.status_code == 409 and "already sent" in again.text
    assert "/screen/" not in again.text
    assert len(ScreenLinks(store.redis, store.prefix).list(time.time())) == 1


def test_a_screen_opens_the_wall_and_nothing_else(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["power"], "Import users from team.csv (10 rows)")
    screen = redeem(client, create_link(client, headers))
    wall = client.get(WALL, headers=screen)
    assert wall.status_code == 200
    assert "team.csv" in wall.text and "Pat Power" in wall.text
    assert "Abort job" not in wall.text and "Notify me" not in wall.text

    assert client.get("/admin", headers=screen, follow_redirects=False).status_code == 303
    for path in (
        "/admin/background-jobs",
        "/admin/screens",
        f"/admin/background-jobs/{job.id}/errors",
    ):
        response = client.get(path, headers=screen, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/api/jobs", headers=screen).status_code == 401
    assert client.get(f"/api/jobs/{job.id}/errors", headers=screen).status_code == 401
    assert client.post(f"/api/jobs/{job.id}/abort", headers=screen).status_code == 401
    assert client.post(f"/api/jobs/{job.id}/notify", headers=screen).status_code == 401
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws/jobs?tab=all", headers=screen) as ws:
            ws.receive_text()
    assert refused.value.code == 1008


def test_power_user_and_stranger_get_no_wall(client, headers):  # type: ignore[no-untyped-def]
    assert client.get(WALL, headers=headers["power"]).status_code == 403
    stranger = client.get(WALL, headers=ORIGIN, follow_redirects=False)
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/login")
    for sent in (ORIGIN, headers["power"]):
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect(WALL_WS, headers=sent) as ws:
                ws.receive_text()
        assert refused.value.code == 1008


def test_wall_socket_carries_every_job_without_controls(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    screen = redeem(client, create_link(client, headers))
    with (
        client.websocket_connect(WALL_WS, headers=screen) as wall_ws,
        client.websocket_connect("/ws/jobs?tab=all", headers=headers["super"]) as page_ws,
    ):
        deadline = time.monotonic() + 5
        while len(app.state.hub.sockets) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        job = new_job(store, people["power"], "Import users from wall.csv (10 rows)")
        store.transition(job.id, Event.START, at=time.time())
        store.flush(job.id, {"done": "4"})
        on_wall = receive_until(wall_ws, 'aria-valuenow="40"')
        on_page = receive_until(page_ws, 'aria-valuenow="40"')
        assert 'hx-swap-oob="afterbegin:#wall-running"' in on_wall
        assert "progress-of" in on_page  # the page's flavour, rendered for the same events
        bad = JobError(3, "line 3", "secret-detail is not a valid email address", time.time())
        store.flush(job.id, {"done": "5"}, [bad])
        # Waits for the count, not the part's id: a row sent again carries the id too (when the
        # hub subscribes as the job starts, its snapshot and then the events both bring the row).
        errors = receive_until(wall_ws, "1 error")
        assert f'id="j{job.id}e"' in errors and "secret-detail" not in errors
        store.transition(job.id, Event.COMPLETE, at=time.time())
        finished = receive_until(wall_ws, 'hx-swap-oob="afterbegin:#wall-ended"')
        assert "Completed" in finished
    wall_text = on_wall + errors + finished
    for control in ("Abort job", "Notify me", "data-abort-url", "data-errors-url", "hx-delete"):
        assert control not in wall_text
    assert 'id="my-running-count"' not in wall_text  # the admin header is not on the wall


def test_revoking_a_link_closes_its_sockets_and_refuses_its_cookie(app, client, headers, store):  # type: ignore[no-untyped-def]
    screen = redeem(client, create_link(client, headers))
    links = ScreenLinks(store.redis, store.prefix)
    [link] = links.list(time.time())
    with client.websocket_connect(WALL_WS, headers=screen) as ws:
        deadline = time.monotonic() + 5
        while not app.state.hub.sockets and time.monotonic() < deadline:
            time.sleep(0.01)
        revoked_at = time.monotonic()
        revoked = client.post(
            f"/admin/screens/{link.id}/revoke", headers=headers["super"], follow_redirects=False
        )
        assert revoked.status_code == 303
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_text()
        assert closed.value.code == 1008
        assert time.monotonic() - revoked_at < 5  # at once, not at the keeper's next round
    assert links.list(time.time()) == []
    assert not [
        key for key in store.redis.scan_iter(store.prefix + "screen*") if ":form:" not in key
    ]
    refused = client.get(WALL, headers=screen)
    assert refused.status_code == 403 and "This screen link was revoked." in refused.text
    with pytest.raises(WebSocketDisconnect) as refused_socket:
        with client.websocket_connect(WALL_WS, headers=screen) as ws:
            ws.receive_text()
    assert refused_socket.value.code == 1008


def test_expired_link_and_its_cookie_are_refused(client, headers, people, store):  # type: ignore[no-untyped-def]
    links = ScreenLinks(store.redis, store.prefix)
    _old, old_token = links.create("Old screen", people["super"].id, "Sue Super", DAY,
                                   at=time.time() - 2 * DAY)  # fmt: skip
    client.cookies.clear()
    refused = client.get(f"/screen/{old_token}")
    assert refused.status_code == 403
    assert "Ask a Superadmin for a new screen link." in refused.text

    short, token = links.create("Brief screen", people["super"].id, "Sue Super", 1.0, time.time())
    screen = redeem(client, token)
    while links.get(short.id, time.time()) is not None:
        time.sleep(0.05)  # a polling interval: the link lives one second
    refused = client.get(WALL, headers=screen)
    assert refused.status_code == 403 and "This screen link expired." in refused.text
    assert links.list(time.time()) == []


def test_open_screen_socket_closes_when_its_link_expires(client, headers, people, store):  # type: ignore[no-untyped-def]
    links = ScreenLinks(store.redis, store.prefix)
    _link, token = links.create("Brief screen", people["super"].id, "Sue Super", 2.0, time.time())
    screen = redeem(client, token)
    with client.websocket_connect(WALL_WS, headers=screen) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_text()
    assert closed.value.code == 1008
    assert "expired" in closed.value.reason


def test_wall_route_wins_over_any_job_id_route(app):  # type: ignore[no-untyped-def]
    scope = {"type": "http", "path": WALL, "method": "GET", "root_path": ""}
    first = next(r for r in app.router.routes if r.matches(scope)[0] is Match.FULL)
    assert first.endpoint.__name__ == "wall_page"


@dataclass(frozen=True)
class Onlooker:
    """A watcher that is no user, as a screen is (what `Hub.serve` needs of a viewer)."""

    id: int = -1
    session_id: str = "onlooker"
    sees_every_job: bool = True


def test_hub_renders_each_event_once_per_flavour(app, client, people, store):  # type: ignore[no-untyped-def]
    rendered: list[str] = []

    def parts(context: dict[str, object], kinds: tuple[str, ...]) -> dict[str, str]:
        rendered.append("parts")
        return {kind: f'<p id="counted-{kind}">{len(rendered)}</p>' for kind in kinds}

    counted = Flavour(
        "counted",
        context=lambda job, at: {"job": job},
        render_row=lambda context: "",
        render_parts=parts,
        render_removed=lambda job_id: "",
        header=None,
    )

    async def endpoint(websocket: WebSocket) -> None:
        await app.state.hub.serve(websocket, Onlooker(), "all", flavour=counted)

    app.router.routes.append(WebSocketRoute("/ws/counted", endpoint))
    job = new_job(store, people["power"], "Import users from counted.csv (10 rows)")
    store.transition(job.id, Event.START, at=time.time())
    with (
        client.websocket_connect("/ws/counted", headers=ORIGIN) as one,
        client.websocket_connect("/ws/counted", headers=ORIGIN) as two,
        client.websocket_connect("/ws/counted", headers=ORIGIN) as three,
    ):
        sockets = (one, two, three)
        for ws in sockets:
            receive_until(ws, "counted-state")  # its snapshot: each socket is fully set up
        rendered.clear()
        store.flush(job.id, {"done": "3"})
        frames = [receive_until(ws, "counted-state") for ws in sockets]
    assert rendered == ["parts"]  # one event, three sockets of one flavour: rendered once
    assert frames[0] == frames[1] == frames[2]


def test_snapshot_never_replaces_a_newer_event(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    """An event that reaches the hub while a socket's snapshot is being read is newer than the
    snapshot: the socket must end with the event's state (found by the wall test's flakiness)."""
    job = new_job(store, people["power"], "Import users from raced.csv (10 rows)")
    store.transition(job.id, Event.START, at=time.time())
    stored = store.get(job.id)
    newer = replace(stored, status=Status.COMPLETED, done=10, finished_at=time.time(),
                    seq=stored.seq + 1)  # fmt: skip
    store.redis.publish(store.channel, events.encode_job(to_fields(newer)))
    deadline = time.monotonic() + 5  # until the hub has seen it; the store still says running
    while app.state.hub.last.get(job.id) != newer and time.monotonic() < deadline:
        time.sleep(0.01)
    for url, ws_headers in ((WALL_WS, headers["super"]), ("/ws/jobs?tab=all", headers["super"])):
        with client.websocket_connect(url, headers=ws_headers) as ws:
            frame = receive_until(ws, f'id="j{job.id}s"')
        assert "status-completed" in frame and "status-running" not in frame


def test_a_screen_outlives_the_sockets_access_recheck(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    """The re-check that closes the sockets of people who lost access leaves screens alone:
    a screen has no session of a person (found when the two branches met)."""
    from server.hub.revocation import RECHECK_S

    screen = redeem(client, create_link(client, headers))
    job = new_job(store, people["power"], "Import of the spring cohort")
    with client.websocket_connect(WALL_WS, headers=screen) as ws:
        receive_until(ws, f'id="j{job.id}"')
        time.sleep(RECHECK_S * 2.5)  # at least two re-checks while the screen watches
        store.transition(job.id, Event.START, at=time.time())
        assert "Running" in receive_until(ws, "Running")


def test_screen_tokens_stay_out_of_the_access_log(app, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    token = "s3cr3t-T0ken_value"
    access = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        # what uvicorn's access log does for each request
        access.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/screen/{token}", "1.1", 303
        )
    [line] = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert token not in line and '"GET /screen/… HTTP/1.1" 303' in line


@pytest.mark.parametrize(
    "change", [{"is_active": False}, {"role": "power_user"}], ids=["deactivated", "demoted"]
)
def test_a_link_ends_when_its_creator_is_no_longer_a_superadmin(  # type: ignore[no-untyped-def]
    app, client, headers, people, engine, change
):
    from tasks.data.users import update_user

    unused_token = create_link(client, headers, "Spare screen")
    screen = redeem(client, create_link(client, headers))
    with client.websocket_connect(WALL_WS, headers=screen) as ws:
        deadline = time.monotonic() + 5
        while not app.state.hub.sockets and time.monotonic() < deadline:
            time.sleep(0.01)
        with engine.begin() as conn:
            update_user(conn, people["super"].id, **change)
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_text()
    assert closed.value.code == 1008
    assert "no longer a Superadmin" in closed.value.reason
    refused = client.get(WALL, headers=screen)
    assert refused.status_code == 403 and "no longer a Superadmin" in refused.text
    client.cookies.clear()
    refused = client.get(f"/screen/{unused_token}", follow_redirects=False)
    assert refused.status_code == 403 and "no longer a Superadmin" in refused.text
