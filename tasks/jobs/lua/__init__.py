"""The job store's Lua scripts, one file each, with what their KEYS and ARGV are."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def lua(name: str) -> str:
    """The text of `name`.lua beside this module."""
    return (HERE / f"{name}.lua").read_text()
