"""The hub's rendering port: who a socket belongs to, and how one kind of page draws a job.

The views (server/views/) build a `Flavour` per kind of page and hand it in, so the hub knows
sockets, audiences and bytes, never templates. It renders each change once per flavour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tasks.jobs.model import Job

Context = dict[str, object]


class Watcher(Protocol):
    """Who a socket belongs to: a signed-in `Viewer`, or a wall screen (auth/screen_links.py)."""

    @property
    def id(self) -> int: ...
    @property
    def session_id(self) -> str: ...  # a sign-out closes the sockets that match
    @property
    def sees_every_job(self) -> bool: ...  # on tab "all"
    @property
    def role(self) -> str: ...  # a label for metrics: a user's role, or "screen"


@dataclass(frozen=True)
class Header:
    """The admin header's lines: my running count, my recent jobs, the end of a job I watch."""

    render_indicator: Callable[[int], str]
    render_recent: Callable[[Job], str]
    render_notice: Callable[[Job], str]


@dataclass(frozen=True, eq=False)
class Flavour:
    """How one kind of page draws a job: the context of a job at a time, a new job's whole row
    (upserted), the parts that a change swaps, the fragment that removes a job, and the admin
    header (None: the page has none)."""

    name: str
    context: Callable[[Job, float], Context]
    render_row: Callable[[Context], str]
    render_parts: Callable[[Context, tuple[str, ...]], dict[str, str]]
    render_removed: Callable[[str], str]
    header: Header | None
    has_header: bool = field(init=False)  # read for every socket on every tick

    def __post_init__(self) -> None:
        object.__setattr__(self, "has_header", self.header is not None)
