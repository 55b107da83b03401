"""Places in line move live: when a job ends and the next one starts, every queued job behind
it is pushed its new place, though its own record did not change (server/hub/line_watch.py),
to those who may see it and to nobody else."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from websockets.sync.client import ClientConnection, connect

from tasks.data.users import add_user
from tasks.jobs.model import Person
from tasks.runtime import Runtime
from tasks.settings import Settings
from tests.support.held_jobs import GATES, launch_held, worker_with_threads
from tests.support.raw_socket import sign_in_cookie
from tests.support.served import ServedApp
from tests.support.waiting import wait_until

PASSWORD = "correct horse battery"


@pytest.fixture
def served(settings: Settings, runtime: Runtime) -> Iterator[str]:
    server = ServedApp(settings).start()
    try:
        yield server.base_url
    finally:
        server.stop()


def frames_until(ws: ClientConnection, pattern: str) -> str:
    """Every frame received up to and including the first that matches `pattern`."""
    received: list[str] = []
    while not received or not re.search(pattern, received[-1], re.S):
        received.append(str(ws.recv(timeout=15)))
    return "".join(received)


def place_of(job_id: str, place: str = r"\d+\w\w") -> str:
    """A pattern for the job's state saying its place in line ("2nd in line")."""
    return rf'id="j{job_id}s"(?:(?!</p>).)*class="place">{place} in line'


def test_a_queued_job_is_pushed_its_new_place_when_the_job_ahead_starts(
    served: str, engine: Engine, runtime: Runtime
) -> None:
    with engine.begin() as conn:
        pat = add_user(conn, "pat@example.com", "Pat Power", "power_user", PASSWORD)
        add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)
        add_user(conn, "olga@example.com", "Olga Other", "power_user", PASSWORD)
    owner = Person(pat.id, pat.name)
    ws_url = served.replace("http", "ws") + "/ws/jobs?tab="
    sockets = contextlib.ExitStack()

    def open_socket(email: str, tab: str) -> ClientConnection:
        cookie = sign_in_cookie(served, email, PASSWORD)
        return sockets.enter_context(
            connect(ws_url + tab, origin=served, additional_headers={"cookie": cookie})
        )

    # ONE thread: the running job holds the only slot, so A and B wait in line behind it.
    with worker_with_threads(1), sockets:
        running = launch_held(runtime, owner, name="R")
        wait_until(lambda: GATES.started == [running.id], 20, "R to start")
        a, b = launch_held(runtime, owner, name="A"), launch_held(runtime, owner, name="B")
        sue, mine, olga = open_socket("sue@example.com", "all"), open_socket(pat.email, "mine"), \
            open_socket("olga@example.com", "mine")  # fmt: skip
        for ws in (sue, mine):
            seen = frames_until(ws, place_of(b.id, "2nd"))
            assert re.search(place_of(a.id, "1st"), seen, re.S)

        GATES.let(running.id)  # R ends, A starts: B is next, though B itself did not change
        for ws in (sue, mine):
            frames_until(ws, place_of(b.id, "1st"))
        GATES.open_all()
        wait_until(lambda: runtime.store.get(b.id).is_final, 20, "B to end")
        with pytest.raises(TimeoutError):
            while True:  # whatever Olga was sent, it was none of Pat's jobs
                assert pat.name not in str(olga.recv(timeout=0.5))
