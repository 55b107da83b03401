"""Signed-in people for modules that need no password: `cast, people, headers =
signed_in_people(ROLES)` at a module's top replaces conftest's `people` and `headers` (which
hash a password for each person: slow) with these people (name -> role), signed in through
conftest's `signed_in`."""

from __future__ import annotations

from typing import Any

import pytest


def signed_in_people(roles: dict[str, str]) -> tuple[Any, Any, Any]:
    @pytest.fixture
    def cast(signed_in):  # type: ignore[no-untyped-def]
        """(user, headers) by name."""
        return {name: signed_in(role, f"{name}@example.com") for name, role in roles.items()}

    @pytest.fixture
    def people(cast):  # type: ignore[no-untyped-def]
        return {name: user for name, (user, _headers) in cast.items()}

    @pytest.fixture
    def headers(cast):  # type: ignore[no-untyped-def]
        return {name: browser for name, (_user, browser) in cast.items()}

    return cast, people, headers
