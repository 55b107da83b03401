"""What the fault tests share: real worker processes to kill, CSV files with known bad rows,
and a way to count what an import really wrote.

`Workers.start(**env)` runs `dramatiq tasks.worker` as the Procfile does (its own process
group, its log in the test's folder); `env` overrides the test session's environment, so that a
worker can be pointed at a private Redis, database or SMTP server. Workers beat at the shipped
`HEARTBEAT_INTERVAL_S` (the session's 1 s is for in-process tests), so that what the fault tests
show about a dead worker holds as a user runs it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from server.embedded_redis import free_port
from tasks.data.courses import add_course
from tasks.data.db import users
from tasks.demo import COURSES, demo_csv

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def shipped_timing() -> dict[str, str]:
    """The session's environment without its shortened worker heartbeat."""
    return {k: v for k, v in os.environ.items() if k != "HEARTBEAT_INTERVAL_S"}


class Workers:
    """Worker processes started by one test, and their logs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, threads: int = 2, **env: str) -> subprocess.Popen[bytes]:
        self.logs.append(self.folder / f"worker-{len(self.started) + 1}.log")
        args = [str(BIN / "dramatiq"), "tasks.worker", "--processes", "1"]
        args += ["--threads", str(threads), "--queues", "jobs", "mail"]
        with open(self.logs[-1], "wb") as log:
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env={**shipped_timing(), **env},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.started if p.poll() is None]

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and the processes it forked (its whole group)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """SIGTERM a worker (it finishes or requeues what it holds), SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill(process)


def users_csv(rows: int, bad: int, seed: int, prefix: str = "") -> bytes:
    """A demo users CSV with `bad` bad rows; `prefix` starts every email, so that files with
    different prefixes never name the same user."""
    header, _, body = "".join(demo_csv(rows, bad, seed)).partition("\n")
    lines = body.splitlines(keepends=True)
    return (header + "\n" + "".join(prefix + line for line in lines)).encode()


def add_demo_courses(engine: Engine) -> None:
    with engine.begin() as conn:
        for code, title in COURSES:
            add_course(conn, code, title)


def imported_users(engine: Engine, prefix: str) -> tuple[int, int]:
    """How many users have an email starting with `prefix`, and how many distinct emails."""
    with engine.connect() as conn:
        count, distinct = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(users.c.email))).where(
                users.c.email.like(prefix + "%")
            )
        ).one()
    return int(count), int(distinct)


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts, as bytes."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(bytes(envelope.content))
        return "250 Message accepted for delivery"


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free loopback port, that a test may stop and start.

    Run as root, its commands run as the `postgres` user in a folder that user owns.
    """

    def __init__(self, folder: Path, port: int) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = found[-1].parent
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str) -> None:
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> PrivatePostgres:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")  # fmt: skip
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.folder / "server.log"), "-o", options, "-w", "start")  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: open sessions are cut, as in a restart or a failover."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


def procfile_web_command(port: int) -> list[str]:
    """The Procfile's `web:` command, word for word, on 127.0.0.1:`port`."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    line = next(line for line in lines if line.startswith("web:"))
    command = line.removeprefix("web:").replace("${HOST:-127.0.0.1}", "127.0.0.1")
    args = shlex.split(command.replace("${PORT:-8000}", str(port)))
    return [str(BIN / args[0]), *args[1:]]


class WebProcess:
    """The web process as the Procfile runs it: uvicorn in a process of its own (so that its
    memory can be read from /proc), on a free loopback port; `env` overrides the session's."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"web-{self.port}.log"
        self.env = {**os.environ, "BASE_URL": self.base_url, **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30) -> WebProcess:
        args = procfile_web_command(self.port)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start:\n{self.log.read_text()}") from None
                time.sleep(0.05)

    def rss_kib(self) -> int:
        """The web process's resident memory, from /proc."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        )

    def open_files(self) -> int:
        """How many files the web process holds open: each accepted connection is one."""
        assert self.process is not None
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


def tcp_send_queue(local_port: int, remote_port: int) -> int:
    """Bytes the kernel holds unsent on a loopback TCP connection (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        ports = (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16))
        if ports == (local_port, remote_port):
            return int(fields[4].split(":")[0], 16)
    return 0
