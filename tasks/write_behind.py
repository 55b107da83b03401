"""A massive action's batches planned in its own thread and written in another, so that the
database's work and ours overlap: while one batch is written, the next is read, checked and
looked up.

Batches are written in order, one at a time; `add` returns once the batch before the new one
is committed, so at most one batch is planned ahead. An error of a write is raised by the next
`add`, or when the block ends; if the block ends with an error of its own, the write under
way is waited for (it commits or fails on its own) and that error goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

B = TypeVar("B")  # a batch as read
P = TypeVar("P")  # a batch as planned


class WriteBehind(Generic[B, P]):
    def __init__(self, plan: Callable[[B], P], write: Callable[[P, int], None], name: str) -> None:
        self._plan, self._write = plan, write
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._writing: Future[None] | None = None

    def add(self, batch: B, position: int) -> None:
        """Plan `batch` here, then hand it to the writer once the batch before is committed;
        `position` counts the items up to its end."""
        plan = self._plan(batch)
        if self._writing is not None:
            self._writing.result()
        self._writing = self._writer.submit(self._write, plan, position)

    def __enter__(self) -> WriteBehind[B, P]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if kind is None and self._writing is not None:
                self._writing.result()
        finally:
            self._writer.shutdown(wait=True)
