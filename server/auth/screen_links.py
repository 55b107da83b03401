"""Screen links: named, expiring, read-only passes that let a wall screen show the wallboard.

A Superadmin creates a link; its token (random, shown once) is kept only as its SHA-256, which
is enough for a 256-bit random secret. Keys, under the job store's prefix (`jobdeck:`):

    screen:{id}             hash: name, creator_id, creator_name, created_at, expires_at,
                            last_used_at, token_sha256; expires with the link
    screens:token:{sha256}  string: the link id; expires with the link
    screens                 sorted set: link ids, scored by when they expire
    screens:form:{nonce}    string: a creation form already sent (so a reload makes no twin)

Redeeming a token gives the screen a signed cookie (`jobdeck_screen`, path limited to the
wallboard) that names the link, never the token; every request and socket looks the link up
again, so a revoked or expired link stops working at once; so does a link whose creator is no
longer an active Superadmin (`orphaned`: the wall shows every job, and its maker vouches for
it only while they could see every job themselves). Revoking publishes the screen's
session id on the sign-out channel, and the hub closes its sockets with 1008 as it does for a
person who signs out.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.engine import Engine

from tasks.data.users import active_roles

SCREEN_VIEWER_ID = -1  # no user has it: a screen owns no job and watches none
COOKIE = "jobdeck_screen"
COOKIE_PATH = "/admin/background-jobs/wall"
LIFETIMES_DAYS = (1, 7, 30, 90)
MAX_NAME = 80
FORM_TTL_S = 24 * 3600


class InvalidScreenLink(Exception):
    """A screen link that cannot be created as asked; the message is for a person."""


@dataclass(frozen=True)
class ScreenLink:
    id: str
    name: str
    creator_id: int
    creator_name: str
    created_at: float
    expires_at: float
    last_used_at: float | None


@dataclass(frozen=True)
class ScreenViewer:
    """A wall screen: sees every job on the wallboard and nothing else; not a `Viewer`, so no
    page or API that asks `viewer_of()` ever accepts it."""

    link: ScreenLink

    @property
    def id(self) -> int:
        return SCREEN_VIEWER_ID

    @property
    def session_id(self) -> str:
        return session_id_of_link(self.link.id)

    @property
    def sees_every_job(self) -> bool:
        return True

    @property
    def role(self) -> str:
        return "screen"


def session_id_of_link(link_id: str) -> str:
    """What the sign-out channel carries to close a link's sockets (user sessions have no ':')."""
    return f"screen:{link_id}"


class HideTokens(logging.Filter):
    """A screen link's token travels once, in the path of `GET /screen/{token}`; the access
    log keeps paths, and must not keep the token."""

    path = re.compile(r"/screen/[^/?#\s]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.path.sub("/screen/…", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def hide_tokens_from(logger: logging.Logger) -> None:
    if not any(isinstance(f, HideTokens) for f in logger.filters):
        logger.addFilter(HideTokens())


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# KEYS: the link's hash; ARGV: when. A missing hash (revoked, expired) stays missing.
TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1]) end
"""


class ScreenLinks:
    """Screen links on Redis; every method is one or a few round trips."""

    def __init__(self, client: redis.Redis, prefix: str = "jobdeck:") -> None:
        self.redis = client
        self.prefix = prefix
        self.signouts = prefix + "signouts"  # the hub listens (see hub._close_session)
        self._touch = client.register_script(TOUCH)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    def create(
        self, name: str, creator_id: int, creator_name: str, lifetime_s: float, at: float
    ) -> tuple[ScreenLink, str]:
        """A new link and its token (the only time the token exists outside the screen)."""
        name = " ".join(name.split())
        if not name:
            raise InvalidScreenLink("Give the screen a name, such as “Ops room, left screen”.")
        if len(name) > MAX_NAME:
            raise InvalidScreenLink(f"Keep the name under {MAX_NAME} characters.")
        if lifetime_s <= 0:
            raise InvalidScreenLink(f"A link must live for some time, not {lifetime_s!r} s.")
        token = secrets.token_urlsafe(32)
        link = ScreenLink(secrets.token_hex(8), name, creator_id, creator_name, at,
                          at + lifetime_s, None)  # fmt: skip
        record = {
            "name": link.name,
            "creator_id": link.creator_id,
            "creator_name": link.creator_name,
            "created_at": repr(link.created_at),
            "expires_at": repr(link.expires_at),
            "token_sha256": hash_token(token),
        }
        expires_ms = int(link.expires_at * 1000)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key("screen", link.id), mapping=record)  # type: ignore[arg-type]
        pipe.pexpireat(self.key("screen", link.id), expires_ms)
        pipe.set(self.key("screens", "token", hash_token(token)), link.id, pxat=expires_ms)
        pipe.zadd(self.key("screens"), {link.id: link.expires_at})
        pipe.execute()
        return link, token

    def claim_form(self, nonce: str) -> bool:
        """True the first time a creation form's nonce is sent, False on a resubmission."""
        return bool(self.redis.set(self.key("screens", "form", nonce), 1, nx=True, ex=FORM_TTL_S))

    def get(self, link_id: str, at: float) -> ScreenLink | None:
        """The link, or None once it is revoked or expired."""
        fields = self.redis.hgetall(self.key("screen", link_id))
        if not fields:
            return None
        link = _from_fields(link_id, fields)  # type: ignore[arg-type]
        return link if link.expires_at > at else None

    def redeem(self, token: str, at: float) -> ScreenLink | None:
        """The live link that `token` opens (and note its use), or None."""
        link_id = self.redis.get(self.key("screens", "token", hash_token(token)))
        if link_id is None:
            return None
        link = self.get(str(link_id), at)
        if link is not None:
            self.touch(link.id, at)
        return link

    def touch(self, link_id: str, at: float) -> None:
        """Note that a screen used the link; a link revoked meanwhile is not brought back."""
        self._touch(keys=[self.key("screen", link_id)], args=[repr(at)])

    def list(self, at: float) -> list[ScreenLink]:
        """Every live link, newest first; expired ones are forgotten."""
        self.redis.zremrangebyscore(self.key("screens"), "-inf", at)
        ids = [str(i) for i in self.redis.zrange(self.key("screens"), 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for link_id in ids:
            pipe.hgetall(self.key("screen", link_id))
        links = [_from_fields(i, f) for i, f in zip(ids, pipe.execute(), strict=True) if f]
        return sorted(links, key=lambda link: link.created_at, reverse=True)

    def revoke(self, link_id: str) -> bool:
        """End the link now, and close the sockets of every screen that uses it."""
        key = self.key("screen", link_id)
        token_sha256 = self.redis.hget(key, "token_sha256")
        if token_sha256 is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key, self.key("screens", "token", str(token_sha256)))
        pipe.zrem(self.key("screens"), link_id)
        pipe.publish(self.signouts, session_id_of_link(link_id))
        pipe.execute()
        return True


def orphaned(engine: Engine, links: Iterable[ScreenLink]) -> set[str]:
    """The ids of the links whose creator is no longer an active Superadmin (one query)."""
    links = list(links)
    if not links:
        return set()
    with engine.connect() as conn:
        roles = active_roles(conn, {link.creator_id for link in links})
    return {link.id for link in links if roles.get(link.creator_id) != "superadmin"}


ORPHANED = "This screen link's creator is no longer a Superadmin. Ask a Superadmin for a new one."


def _from_fields(link_id: str, fields: dict[str, str]) -> ScreenLink:
    last_used = fields.get("last_used_at")
    return ScreenLink(
        id=link_id,
        name=fields["name"],
        creator_id=int(fields["creator_id"]),
        creator_name=fields["creator_name"],
        created_at=float(fields["created_at"]),
        expires_at=float(fields["expires_at"]),
        last_used_at=float(last_used) if last_used else None,
    )


# -- the screen's cookie -------------------------------------------------------------------


@dataclass(frozen=True)
class ScreenPass:
    """What the screen's cookie says: which link, and until when (to tell expired from revoked)."""

    link_id: str
    expires_at: float


def signer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="jobdeck.screen")


def dump_pass(secret_key: str, link: ScreenLink) -> str:
    return str(signer(secret_key).dumps({"id": link.id, "exp": link.expires_at}))


def load_pass(secret_key: str, cookie: str | None) -> ScreenPass | None:
    if not cookie:
        return None
    try:
        data = signer(secret_key).loads(cookie)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    link_id, expires_at = data.get("id"), data.get("exp")
    if not isinstance(link_id, str) or not isinstance(expires_at, int | float):
        return None
    return ScreenPass(link_id, float(expires_at))
