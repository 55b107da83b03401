"""Who is asking: sign-in, server-side sessions, roles, and the limit on failed sign-ins
(per account and address, and per address; at most `password_checks_at_once` checks at once).

The session cookie (signed by Starlette's SessionMiddleware: HttpOnly, SameSite=Lax, Secure
behind https) carries only a random session id; the session itself lives in Redis, so signing
out ends it everywhere (a copied cookie stops working) and a deactivated user is out at once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from tasks.data.passwords import verify_password
from tasks.data.users import (
    User,
    active_roles,
    find_user,
    get_user,
    normalize_email,
    record_sign_in,
)
from tasks.runtime import Runtime

SESSION_TTL_S = 14 * 24 * 3600
MAX_EMAIL_INPUT = 254
MAX_PASSWORD_INPUT = 1024


class SignInRefused(Exception):
    """Sign-in failed; `status` and a message a person can act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Viewer:
    user: User
    session_id: str

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def is_superadmin(self) -> bool:
        return self.user.is_superadmin

    @property
    def may_run_jobs(self) -> bool:
        return self.user.may_run_jobs

    @property
    def sees_every_job(self) -> bool:
        """On View All (the hub asks; see hub.Watcher)."""
        return self.user.is_superadmin

    @property
    def role(self) -> str:
        return self.user.role


class Sessions:
    """Server-side sessions and sign-in attempts, on the same Redis as the jobs."""

    def __init__(self, runtime: Runtime, prefix: str = "jobdeck:") -> None:
        self.runtime = runtime
        self.redis: redis.Redis = runtime.store.redis
        self.prefix = prefix
        self.attempts_per_minute = runtime.settings.login_attempts_per_minute
        self.password_checks = ThreadPoolExecutor(
            runtime.settings.password_checks_at_once, thread_name_prefix="password-check"
        )

    def _key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    async def sign_in(self, email: str, password: str, address: str) -> tuple[User, str]:
        """Check the credentials; a new session id for the user, or SignInRefused.

        Failures are counted per account *and address* and per address, never per account
        alone: otherwise anyone could lock an account out by failing for it, and its owner
        could not sign in from anywhere. The password check itself runs in a pool of
        `password_checks_at_once` threads, so that a burst of sign-ins queues (costing a
        closure each) instead of holding an Argon2 buffer each at once."""
        email = email.strip()
        if not email or not password:
            raise SignInRefused(400, "Enter your email address and your password.")
        if len(email) > MAX_EMAIL_INPUT or len(password) > MAX_PASSWORD_INPUT:
            raise SignInRefused(400, "That email address or password is too long.")
        counters = [
            self._key("signin", "pair", normalize_email(email), address),
            self._key("signin", "ip", address),
        ]
        if not await run_in_threadpool(self._count_attempt, counters):
            raise SignInRefused(429, "Too many failed attempts. Wait a minute and try again.")
        loop = asyncio.get_running_loop()
        user = await loop.run_in_executor(self.password_checks, self._check, email, password)
        if user is None:
            raise SignInRefused(401, "Wrong email address or password.")
        await run_in_threadpool(self._give_back, counters)
        await run_in_threadpool(self._record_sign_in, user.id)
        return user, await run_in_threadpool(self.start, user.id)

    def _record_sign_in(self, user_id: int) -> None:
        with self.runtime.engine.begin() as conn:
            record_sign_in(conn, user_id, time.time())

    def _count_attempt(self, counters: list[str]) -> bool:
        """Count an attempt before checking it, atomically (checking first would let a burst
        of parallel guesses all pass while the count is still low); whether it may go on."""
        pipe = self.redis.pipeline()
        for key in counters:
            pipe.incr(key)
            pipe.expire(key, 60, nx=True)
        return all(count <= self.attempts_per_minute for count in pipe.execute()[::2])

    def _check(self, email: str, password: str) -> User | None:
        with self.runtime.engine.connect() as conn:
            user = find_user(conn, email)
        hash_ = user.password_hash if user is not None else None
        if not verify_password(hash_, password) or user is None or not user.is_active:
            return None
        return user

    def _give_back(self, counters: list[str]) -> None:
        """A success does not count as a failure."""
        pipe = self.redis.pipeline()
        for key in counters:
            pipe.decr(key)
        pipe.execute()

    def close(self) -> None:
        self.password_checks.shutdown(wait=False, cancel_futures=True)

    def start(self, user_id: int) -> str:
        """A new session for a user whose credentials were checked; its id."""
        session_id = secrets.token_urlsafe(32)
        mine = self._key("sessions", "user", user_id)
        pipe = self.redis.pipeline()
        pipe.set(self._key("session", session_id), user_id, ex=SESSION_TTL_S)
        pipe.sadd(mine, session_id)
        pipe.expire(mine, SESSION_TTL_S)  # it goes when its newest session does, not never
        pipe.execute()
        return session_id

    def sign_out(self, session_id: str) -> None:
        user_id = self.redis.getdel(self._key("session", session_id))
        if user_id is not None:
            self.redis.srem(self._key("sessions", "user", user_id), session_id)
            self.redis.publish(self._key("signouts"), session_id)

    def viewer(self, session_id: str | None) -> Viewer | None:
        """The signed-in, active user of a session id, or None."""
        if not session_id or not isinstance(session_id, str):
            return None
        user_id = self.redis.get(self._key("session", session_id))
        if user_id is None:
            return None
        with self.runtime.engine.connect() as conn:
            user = get_user(conn, int(user_id))
        if user is None or not user.is_active:
            return None
        return Viewer(user, session_id)

    def revoked(self, viewers: Iterable[Viewer]) -> set[str]:
        """The session ids among `viewers` that no longer give what they gave at sign-in: the
        session ended, or its user is gone, inactive or has another role now. One Redis round
        trip and one query, however many viewers."""
        viewers = list(viewers)
        if not viewers:
            return set()
        session_key = self._key("session", "")
        owners = self.redis.mget([session_key + viewer.session_id for viewer in viewers])
        with self.runtime.engine.connect() as conn:
            roles = active_roles(conn, {viewer.id for viewer in viewers})
        return {
            viewer.session_id
            for viewer, owner in zip(viewers, owners, strict=True)
            if owner is None or int(owner) != viewer.id or roles.get(viewer.id) != viewer.role
        }


def session_id_of(conn: HTTPConnection) -> str | None:
    value = conn.session.get("sid")
    return value if isinstance(value, str) else None


def is_local_path(target: str) -> bool:
    """Only same-site paths may be a redirect target after sign-in."""
    return (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 32 for c in target)
    )
