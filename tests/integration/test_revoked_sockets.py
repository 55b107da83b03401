"""A person who loses access loses their open sockets too, not only their next page.

Sign-out closes a session's sockets at once (test_hub.py); these are the other ways to lose
access while a page is open: deactivated, demoted, or the session ended on the server without a
sign-out from this browser (expired, or removed by an operator).
"""

from __future__ import annotations

import time

import pytest
import redis
from starlette.websockets import WebSocketDisconnect

from tasks.data.users import update_user
from tasks.jobs.model import Job, Person
from tasks.jobs.records import new_job_id
from tests.support.people import signed_in_people

# A socket is re-checked every second; the bound leaves room for a loaded CI machine.
WITHIN_S = 10


ROLES = {"super": "superadmin", "super2": "superadmin", "power": "power_user"}

cast, people, headers = signed_in_people(ROLES)


def closed_code(ws) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Read until the server closes the socket: its close code and how long it took."""
    started = time.monotonic()
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            ws.receive_text()
    return closed.value.code, time.monotonic() - started


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("who", "tab", "change"),
    [
        ("power", "mine", {"is_active": False}),
        ("super", "all", {"is_active": False}),
        ("power", "mine", {"role": "user"}),
        ("super", "all", {"role": "power_user"}),
    ],
    ids=[
        "deactivated-power-user",
        "deactivated-superadmin",
        "power-user-demoted-to-user",
        "superadmin-demoted-to-power-user",
    ],
)
def test_losing_access_closes_open_sockets(client, headers, people, engine, who, tab, change):  # type: ignore[no-untyped-def]
    with client.websocket_connect(f"/ws/jobs?tab={tab}", headers=headers[who]) as ws:
        ws.receive_text()  # the snapshot: the socket is open
        with engine.begin() as conn:
            update_user(conn, people[who].id, **change)
        code, took = closed_code(ws)
    assert code == 1008
    assert took < WITHIN_S


@pytest.mark.timeout(60)
def test_session_removed_on_the_server_closes_its_sockets(client, headers, redis_url):  # type: ignore[no-untyped-def]
    with client.websocket_connect("/ws/jobs?tab=all", headers=headers["super"]) as ws:
        ws.receive_text()
        r = redis.Redis.from_url(redis_url)
        for key in r.scan_iter("jobdeck:session:*"):
            r.delete(key)  # every session ends, as when they expire
        r.close()
        code, took = closed_code(ws)
    assert code == 1008
    assert took < WITHIN_S


@pytest.mark.timeout(60)
def test_other_users_sockets_stay_open(app, client, headers, people, engine, store):  # type: ignore[no-untyped-def]
    with (
        client.websocket_connect("/ws/jobs?tab=all", headers=headers["super2"]) as kept,
        client.websocket_connect("/ws/jobs?tab=mine", headers=headers["power"]) as lost,
    ):
        kept.receive_text()
        lost.receive_text()
        with engine.begin() as conn:
            update_user(conn, people["power"].id, is_active=False)
        closed_code(lost)
        job = store.create(
            Job(id=new_job_id(), kind="import_users", description="Import users from after.csv",
                owner=Person(people["super2"].id, people["super2"].name), created_at=time.time())
        )  # fmt: skip
        while f'id="j{job.id}"' not in kept.receive_text():
            pass
