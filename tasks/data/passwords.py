"""Password hashing with Argon2id (slow on purpose), and verification that never raises.

The cost is chosen, not inherited from argon2-cffi's defaults: OWASP's first Argon2id
configuration, 19 MiB of memory, 2 passes, 1 lane, about 0.1 s on one core here. Each check
holds its memory for its whole duration, so memory grows with the checks that run at once; the
web process bounds those (`PASSWORD_CHECKS_AT_ONCE`, server/auth/sessions.py). A hash made with
other parameters (argon2-cffi's old default, 64 MiB and 4 lanes) still verifies, at its own cost.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MEMORY_KIB = 19 * 1024
PASSES = 2
LANES = 1

_hasher = PasswordHasher(time_cost=PASSES, memory_cost=MEMORY_KIB, parallelism=LANES)

# Verified against when the email is unknown, so that a miss costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("jobdeck: no such account")


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("a password cannot be empty")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
