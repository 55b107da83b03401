"""The WebSocket hub against a real Redis: audiences, snapshots, handshakes, sign-out."""

from __future__ import annotations

import time

import pytest
from starlette.websockets import WebSocketDisconnect

from tasks.jobs.model import Event
from tests.support.jobs import new_job

ORIGIN = {"origin": "http://testserver"}
PASSWORD = "correct horse battery"


def receive_until(ws, needle: str) -> str:  # type: ignore[no-untyped-def]
    """Frames until one contains `needle` (the pytest timeout bounds the wait)."""
    while needle not in (frame := ws.receive_text()):
        pass
    return frame


def wait_for_hub(app) -> None:  # type: ignore[no-untyped-def]
    hub = app.state.hub
    deadline = time.monotonic() + 5
    while not hub.sockets and time.monotonic() < deadline:
        time.sleep(0.01)


def test_new_job_reaches_owner_and_superadmins_on_view_all(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    with (
        client.websocket_connect("/ws/jobs?tab=all", headers=headers["super2"]) as super_ws,
        client.websocket_connect("/ws/jobs?tab=all", headers=headers["power"]) as power_ws,
    ):
        wait_for_hub(app)
        job = new_job(store, people["power"], "Import users from team.csv (10 rows)")
        for ws in (super_ws, power_ws):
            frame = receive_until(ws, f'id="j{job.id}"')
            assert f'id="j{job.id}"' in frame
            assert "Import users from team.csv" in frame
            assert 'role="progressbar"' in frame


def test_power_user_socket_never_carries_other_jobs(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    with client.websocket_connect("/ws/jobs?tab=all", headers=headers["power"]) as power_ws:
        wait_for_hub(app)
        secret = new_job(store, people["super"], "Import users from secret.csv (10 rows)")
        store.transition(secret.id, Event.START, at=time.time())
        own = new_job(store, people["power"], "Import users from mine.csv (10 rows)")
        frames = [power_ws.receive_text()]
        while f'id="j{own.id}"' not in frames[-1]:
            frames.append(power_ws.receive_text())
        assert own.id in frames[-1]
        frame = "".join(frames)
        assert secret.id not in frame and "secret.csv" not in frame


def test_socket_gets_current_state_on_connect(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["super"], "Import users from before.csv (10 rows)")
    store.transition(job.id, Event.START, at=time.time())
    store.flush(job.id, {"done": "7"})
    with client.websocket_connect("/ws/jobs?tab=mine", headers=headers["super"]) as ws:
        frame = receive_until(ws, f'id="j{job.id}s"')
    assert f'id="j{job.id}s"' in frame
    assert 'aria-valuenow="70"' in frame


def test_progress_is_coalesced_per_tick(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["super"], "Import users from burst.csv (10 rows)")
    store.transition(job.id, Event.START, at=time.time())
    with client.websocket_connect("/ws/jobs?tab=all", headers=headers["super"]) as ws:
        ws.receive_text()  # the snapshot
        for done in range(1, 11):
            store.flush(job.id, {"done": str(done)})
        store.transition(job.id, Event.COMPLETE, at=time.time())
        frames = [ws.receive_text()]
        while "status-completed" not in frames[-1]:
            frames.append(ws.receive_text())
    assert len(frames) < 11  # eleven events, fewer frames: the latest state won
    assert 'aria-valuenow="100"' in frames[-1]


@pytest.mark.parametrize(
    "sent",
    [{"origin": "http://evil.example"}, {}],
    ids=["foreign-origin", "no-origin"],
)
def test_handshake_from_another_origin_is_refused(client, headers, sent):  # type: ignore[no-untyped-def]
    sent = {**sent, "cookie": headers["super"]["cookie"]}
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws/jobs", headers=sent) as ws:
            ws.receive_text()


def test_handshake_without_session_or_role_is_refused(client, headers):  # type: ignore[no-untyped-def]
    for sent in (ORIGIN, headers["plain"]):
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/ws/jobs", headers=sent) as ws:
                ws.receive_text()
        assert refused.value.code == 1008


def test_sign_out_closes_the_sessions_sockets(app, client, headers):  # type: ignore[no-untyped-def]
    with client.websocket_connect("/ws/jobs", headers=headers["super2"]) as ws:
        wait_for_hub(app)
        client.post("/logout", headers=headers["super2"], follow_redirects=False)
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_text()
        assert closed.value.code == 1008


def test_header_socket_counts_my_running_jobs_and_lists_them(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    with client.websocket_connect("/ws/jobs?tab=mine&list=0", headers=headers["power"]) as ws:
        assert "0 running" in receive_until(ws, 'id="my-running-count"')
        job = new_job(store, people["power"], "Import users from header.csv (10 rows)")
        frame = receive_until(ws, "1 running")
        assert f'id="recent-{job.id}"' in frame
        assert f'id="j{job.id}s"' not in frame  # no list on this page: no row parts
        store.transition(job.id, Event.START, at=time.time())
        store.transition(job.id, Event.COMPLETE, at=time.time())
        assert "0 running" in receive_until(ws, "Completed")


def test_watchers_get_an_in_app_notice_when_the_job_ends(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["power"], "Import users from watched.csv (10 rows)")
    store.transition(job.id, Event.START, at=time.time())
    store.add_watcher(job.id, people["super2"].id)
    with (
        client.websocket_connect("/ws/jobs?tab=mine&list=0", headers=headers["super2"]) as watcher,
        client.websocket_connect("/ws/jobs?tab=mine&list=0", headers=headers["super"]) as other,
    ):
        receive_until(watcher, 'id="my-running-count"')
        receive_until(other, 'id="my-running-count"')
        store.transition(job.id, Event.COMPLETE, at=time.time())
        notice = receive_until(watcher, "beforeend:#notices")
        assert "“Import users from watched.csv (10 rows)” completed" in notice
        # The one who did not ask hears nothing of it: the next frame it gets is its own job.
        own = new_job(store, people["super"], "Import users from own.csv (10 rows)")
        frame = receive_until(other, f'id="recent-{own.id}"')
        assert "watched.csv" not in frame


def test_a_view_all_socket_forgets_jobs_once_their_end_is_sent(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    before = new_job(store, people["power"], "Import users from old.csv (10 rows)")
    store.transition(before.id, Event.START, at=time.time())
    store.transition(before.id, Event.COMPLETE, at=time.time())
    with client.websocket_connect("/ws/jobs?tab=all", headers=headers["super"]) as ws:
        receive_until(ws, f'id="j{before.id}s"')  # an ended job in the snapshot
        (sock,) = app.state.hub.sockets
        assert before.id not in sock.known
        job = new_job(store, people["power"], "Import users from day.csv (10 rows)")
        store.transition(job.id, Event.START, at=time.time())
        receive_until(ws, "status-running")
        assert job.id in sock.known  # running: its updates must reach the page
        store.transition(job.id, Event.COMPLETE, at=time.time())
        receive_until(ws, "status-completed")
        assert sock.known == set()
        # Removing it later still reaches the page, although the socket forgot it.
        store.delete(job.id)
        assert f'id="j{job.id}" hx-swap-oob="delete"' in receive_until(ws, "hx-swap-oob")
