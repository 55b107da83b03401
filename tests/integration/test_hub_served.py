"""The hub against the real server (uvicorn over TCP), both ways it sends: pre-encoded frames
written by `HubProtocol` (the Procfile's, where most View All sockets take their group's frame
without per-socket work) and ASGI sends (any other server).

- Who gets what: new rows, progress, the owner's header, removal, and nothing of others' jobs
  for a Power User.
- A viewer that stops reading (real TCP back-pressure) holds at most one pending fragment per
  (job, part), is dropped after SEND_TIMEOUT_S, and never holds up a viewer that reads."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from websockets.sync.client import ClientConnection, connect

import server.hub.delivery
from server.hub.protocol import HubProtocol
from tasks.data.users import add_user
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import new_job_id
from tasks.jobs.store import JobStore
from tasks.settings import Settings
from tests.support.raw_socket import open_raw_socket, sign_in_cookie
from tests.support.served import ServedApp

PASSWORD = "correct horse battery"
JOBS = 20


@pytest.fixture(params=[HubProtocol, "websockets-sansio"], ids=["pre-encoded", "asgi"])
def served(
    request: pytest.FixtureRequest, settings: Settings, runtime: object
) -> Iterator[tuple[str, object]]:
    server = ServedApp(settings, ws=request.param).start()
    try:
        yield server.base_url, server.app
    finally:
        server.stop()


def sign_in(base_url: str, email: str) -> str:
    return sign_in_cookie(base_url, email, PASSWORD)


def frames_until(ws: ClientConnection, text: str) -> str:
    """Every frame received up to and including the first that holds `text`."""
    received = []
    while not received or text not in received[-1]:
        received.append(ws.recv(timeout=10))
    return "".join(received)


def test_each_viewer_gets_new_rows_progress_and_its_own_header_and_nothing_else(
    served: tuple[str, object], engine: Engine, store: JobStore
) -> None:
    base_url, _app = served
    with engine.begin() as conn:
        ada = add_user(conn, "ada@example.com", "Ada", "superadmin", PASSWORD)
        bob = add_user(conn, "bob@example.com", "Bob", "superadmin", PASSWORD)
        pat = add_user(conn, "pat@example.com", "Pat", "power_user", PASSWORD)
    ws_url = base_url.replace("http", "ws") + "/ws/jobs?tab="

    sockets = contextlib.ExitStack()

    def open_socket(user_email: str, tab: str) -> ClientConnection:
        cookie = sign_in(base_url, user_email)
        ws = sockets.enter_context(connect(ws_url + tab, origin=base_url,  # type: ignore[arg-type]
                                           additional_headers={"cookie": cookie}))  # fmt: skip
        ws.recv(timeout=10)  # the snapshot: the socket is being served
        return ws

    def start(owner: Person, name: str) -> Job:
        job = store.create(Job(new_job_id(), "import_users", f"Import {name}", owner,
                               time.time(), total=10))  # fmt: skip
        store.transition(job.id, Event.START, at=time.time())
        return job

    with sockets:
        ada_all = open_socket(ada.email, "all")
        bob_all = open_socket(bob.email, "all")
        pat_mine = open_socket(pat.email, "mine")
        bobs = start(Person(bob.id, bob.name), "bob.csv")
        # A new job: its whole row for View All; its owner also gets the header's line.
        for ws in (ada_all, bob_all):
            assert f'id="j{bobs.id}"' in frames_until(ws, f'id="j{bobs.id}s"')
        for done in range(1, 4):  # progress: ticks where the job is known to every page
            store.flush(bobs.id, {"done": str(done)})
            seen_by_ada = frames_until(ada_all, f"{done} / 10 items")
            seen_by_bob = frames_until(bob_all, f"{done} / 10 items")
            assert f'id="recent-{bobs.id}"' in seen_by_bob
            assert f'id="recent-{bobs.id}"' not in seen_by_ada  # not Ada's job
            assert f'id="j{bobs.id}"' not in seen_by_ada  # the row is on the page already
        pats = start(Person(pat.id, pat.name), "pat.csv")
        seen_by_pat = frames_until(pat_mine, f'id="j{pats.id}s"')
        assert f'id="j{pats.id}"' in seen_by_pat and f'id="recent-{pats.id}"' in seen_by_pat
        for ws in (ada_all, bob_all):
            assert f'id="j{pats.id}"' in frames_until(ws, f'id="j{pats.id}s"')
        store.delete(bobs.id)
        for ws in (ada_all, bob_all):
            assert 'hx-swap-oob="delete"' in frames_until(ws, f'id="j{bobs.id}" hx-swap-oob')
        store.flush(pats.id, {"done": "9"})
        seen_by_pat += frames_until(pat_mine, "9 / 10 items")
        assert bobs.id not in seen_by_pat  # a Power User hears nothing of another's job
        for ws in (ada_all, bob_all):
            frames_until(ws, "9 / 10 items")  # and View All still hears everything


def test_a_viewer_that_stops_reading_is_dropped_and_never_holds_up_the_others(
    served: tuple[str, object],
    engine: Engine,
    store: JobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server.hub.delivery, "SEND_TIMEOUT_S", 1.0)
    base_url, app = served
    hub = app.state.hub  # type: ignore[attr-defined]
    with engine.begin() as conn:
        slow_user = add_user(conn, "slow@example.com", "Slow Sue", "superadmin", PASSWORD)
        fast_user = add_user(conn, "fast@example.com", "Fast Fay", "superadmin", PASSWORD)
    slow = open_raw_socket(base_url, sign_in(base_url, slow_user.email), receive_buffer=4096)
    cookie = sign_in(base_url, fast_user.email)
    # Long descriptions make heavy frames, so that the slow socket's buffers fill quickly.
    owner = Person(fast_user.id, fast_user.name)
    jobs = [
        store.create(
            Job(
                new_job_id(),
                "import_users",
                f"Import {n} " + "x" * 20_000,
                owner,
                time.time(),
                total=10**6,
            )
        )  # fmt: skip
        for n in range(JOBS)
    ]
    for job in jobs:
        store.transition(job.id, Event.START, at=time.time())
    with connect(base_url.replace("http", "ws") + "/ws/jobs?tab=all", origin=base_url,  # type: ignore[arg-type]
                 additional_headers={"cookie": cookie}, max_size=None) as fast:  # fmt: skip
        deadline = time.monotonic() + 60
        done, most_pending = 0, 0
        while len(hub.sockets) > 1 and time.monotonic() < deadline:
            done += 1000
            for job in jobs:
                store.flush(job.id, {"done": str(done)})
            most_pending = max([most_pending, *(len(s.pending) for s in hub.sockets)])
            while f"{done:,} / 1,000,000 items".encode() not in fast.recv(timeout=30, decode=False):
                pass  # the reader gets the latest state each round, slow viewer or not
        assert len(hub.sockets) == 1, "the viewer that stopped reading was never dropped"
        assert most_pending <= JOBS * 4 + 2  # one per (job, part), plus the header's
        done += 1000
        store.flush(jobs[0].id, {"done": str(done)})
        while f"{done:,} / 1,000,000".encode() not in fast.recv(timeout=30, decode=False):
            pass
    slow.close()


def test_the_procfile_server_takes_pre_encoded_frames_and_lets_the_handshake_go(
    served: tuple[str, object], engine: Engine, store: JobStore, request: pytest.FixtureRequest
) -> None:
    base_url, app = served
    hub = app.state.hub  # type: ignore[attr-defined]
    with engine.begin() as conn:
        user = add_user(conn, "ada@example.com", "Ada", "superadmin", PASSWORD)
    cookie = sign_in(base_url, user.email)
    with connect(base_url.replace("http", "ws") + "/ws/jobs?tab=all", origin=base_url,  # type: ignore[arg-type]
                 additional_headers={"cookie": cookie}) as ws:  # fmt: skip
        ws.recv(timeout=10)  # the snapshot: the socket is being served
        (sock,) = hub.sockets
        if "pre-encoded" in request.node.callspec.id:
            assert isinstance(sock.writer, HubProtocol)
            assert not hasattr(sock.writer, "request") and not hasattr(sock.writer, "response")
            # websockets' parser keeps the handshake request for the connection's life: it
            # holds nothing more (its headers carried the cookies, some 3 KiB a socket)
            request = sock.writer.conn.parser.gi_frame.f_locals["request"]
            assert request.path and not request.headers
        else:
            assert sock.writer is None  # another server: frames go through ASGI
        job = store.create(Job(new_job_id(), "import_users", "Import Zoë", Person(user.id, "Ada"),
                               time.time(), total=10))  # fmt: skip
        store.transition(job.id, Event.START, at=time.time())
        store.flush(job.id, {"done": "7"})
        frames_until(ws, "7 / 10 items")  # each frame decodes as UTF-8 text, Zoë included
        store.flush(job.id, {"done": "8"})
        frames_until(ws, "8 / 10 items")
    deadline = time.monotonic() + 10
    while hub.sockets and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not hub.sockets, "the hub still serves a socket its client closed"
