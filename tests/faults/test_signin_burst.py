"""A burst of wrong sign-ins against the web process as the Procfile runs it: the password
checks (Argon2id, memory-hard on purpose) run a few at a time, so memory stays bounded and
/healthz keeps answering while the burst queues."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine

from tasks.data.users import add_user
from tests.faults.fault_kit import WebProcess

EMAIL, PASSWORD = "burst@example.com", "the-right-password"
ADDRESSES, PER_ADDRESS = 10, 10
BOUND_MIB = 300
HEALTHZ_BOUND_S = 2.0


def kib(process: WebProcess, field: str) -> int:
    """A field of the web process's /proc status (VmRSS now, VmHWM its peak), in KiB."""
    assert process.process is not None
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field)))


async def burst(base_url: str) -> tuple[list[int], list[float]]:
    """100 wrong sign-ins at once from 10 addresses; /healthz asked over and over meanwhile.
    The statuses, and how long each /healthz took."""
    origin = {"origin": base_url}
    limits = httpx.Limits(max_connections=ADDRESSES * PER_ADDRESS + 5)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:

        async def wrong(n: int) -> int:
            forwarded = {"x-forwarded-for": f"10.0.0.{n % ADDRESSES + 1}", **origin}
            data = {"email": EMAIL, "password": f"wrong-{n}"}
            response = await client.post("/login", data=data, headers=forwarded)
            return response.status_code

        async def healthz(until: asyncio.Future[list[int]]) -> list[float]:
            took = []
            while not until.done():
                started = time.monotonic()
                response = await client.get("/healthz")
                took.append(time.monotonic() - started)
                assert response.status_code == 200
                await asyncio.sleep(0.05)  # the pace of the probe, not a wait for an outcome
            return took

        guesses = asyncio.ensure_future(
            asyncio.gather(*(wrong(n) for n in range(ADDRESSES * PER_ADDRESS)))
        )
        took = await healthz(guesses)
        return await guesses, took


def test_a_burst_of_wrong_sign_ins_keeps_memory_bounded_and_healthz_answering(
    web: Callable[..., WebProcess], engine: Engine
) -> None:
    with engine.begin() as conn:
        add_user(conn, EMAIL, "Burst Target", "superadmin", PASSWORD)
    # The burst comes through a proxy on loopback, as ten distinct addresses would: the test
    # trusts it (FORWARDED_ALLOW_IPS, by default nobody) to give each guess its address.
    server = web(FORWARDED_ALLOW_IPS="127.0.0.1")
    with httpx.Client(base_url=server.base_url) as client:  # warm up: one check done
        answered = client.post("/login", data={"email": EMAIL, "password": PASSWORD},
                               headers={"origin": server.base_url})  # fmt: skip
        assert answered.status_code == 303
    before = kib(server, "VmRSS")
    statuses, took = asyncio.run(burst(server.base_url))
    peak = kib(server, "VmHWM")
    grew_mib = (peak - before) / 1024
    took.sort()
    print(
        f"\nRSS {before / 1024:.1f} MiB -> peak {peak / 1024:.1f} MiB (+{grew_mib:.1f});"
        f" {len(took)} /healthz during the burst: median {took[len(took) // 2] * 1000:.0f} ms,"
        f" max {took[-1] * 1000:.0f} ms"
    )
    assert statuses == [401] * (ADDRESSES * PER_ADDRESS)
    assert grew_mib < BOUND_MIB
    assert took and took[-1] < HEALTHZ_BOUND_S


def test_x_forwarded_for_from_loopback_is_not_believed_by_default(
    web: Callable[..., WebProcess], engine: Engine
) -> None:
    with engine.begin() as conn:
        add_user(conn, EMAIL, "Burst Target", "superadmin", PASSWORD)
    server = web()  # the Procfile's command with the shipped defaults
    origin = {"origin": server.base_url}
    with httpx.Client(base_url=server.base_url) as client:
        for n in range(10):  # one caller claiming ten addresses is still one address
            guess = {"email": f"guess{n}@example.com", "password": "x"}
            sent = {**origin, "x-forwarded-for": f"10.0.0.{n}"}
            assert client.post("/login", data=guess, headers=sent).status_code == 401
        right = {"email": EMAIL, "password": PASSWORD}
        sent = {**origin, "x-forwarded-for": "10.9.9.9"}
        assert client.post("/login", data=right, headers=sent).status_code == 429
