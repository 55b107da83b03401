"""A massive action's batches planned in its own thread and written in another, so that the
database's work and ours overlap: while one batch is written, the next is read, checked and
looked up.

Batches are written in order, one at a time; `add` returns once the batch before the new one
is committed, so at most one batch is planned ahead. An error of a write is raised by the next
`add`, or when the block ends; if the block ends with an error of its own, the write under
way is waited for (it commits or fails on its own) and that error goes on.

How many items the caller puts in a batch is `batch_size.items`, sized by how long the writes
take (`BatchSize`): each batch costs its commit and several round trips whatever its size, so
a larger one is written faster per item, while an abort or a pause, which a batch's write does
not stop, lands at the end of the batch under way: a batch is grown while it would be written
in well under TARGET_S, and shrunk when it would take well over it (a busy machine, a slow
database).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

B = TypeVar("B")  # a batch as read
P = TypeVar("P")  # a batch as planned

# The sizes a batch can have, in items: a job starts at FIRST_ITEMS and moves one step at a time.
SIZES = (1_000, 2_000, 5_000, 10_000, 20_000)
FIRST_ITEMS = 5_000
# How long a batch's write should take, in seconds: an abort lands within about twice that.
TARGET_S = 0.25


class BatchSize:
    """How many items the next batch holds, from how long the writes took per item: one step
    larger when a batch of the present size would take under half of `target_s`, one step
    smaller when it would take over twice it. Pure: durations come in as arguments."""

    def __init__(self, first: int = FIRST_ITEMS, target_s: float = TARGET_S) -> None:
        if first not in SIZES:
            raise ValueError(f"a batch holds one of {SIZES} items, not {first}")
        self.items = first
        self.target_s = target_s

    def written(self, items: int, seconds: float) -> None:
        """A batch of `items` took `seconds` to write (one of fewer than the smallest size, a
        file's last, tells too little: its commit is most of it)."""
        if items < SIZES[0]:
            return
        expected_s = seconds / items * self.items
        step = SIZES.index(self.items)
        if expected_s < self.target_s / 2 and step + 1 < len(SIZES):
            self.items = SIZES[step + 1]
        elif expected_s > self.target_s * 2 and step > 0:
            self.items = SIZES[step - 1]


class WriteBehind(Generic[B, P]):
    def __init__(
        self,
        plan: Callable[[B], P],
        write: Callable[[P, int], None],
        name: str,
        batch_size: BatchSize | None = None,
        start: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._plan, self._write, self._clock = plan, write, clock
        self.batch_size = batch_size or BatchSize()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._writing: Future[float] | None = None
        self._items_writing = 0
        self._position = start  # the items up to the end of the batch added last

    def add(self, batch: B, position: int) -> None:
        """Plan `batch` here, then hand it to the writer once the batch before is committed;
        `position` counts the items up to its end."""
        plan = self._plan(batch)
        if self._writing is not None:
            self.batch_size.written(self._items_writing, self._writing.result())
        self._items_writing, self._position = position - self._position, position
        self._writing = self._writer.submit(self._timed_write, plan, position)

    def _timed_write(self, plan: P, position: int) -> float:
        started = self._clock()
        self._write(plan, position)
        return self._clock() - started

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
