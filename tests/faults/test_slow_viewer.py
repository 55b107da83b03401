"""A viewer whose socket stops reading, against the web process as the Procfile runs it: the
hub's memory for it stays bounded, another viewer's latency does not change, and it is dropped
once a send has been stuck for the hub's SEND_TIMEOUT_S."""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine
from websockets.sync.client import connect

from server.hub.delivery import SEND_TIMEOUT_S
from tasks.data.users import add_user
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import new_job_id
from tasks.jobs.store import JobStore
from tasks.runtime import Runtime
from tasks.settings import Settings
from tests.faults.fault_kit import WebProcess, tcp_send_queue
from tests.support.raw_socket import open_raw_socket, sign_in_cookie
from tests.support.served import ServedApp
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

EMAIL, PASSWORD = "viewer@example.com", "slow-viewer-password"
JOBS = 150  # running jobs, each updated PER_SECOND times a second
PER_SECOND = 4
BUSY_TOTAL, PROBE_TOTAL = 1_000_000, 999_999
PROBE = re.compile(r"([\d,]+) / 999,999 items")
STALL_S = SEND_TIMEOUT_S + 25  # long enough for the buffers to fill and the send to time out


def start_jobs(
    store: JobStore, owner: Person, count: int, description: str, total: int
) -> list[Job]:
    jobs = []
    for n in range(count):
        job = store.create(
            Job(new_job_id(), "import_users", f"{description} {n} " + "x" * 150, owner,
                time.time(), total=total)
        )  # fmt: skip
        jobs.append(store.transition(job.id, Event.START, at=time.time()))
    return jobs


class Traffic:
    """Progress for every job, PER_SECOND times a second, and a probe whose arrival is timed."""

    def __init__(self, store: JobStore, jobs: list[Job], probe: Job) -> None:
        self.store, self.jobs, self.probe = store, jobs, probe
        self.sent: dict[int, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        k = 0
        while not self.stopped.wait(1 / PER_SECOND):
            k += 1
            for job in self.jobs:
                self.store.flush(job.id, {"done": str(k), "heartbeat_at": repr(time.time())})
            done = k * 1000 + 7
            self.sent[done] = time.monotonic()
            self.store.flush(self.probe.id, {"done": str(done)})


class FastViewer:
    """A viewer that reads every frame at once, noting when each probe value arrived."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.arrived: dict[int, float] = {}
        self.is_open = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with connect(self.url, additional_headers=self.headers, max_size=None) as socket:
            self.is_open.set()
            while not self.stopped.is_set():
                try:
                    frame = socket.recv(timeout=0.5)
                except TimeoutError:
                    continue
                at = time.monotonic()
                text = frame if isinstance(frame, str) else frame.decode()
                for done in PROBE.findall(text):
                    self.arrived.setdefault(int(done.replace(",", "")), at)


@pytest.fixture
def viewer_cookie(engine: Engine) -> Iterator[Callable[[str], str]]:
    """`viewer_cookie(base_url)`: the session cookie of a Superadmin signed in there."""
    with engine.begin() as conn:
        add_user(conn, EMAIL, "Vera Viewer", "superadmin", PASSWORD)
    yield lambda base_url: sign_in_cookie(base_url, EMAIL, PASSWORD)


@pytest.mark.timeout(240)
def test_a_viewer_that_stops_reading_is_dropped_and_costs_the_others_nothing(
    web: Callable[..., WebProcess],
    store: JobStore,
    viewer_cookie: Callable[[str], str],
) -> None:
    server = web()
    cookie = viewer_cookie(server.base_url)
    owner = Person(1, "Vera Viewer")
    jobs = start_jobs(store, owner, JOBS, "Busy", BUSY_TOTAL)
    probe = start_jobs(store, owner, 1, "Probe", PROBE_TOTAL)[0]
    headers = {"Cookie": cookie, "Origin": server.base_url}
    fast = FastViewer(server.base_url.replace("http", "ws") + "/ws/jobs?tab=all", headers)
    fast.thread.start()
    assert fast.is_open.wait(10)
    traffic = Traffic(store, jobs, probe)
    traffic.thread.start()

    def latencies(since: float, until: float) -> list[float]:
        return [
            fast.arrived[done] - sent
            for done, sent in list(traffic.sent.items())
            if since <= sent < until and done in fast.arrived
        ]

    try:
        time.sleep(6)  # the baseline: the fast viewer alone
        rss_before = server.rss_kib()
        slow = open_raw_socket(server.base_url, cookie)
        slow_port = slow.getsockname()[1]
        stalled_at = time.monotonic()
        rss_peak, send_queue = rss_before, 0
        while time.monotonic() - stalled_at < STALL_S:  # the fault: the socket reads nothing
            rss_peak = max(rss_peak, server.rss_kib())
            send_queue = max(send_queue, tcp_send_queue(server.port, slow_port))
            time.sleep(0.5)  # a sampling interval
        baseline = latencies(stalled_at - 5, stalled_at)
        during = latencies(stalled_at + 2, stalled_at + STALL_S)
        slow.settimeout(10)
        received, is_closed = 0, False
        try:
            while chunk := slow.recv(1 << 20):
                received += len(chunk)
            is_closed = True  # the server closed its end once what it had queued was read
        except TimeoutError:
            pass
        finally:
            slow.close()
    finally:
        traffic.stopped.set()
        traffic.thread.join()
        fast.stopped.set()
        fast.thread.join()

    print(
        f"slow viewer: {received / 1e6:.1f} MB were waiting for it after {STALL_S:.0f}s "
        f"(kernel send queue at most {send_queue / 1e6:.1f} MB), then the end of the stream; "
        f"web RSS {rss_before / 1024:.1f} MiB "
        f"before, {rss_peak / 1024:.1f} MiB at most while it stalled; fast viewer's latency "
        f"median {statistics.median(baseline) * 1000:.0f} ms alone, "
        f"{statistics.median(during) * 1000:.0f} ms meanwhile (p95 "
        f"{statistics.quantiles(during, n=20)[-1] * 1000:.0f} ms), {len(during)} samples"
    )
    assert is_closed, "the hub never dropped the socket that stopped reading"
    assert rss_peak - rss_before < 64 * 1024, "the stalled socket's memory is not bounded"
    assert len(during) > 20
    assert statistics.median(during) < max(3 * statistics.median(baseline), 0.5)


@pytest.mark.timeout(180)
def test_the_hub_forgets_a_stalled_socket_even_though_its_close_frame_cannot_leave(
    settings: Settings, runtime: Runtime, store: JobStore, viewer_cookie: Callable[..., str]
) -> None:
    # In-process, to see the hub's own registry: the socket must leave it although the 1013
    # close frame waits behind the same full buffer as the frames before it.
    served = ServedApp(settings).start()
    base_url, app = served.base_url, served.app
    traffic: Traffic | None = None
    try:
        cookie = viewer_cookie(base_url)
        owner = Person(1, "Vera Viewer")
        jobs = start_jobs(store, owner, JOBS, "Busy", BUSY_TOTAL)
        probe = start_jobs(store, owner, 1, "Probe", PROBE_TOTAL)[0]
        hub = app.state.hub
        slow = open_raw_socket(base_url, cookie)
        wait_until(lambda: len(hub.sockets) == 1, 10, "the hub to register the socket")
        traffic = Traffic(store, jobs, probe)
        traffic.thread.start()
        stalled_at = time.monotonic()
        wait_until(lambda: not hub.sockets, SEND_TIMEOUT_S + 60, "the hub to drop the socket")
        print(f"the hub forgot the stalled socket after {time.monotonic() - stalled_at:.1f}s")
        slow.close()
    finally:
        if traffic is not None:
            traffic.stopped.set()
            traffic.thread.join()
        served.stop()
