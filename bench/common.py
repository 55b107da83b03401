"""What the benchmarks share: a private stack (Redis, SQLite, one web process), signed-in
Superadmins made without /login, and CPU and memory read from /proc. Not a test."""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A job's state fragment in a hub frame: its id and items done. A fragment is under 1 KB: the
# bound keeps a miss from scanning the rest of the frame.
STATE = re.compile(
    rb'id="j([0-9a-f]{16})s".{0,1500}?<span>([\d,]+) / [\d,?]+ items</span>', re.DOTALL
)


def exit_on_sigterm() -> None:
    """Let `finally` blocks stop the child processes when the bench itself is terminated."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def raise_nofile() -> None:
    """Thousands of sockets need thousands of file descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def session_cookie(secret_key: str, session_id: str) -> str:
    """The cookie Starlette's SessionMiddleware would set for {"sid": session_id}."""
    import itsdangerous

    data = base64.b64encode(json.dumps({"sid": session_id}).encode())
    signed = itsdangerous.TimestampSigner(secret_key).sign(data).decode()
    return f"jobdeck_session={signed}"


def make_superadmins(database_url: str, redis_url: str, secret_key: str, n: int) -> list[str]:
    """n active Superadmins, each with a server-side session: their cookies (no argon2)."""
    import redis
    import sqlalchemy as sa

    from tasks.data.db import connect, create_schema, users

    engine = connect(database_url)
    create_schema(engine)
    now = time.time()
    rows = [
        {
            "email": f"bench-{secrets.token_hex(4)}-{i}@example.com",
            "name": f"Bench Admin {i}",
            "role": "superadmin",
            "password_hash": None,
            "is_active": True,
            "created_at": now,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        if rows:
            conn.execute(sa.insert(users), rows)
        ids = [
            r.id for r in conn.execute(sa.select(users.c.id).where(users.c.role == "superadmin"))
        ]
    engine.dispose()
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    cookies = []
    for user_id in ids[-n:] if n else []:
        sid = secrets.token_urlsafe(32)
        pipe.set(f"jobdeck:session:{sid}", user_id, ex=3600)
        pipe.sadd(f"jobdeck:sessions:user:{user_id}", sid)
        cookies.append(session_cookie(secret_key, sid))
    pipe.execute()
    client.close()
    return cookies


class WebProcess:
    """One uvicorn process as in the Procfile (HubProtocol, no per-message deflate). Its log
    goes to `log`: a line per socket opened would drown the figures and cost the terminal."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebProcess:
        import httpx

        code = (
            "import sys; sys.path.insert(0, 'bench'); from common import raise_nofile;"
            "raise_nofile(); import uvicorn;"
            "uvicorn.run('server.app:create_app', factory=True, host='127.0.0.1',"
            f" port={self.port},"
            " ws='server.hub.protocol:HubProtocol', ws_per_message_deflate=False, access_log=False,"
            " log_level='warning', backlog=8192)"
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **self.env},
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/login", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"the web process exited at start-up:\n{tail}")
            time.sleep(0.1)
        raise SystemExit("the web process did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def stack_env(root: Path, redis_url: str, port: int, secret_key: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{root / 'jobdeck.sqlite3'}",
        "SECRET_KEY": secret_key,
        "JOBDECK_ENV": "test",
        "JOBDECK_VAR": str(root / "var"),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "BASE_URL": f"http://127.0.0.1:{port}",  # the only origin and host the web trusts
    }
