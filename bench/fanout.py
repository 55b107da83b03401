"""Benchmark: the hub's fan-out, beside its ceiling measured in the same run (prints figures;
not a test).

Starts a private Redis and one web process (uvicorn as in the Procfile); a separate client
process opens V signed-in Superadmin sockets on View All; a publisher process runs J jobs that
advance continuously through the real JobContext (real throttling, no Dramatiq). Prints events
published per second, frames and bytes sent per second, latency from publish to receipt, the
web process's CPU seconds per second and memory, whether every viewer got every final state;
then, on the same sockets count, the ceiling (`websockets.broadcast()` of pre-encoded frames at
the same frame rate and size), and what polling the full View All page would cost instead.

    .venv/bin/python bench/fanout.py                          # V=1,000, J=20
    .venv/bin/python bench/fanout.py --viewers 50 --jobs 500
    .venv/bin/python bench/fanout.py --viewers 1000 --jobs 200   # overload
    .venv/bin/python bench/fanout.py --viewers 5000 --jobs 0     # idle sockets
    .venv/bin/python bench/fanout.py --quick                  # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    STATE,
    WebProcess,
    cpu_s,
    exit_on_sigterm,
    load_average,
    make_superadmins,
    median,
    percentile,
    raise_nofile,
    rss_kb,
    stack_env,
)

FINAL = re.compile(rb'id="j([0-9a-f]{16})s" class="job-state status-completed"')
TOTAL_ITEMS = 1_000_000
PAGE_JOBS = 200
POLL_EVERY_S = 2.5


# -- the client process: V sockets, counting what arrives -------------------------------------


class Tally:
    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.finals: list[set[str]] = []
        self.receipts: list[tuple[str, int, float]] = []
        self.failed = 0
        self.closed = 0


async def read_socket(ws: Any, tally: Tally, finals: set[str], sampled: bool) -> None:
    seen: set[tuple[str, int]] = set()
    try:
        while True:
            data = await ws.recv(decode=False)
            at = time.time()
            tally.frames += 1
            tally.bytes += len(data)
            if b"status-completed" in data:
                finals.update(m.group(1).decode() for m in FINAL.finditer(data))
            if sampled:
                for m in STATE.finditer(data):
                    key = (m.group(1).decode(), int(m.group(2).replace(b",", b"")))
                    if key not in seen:
                        seen.add(key)
                        tally.receipts.append((key[0], key[1], at))
    except Exception:
        tally.closed += 1


async def clients_main(args: argparse.Namespace) -> None:
    from websockets.asyncio.client import connect

    raise_nofile()
    cookies: list[str] = json.loads(Path(args.cookies).read_text()) if args.cookies else []
    tally = Tally()
    readers: list[asyncio.Task[None]] = []
    sockets: list[Any] = []
    gate = asyncio.Semaphore(50)

    async def open_one(i: int) -> None:
        headers = {"cookie": cookies[i % len(cookies)]} if cookies else {}
        async with gate:
            for _attempt in range(5):
                try:
                    ws = await connect(
                        args.url,
                        origin=args.origin,  # type: ignore[arg-type]
                        additional_headers=headers,
                        compression=None,
                        max_size=None,
                        max_queue=None,
                        open_timeout=60,
                        ping_interval=None,
                        proxy=None,
                    )
                    break
                except Exception:
                    await asyncio.sleep(0.5)
            else:
                tally.failed += 1
                return
        finals: set[str] = set()
        tally.finals.append(finals)
        sockets.append(ws)
        readers.append(asyncio.create_task(read_socket(ws, tally, finals, i < args.sample)))

    await asyncio.gather(*(open_one(i) for i in range(args.viewers)))
    print(json.dumps({"connected": len(sockets), "failed": tally.failed}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "stats" or line == "":
            stats = {"frames": tally.frames, "bytes": tally.bytes, "at": time.time()}
            stats["min_finals"] = min((len(f) for f in tally.finals), default=0)
            stats["closed"] = tally.closed
            print(json.dumps(stats), flush=True)
        if line in ("stop", ""):
            break
    Path(args.out).write_text(
        json.dumps(
            {
                "receipts": tally.receipts,
                "finals": [len(f) for f in tally.finals],
                "closed": tally.closed,
            }
        )
    )
    for ws in sockets:
        ws.transport.abort()
    for task in readers:
        task.cancel()
    print(json.dumps({"stopped": True}), flush=True)


class Clients:
    """The client process, driven by lines on its stdin."""

    def __init__(self, url: str, viewers: int, cookies: Path | None, sample: int, out: Path,
                 origin: str) -> None:  # fmt: skip
        cmd = [sys.executable, __file__, "--role", "clients", "--url", url, "--origin", origin,
               "--viewers", str(viewers), "--sample", str(sample), "--out", str(out)]  # fmt: skip
        if cookies is not None:
            cmd += ["--cookies", str(cookies)]
        self.out = out
        self.process = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the client process died")
        result: dict[str, Any] = json.loads(line)
        return result

    def _say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stats(self) -> dict[str, Any]:
        self._say("stats")
        return self._read()

    def stop(self) -> dict[str, Any]:
        self._say("stop")
        self._read()
        self.process.wait(30)
        result: dict[str, Any] = json.loads(self.out.read_text())
        return result


# -- the publisher process: J jobs advancing through the real JobContext ----------------------


def publisher_main(args: argparse.Namespace) -> None:
    from tasks.jobs.context import JobContext
    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.records import new_job_id
    from tasks.jobs.store import JobStore

    store = JobStore.from_url(args.redis_url, retention_s=3600)
    published: dict[tuple[str, int], float] = {}

    class RecordingContext(JobContext):
        def _flush(self) -> None:
            published.setdefault((self.id, self.done), time.time())
            super()._flush()

    contexts = []
    for n in range(args.jobs):
        job = Job(
            id=new_job_id(),
            kind="import_users",
            description=f"Import users from bench-{n}.csv",
            owner=Person(args.owner_id, "Bench Owner"),
            created_at=time.time(),
            total=TOTAL_ITEMS,
        )
        store.create(job)
        job = store.transition(job.id, Event.START, at=time.time())
        contexts.append(RecordingContext(store, job, interval_ms=args.interval_ms))
    print(json.dumps({"started": time.time()}), flush=True)
    began = time.monotonic()
    while (elapsed := time.monotonic() - began) < args.seconds:
        target = int(TOTAL_ITEMS * elapsed / args.seconds)
        for ctx in contexts:
            if target > ctx.done:
                ctx.advance(target - ctx.done)
        time.sleep(0.002)
    for ctx in contexts:
        ctx.advance(TOTAL_ITEMS - ctx.done)
        ctx.close()
        store.transition(ctx.id, Event.COMPLETE, at=time.time())
    events = len(published) + 3 * args.jobs
    print(json.dumps({"ended": time.time(), "events": events}), flush=True)
    Path(args.out).write_text(json.dumps([[k[0], k[1], t] for k, t in published.items()]))


# -- the ceiling: websockets' own broadcast() of pre-encoded frames ---------------------------


async def ceiling_main(args: argparse.Namespace) -> None:
    from websockets.asyncio.server import broadcast, serve

    raise_nofile()
    conns: set[Any] = set()

    async def handler(ws: Any) -> None:
        conns.add(ws)
        try:
            await ws.wait_closed()
        finally:
            conns.discard(ws)

    frame = (b"<div>" + b"x" * max(0, args.frame_bytes - 11) + b"</div>")[: args.frame_bytes]
    async with serve(handler, "127.0.0.1", args.port, compression=None, ping_interval=None,
                     backlog=8192):  # fmt: skip
        print(json.dumps({"listening": args.port}), flush=True)
        loop = asyncio.get_running_loop()
        tick = 1 / (args.rate_hz or 1)
        next_at = loop.time()
        while True:
            next_at = max(next_at + tick, loop.time())
            await asyncio.sleep(next_at - loop.time())
            if conns and args.rate_hz:
                broadcast(conns, frame, text=True)


# -- the run ----------------------------------------------------------------------------------


def sample_rss(pid: int, stop: threading.Event, into: list[tuple[float, int]]) -> None:
    while not stop.wait(0.5):
        into.append((time.time(), rss_kb(pid)))


def main(args: argparse.Namespace) -> None:
    from server.embedded_redis import EmbeddedRedis, free_port

    raise_nofile()
    exit_on_sigterm()
    root = Path(tempfile.mkdtemp(prefix="jobdeck-fanout-"))
    atexit.register(shutil.rmtree, root, True)  # its Redis, database and logs
    secret_key = secrets.token_urlsafe(32)
    print(
        f"fanout: V={args.viewers:,} sockets, J={args.jobs:,} jobs for {args.seconds:g} s, "
        f"tick {args.tick_ms} ms, progress interval {args.interval_ms} ms; "
        f"load average {load_average()} on {os.cpu_count()} CPUs"
    )
    with EmbeddedRedis(root / "redis", appendonly=False) as redis_server:
        port = free_port()
        env = stack_env(root, redis_server.url, port, secret_key)
        env.update(HUB_TICK_MS=str(args.tick_ms), PROGRESS_INTERVAL_MS=str(args.interval_ms))
        os.environ.update(env)
        cookies = make_superadmins(env["DATABASE_URL"], redis_server.url, secret_key,
                                   min(args.viewers, 1000) or 1)  # fmt: skip
        cookie_file = root / "cookies.json"
        cookie_file.write_text(json.dumps(cookies))
        web = WebProcess(env, port, root / "web.log").start()
        try:
            hub = run_hub(args, root, web, redis_server.url, cookie_file)
            polling = run_polling(args, web, redis_server.url, cookies[0]) if args.jobs else None
        finally:
            web.stop()
        ceiling = run_ceiling(args, root, hub)
    report(args, hub, ceiling, polling)


def run_hub(
    args: argparse.Namespace, root: Path, web: WebProcess, redis_url: str, cookie_file: Path
) -> dict[str, Any]:
    rss_before = rss_kb(web.pid)
    url = f"ws://127.0.0.1:{web.port}/ws/jobs?tab=all&list=1&insert=1"
    t0 = time.monotonic()
    clients = Clients(url, args.viewers, cookie_file, args.sample, root / "clients-hub.json",
                      web.base_url)  # fmt: skip
    connect_s = time.monotonic() - t0
    time.sleep(1.0)  # let the snapshots go out and the allocator settle
    result: dict[str, Any] = {
        "connected": clients.hello["connected"],
        "failed": clients.hello["failed"],
        "connect_s": connect_s,
        "rss_before_kb": rss_before,
        "rss_idle_kb": rss_kb(web.pid),
    }
    if not args.jobs:
        cpu0, s0 = cpu_s(web.pid), clients.stats()
        time.sleep(args.seconds)
        cpu1, s1 = cpu_s(web.pid), clients.stats()
        clients.stop()
        result["idle_cpu"] = (cpu1 - cpu0) / (s1["at"] - s0["at"])
        return result
    samples: list[tuple[float, int]] = []
    stop_sampling = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(web.pid, stop_sampling, samples))
    sampler.start()
    publisher = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--role",
            "publisher",
            "--redis-url",
            redis_url,
            "--jobs",
            str(args.jobs),
            "--seconds",
            str(args.seconds),
            "--interval-ms",
            str(args.interval_ms),
            "--owner-id",
            "1",
            "--out",
            str(root / "published.json"),
        ],  # fmt: skip
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert publisher.stdout is not None
    started = json.loads(publisher.stdout.readline())["started"]
    warmup = min(2.0, args.seconds / 4)
    time.sleep(max(0.0, started + warmup - time.time()))
    cpu0, s0 = cpu_s(web.pid), clients.stats()
    load0 = cpu_s(clients.process.pid)
    time.sleep(max(0.5, args.seconds - 2 * warmup))
    cpu1, s1 = cpu_s(web.pid), clients.stats()
    load1 = cpu_s(clients.process.pid)
    ended = json.loads(publisher.stdout.readline())
    publisher.wait()
    deadline = time.monotonic() + 30
    while clients.stats()["min_finals"] < args.jobs and time.monotonic() < deadline:
        time.sleep(0.2)
    final = clients.stop()
    stop_sampling.set()
    sampler.join()
    window = s1["at"] - s0["at"]
    published = {(j, d): t for j, d, t in json.loads((root / "published.json").read_text())}
    latencies = [
        (at - published[(j, d)]) * 1000 for j, d, at in final["receipts"] if (j, d) in published
    ]
    frames = s1["frames"] - s0["frames"]
    result.update(
        events_per_s=ended["events"] / (ended["ended"] - started + 1e-9),
        frames_per_s=frames / window,
        bytes_per_s=(s1["bytes"] - s0["bytes"]) / window,
        frame_bytes=(s1["bytes"] - s0["bytes"]) / max(1, frames),
        cpu_per_s=(cpu1 - cpu0) / window,
        client_cpu_per_s=(load1 - load0) / window,
        latencies=latencies,
        rss_samples=[kb for _, kb in samples],
        all_finals=sum(1 for n in final["finals"] if n >= args.jobs),
        closed=final["closed"],
    )
    return result


def run_polling(args: argparse.Namespace, web: WebProcess, redis_url: str, cookie: str
                ) -> dict[str, Any]:  # fmt: skip
    """The full View All page as a polling page would fetch it: 200 jobs, 150 of them live."""
    import httpx

    from tasks.jobs.model import Event, Job, Person
    from tasks.jobs.records import new_job_id
    from tasks.jobs.store import JobStore

    store = JobStore.from_url(redis_url, retention_s=3600)
    ended = args.jobs  # the run's jobs, all completed by now
    live = PAGE_JOBS - 50
    for n in range(live + max(0, 50 - ended)):
        job = Job(new_job_id(), "import_users", f"Import users from page-{n}.csv",
                  Person(1, "Bench Owner"), time.time(), total=1000)  # fmt: skip
        store.create(job)
        store.transition(job.id, Event.START, at=time.time())
        if n >= live:
            store.transition(job.id, Event.COMPLETE, at=time.time())
    time.sleep(0.5)
    with httpx.Client(base_url=web.base_url, headers={"cookie": cookie}) as http:
        page = http.get("/admin/background-jobs?tab=all")
        page.raise_for_status()
        jobs_on_page = page.text.count('class="job"')
        times = []
        cpu0 = cpu_s(web.pid)
        for _ in range(args.requests):
            t = time.perf_counter()
            http.get("/admin/background-jobs?tab=all").raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
        cpu_per_request = (cpu_s(web.pid) - cpu0) / args.requests
    return {"bytes": len(page.content), "jobs": jobs_on_page, "cpu_per_request": cpu_per_request,
            "p50_ms": median(times)}  # fmt: skip


def run_ceiling(args: argparse.Namespace, root: Path, hub: dict[str, Any]) -> dict[str, Any]:
    from server.embedded_redis import free_port

    port = free_port()
    # Idle sockets (no jobs): the ceiling sends nothing either, only its memory is compared.
    per_socket_hz = hub.get("frames_per_s", 0) / max(1, hub["connected"])
    frame_bytes = int(hub.get("frame_bytes") or 1000)
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--role",
            "ceiling",
            "--port",
            str(port),
            "--rate-hz",
            str(per_socket_hz),
            "--frame-bytes",
            str(frame_bytes),
        ],  # fmt: skip
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        rss_before = rss_kb(server.pid)
        clients = Clients(f"ws://127.0.0.1:{port}/", args.viewers, None, 0,
                          root / "clients-ceiling.json", "http://127.0.0.1")  # fmt: skip
        time.sleep(1.0)
        rss_idle = rss_kb(server.pid)
        seconds = max(0.5, min(args.seconds, 10.0))
        cpu0, s0 = cpu_s(server.pid), clients.stats()
        load0 = cpu_s(clients.process.pid)
        time.sleep(seconds)
        cpu1, s1 = cpu_s(server.pid), clients.stats()
        load1 = cpu_s(clients.process.pid)
        clients.stop()
    finally:
        server.terminate()
        server.wait()
    window = s1["at"] - s0["at"]
    frames = s1["frames"] - s0["frames"]
    return {
        "connected": clients.hello["connected"],
        "frames_per_s": frames / window,
        "bytes_per_s": (s1["bytes"] - s0["bytes"]) / window,
        "cpu_per_s": (cpu1 - cpu0) / window,
        "client_cpu_per_s": (load1 - load0) / window,
        "us_per_frame": (cpu1 - cpu0) / max(1, frames) * 1e6,
        "rss_before_kb": rss_before,
        "rss_idle_kb": rss_idle,
    }


def report(args: argparse.Namespace, hub: dict[str, Any], ceiling: dict[str, Any],
           polling: dict[str, Any] | None) -> None:  # fmt: skip
    def row(label: str, mine: str, base: str = "") -> None:
        print(f"  {label:<40} {mine:>16} {base:>22}")

    v = max(1, hub["connected"])
    per_socket = (hub["rss_idle_kb"] - hub["rss_before_kb"]) / v
    per_socket_ceiling = (ceiling["rss_idle_kb"] - ceiling["rss_before_kb"]) / v
    print(f"results (load average now {load_average()}):")
    row("", "hub (uvicorn)", "ceiling (broadcast())")
    row("sockets connected", f"{hub['connected']:,}", f"{ceiling['connected']:,}")
    row("connect time for all sockets, s", f"{hub['connect_s']:.1f}")
    row("server memory per idle socket, KB", f"{per_socket:.1f}", f"{per_socket_ceiling:.1f}")
    if not args.jobs:
        row("server CPU s/s while idle", f"{hub['idle_cpu']:.3f}")
        return
    lat = hub["latencies"]
    us_per_frame = hub["cpu_per_s"] / max(1e-9, hub["frames_per_s"]) * 1e6
    rss = hub["rss_samples"] or [hub["rss_idle_kb"]]
    row("events published /s", f"{hub['events_per_s']:,.0f}")
    row("frames sent /s", f"{hub['frames_per_s']:,.0f}", f"{ceiling['frames_per_s']:,.0f}")
    row("frames /s per socket (tick rate)", f"{hub['frames_per_s'] / v:.1f}",
        f"{ceiling['frames_per_s'] / v:.1f}")  # fmt: skip
    row("MB sent /s", f"{hub['bytes_per_s'] / 1e6:.2f}", f"{ceiling['bytes_per_s'] / 1e6:.2f}")
    row("mean frame, bytes", f"{hub['frame_bytes']:,.0f}")
    row("latency publish->receipt p50, ms", f"{percentile(lat, 50):.0f}")
    row("latency publish->receipt p99, ms", f"{percentile(lat, 99):.0f}")
    row("latency publish->receipt max, ms", f"{max(lat, default=float('nan')):.0f}")
    row("latency samples", f"{len(lat):,}")
    row("server CPU s/s", f"{hub['cpu_per_s']:.3f}", f"{ceiling['cpu_per_s']:.3f}")
    row("load generator (client process) CPU s/s", f"{hub['client_cpu_per_s']:.2f}",
        f"{ceiling['client_cpu_per_s']:.2f}")  # fmt: skip
    row("server CPU per frame sent, us", f"{us_per_frame:.1f}", f"{ceiling['us_per_frame']:.1f}")
    row("  ratio to the ceiling", f"{us_per_frame / max(1e-9, ceiling['us_per_frame']):.2f}x")
    row("server RSS MB: idle / peak / end", f"{hub['rss_idle_kb'] / 1024:.0f} / "
        f"{max(rss) / 1024:.0f} / {rss[-1] / 1024:.0f}")  # fmt: skip
    row("viewers that got every final state", f"{hub['all_finals']:,} / {hub['connected']:,}")
    if polling:
        requests_per_s = args.viewers / POLL_EVERY_S
        cores = requests_per_s * polling["cpu_per_request"]
        print(f"polling side by side (one request per viewer every {POLL_EVERY_S} s):")
        row("View All page: jobs / KB", f"{polling['jobs']} / {polling['bytes'] / 1024:.0f}")
        row("page CPU per request, ms / p50 ms", f"{polling['cpu_per_request'] * 1000:.1f} / "
            f"{polling['p50_ms']:.1f}")  # fmt: skip
        row(f"polling {args.viewers:,} viewers: requests /s", f"{requests_per_s:,.0f}")
        row("polling: server CPU s/s (cores)", f"{cores:.2f}", f"hub: {hub['cpu_per_s']:.3f}")
        row("polling: mean staleness, ms", f"{POLL_EVERY_S * 500:.0f}",
            f"hub p50: {percentile(lat, 50):.0f}")  # fmt: skip


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--tick-ms", type=int, default=100)
    parser.add_argument("--interval-ms", type=int, default=200)
    parser.add_argument("--sample", type=int, default=20, help="sockets that record latency")
    parser.add_argument("--requests", type=int, default=50, help="page loads for polling")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 sockets, 5 jobs")
    # internal: the roles of the child processes
    parser.add_argument(
        "--role", default="main", choices=["main", "clients", "publisher", "ceiling"]
    )
    parser.add_argument("--url")
    parser.add_argument("--origin", default="http://127.0.0.1")
    parser.add_argument("--cookies")
    parser.add_argument("--out")
    parser.add_argument("--redis-url")
    parser.add_argument("--owner-id", type=int, default=1)
    parser.add_argument("--port", type=int)
    parser.add_argument("--rate-hz", type=float)
    parser.add_argument("--frame-bytes", type=int)
    args = parser.parse_args(argv)
    if args.quick:
        args.viewers, args.jobs, args.seconds, args.requests = 20, 5, 3.0, 5
    return args


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    if arguments.role == "clients":
        asyncio.run(clients_main(arguments))
    elif arguments.role == "publisher":
        publisher_main(arguments)
    elif arguments.role == "ceiling":
        asyncio.run(ceiling_main(arguments))
    else:
        main(arguments)
