"""The platform's users: who they are, their role, and whether they may still sign in."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tasks.data.db import ROLES, users
from tasks.data.passwords import hash_password

MAX_EMAIL = 254
MAX_NAME = 200
_NOT = "@\\s<>\"',;\x00-\x1f\x7f-\x9f"  # what no part of an address may hold
_EMAIL = re.compile(f"^[^{_NOT}]+@[^{_NOT}]+\\.[^{_NOT}.]{{2,}}$")
# Unicode's control characters (category Cc) are exactly these: one regex search, not a
# look-up per character, since an import checks every name.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class InvalidUser(ValueError):
    """A user's field is not acceptable; the message says which and why."""


class DuplicateEmail(InvalidUser):
    pass


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    role: str
    is_active: bool
    created_at: float
    password_hash: str | None = None

    @property
    def is_superadmin(self) -> bool:
        return self.role == "superadmin"

    @property
    def may_run_jobs(self) -> bool:
        return self.is_active and self.role in ("superadmin", "power_user")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    """The normalized email, or InvalidUser with a reason a person can act on."""
    email = normalize_email(email)
    if not email:
        raise InvalidUser("email is empty")
    if len(email) > MAX_EMAIL:
        raise InvalidUser(f"email is longer than {MAX_EMAIL} characters")
    if not _EMAIL.match(email):
        raise InvalidUser(f"{email!r} is not a valid email address")
    return email


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidUser("name is empty")
    if len(name) > MAX_NAME:
        raise InvalidUser(f"name is longer than {MAX_NAME} characters")
    if _CONTROL.search(name):
        raise InvalidUser("name holds a control character")
    return name


def check_role(role: str) -> str:
    role = role.strip().lower().replace("-", "_").replace(" ", "_")
    if role not in ROLES:
        raise InvalidUser(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        email=m["email"],
        name=m["name"],
        role=m["role"],
        is_active=bool(m["is_active"]),
        created_at=m["created_at"],
        password_hash=m["password_hash"],
    )


def add_user(
    conn: Connection, email: str, name: str, role: str, password: str | None = None
) -> User:
    """Create one user; raises InvalidUser (or DuplicateEmail) and writes nothing on bad input."""
    email, name, role = check_email(email), check_name(name), check_role(role)
    password_hash = hash_password(password) if password else None
    if find_user(conn, email) is not None:
        raise DuplicateEmail(f"a user with email {email!r} already exists")
    values = dict(
        email=email,
        name=name,
        role=role,
        password_hash=password_hash,
        is_active=True,
        created_at=time.time(),
    )
    try:
        with conn.begin_nested():
            result = conn.execute(sa.insert(users).values(**values).returning(users.c.id))
            user_id = result.scalar_one()
    except sa.exc.IntegrityError:
        raise DuplicateEmail(f"a user with email {email!r} already exists") from None
    return User(id=user_id, **values)  # type: ignore[arg-type]


def find_user(conn: Connection, email: str) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.email == normalize_email(email))).first()
    return _user(row) if row else None


def get_user(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    return _user(row) if row else None


def active_roles(conn: Connection, user_ids: Iterable[int]) -> dict[int, str]:
    """The role of each of these users that exists and is active, by id (one query, two
    columns: the sockets' access re-check runs it every second)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    query = sa.select(users.c.id, users.c.role).where(users.c.id.in_(ids), users.c.is_active)
    return {user_id: role for user_id, role in conn.execute(query)}


def list_users(conn: Connection, limit: int = 1000) -> list[User]:
    query = sa.select(users).order_by(users.c.id).limit(limit)
    return [_user(row) for row in conn.execute(query)]


def update_user(conn: Connection, user_id: int, **changes: object) -> None:
    """Change a user's role, name or active flag (validated like a new user)."""
    if "role" in changes:
        changes["role"] = check_role(str(changes["role"]))
    if "name" in changes:
        changes["name"] = check_name(str(changes["name"]))
    unknown = set(changes) - {"role", "name", "is_active"}
    if unknown:
        raise InvalidUser(f"cannot change {', '.join(sorted(unknown))}")
    stamp = {"updated_at": time.time(), "updated_by": None}  # a person's change, not a job's
    conn.execute(sa.update(users).where(users.c.id == user_id).values(**changes, **stamp))


def record_sign_in(conn: Connection, user_id: int, at: float) -> None:
    """Note that the user signed in at `at` (a revert keeps a user who signed in since)."""
    conn.execute(sa.update(users).where(users.c.id == user_id).values(signed_in_at=at))


def count_users(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())
