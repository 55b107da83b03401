"""Batches planned in the caller's thread and written in another: in order, one planned ahead
at most, a write's error raised to the caller, and the write under way finished at the end."""

from __future__ import annotations

import threading
import time

import pytest

from tasks.write_behind import SIZES, BatchSize, WriteBehind


def test_batches_are_written_in_order_while_the_next_is_planned() -> None:
    events: list[str] = []
    here = threading.get_ident()
    threads: set[int] = set()
    planned = {batch: threading.Event() for batch in "abc"}

    def plan(batch: str) -> str:
        assert threading.get_ident() == here
        events.append(f"plan {batch}")
        planned[batch].set()
        return batch.upper()

    def write(batch: str, position: int) -> None:
        threads.add(threading.get_ident())
        after = "abc"[position : position + 1]
        if after:  # a batch's write ends only once the next one is planned: they overlap
            assert planned[after].wait(5)
        events.append(f"write {batch} {position}")

    with WriteBehind(plan, write, "test") as writer:
        for position, batch in enumerate("abc", start=1):
            writer.add(batch, position)
    assert events == ["plan a", "plan b", "write A 1", "plan c", "write B 2", "write C 3"]
    assert here not in threads and len(threads) == 1


def test_a_write_that_fails_is_raised_by_the_next_add_and_nothing_after_is_written() -> None:
    written: list[str] = []

    def write(planned: str, position: int) -> None:
        if planned == "b":
            raise RuntimeError("the database said no")
        written.append(planned)

    with pytest.raises(RuntimeError, match="said no"), WriteBehind(str, write, "t") as writer:
        for position, batch in enumerate("abcd", start=1):
            writer.add(batch, position)
    assert written == ["a"]


def test_the_last_write_is_waited_for_and_its_error_raised_at_the_end() -> None:
    def write(planned: str, position: int) -> None:
        time.sleep(0.05)
        raise ValueError(planned)

    with pytest.raises(ValueError, match="only"), WriteBehind(str, write, "t") as writer:
        writer.add("only", 1)


def test_an_error_of_the_block_waits_for_the_write_under_way_and_goes_on() -> None:
    written: list[str] = []

    def write(planned: str, position: int) -> None:
        time.sleep(0.1)
        written.append(planned)

    with pytest.raises(KeyError), WriteBehind(str, write, "t") as writer:
        writer.add("a", 1)
        raise KeyError("the reader failed")
    assert written == ["a"]


def test_a_batch_grows_while_its_writes_are_quick_and_shrinks_when_they_are_slow() -> None:
    size = BatchSize(5_000, target_s=0.25)
    size.written(5_000, 0.10)
    assert size.items == 10_000
    size.written(10_000, 0.20)  # near the target: stays
    assert size.items == 10_000
    size.written(10_000, 0.05)
    size.written(20_000, 0.05)  # the largest already
    assert size.items == 20_000
    size.written(20_000, 0.9)
    size.written(10_000, 0.6)
    assert size.items == 5_000


def test_a_batch_smaller_than_the_smallest_size_changes_nothing() -> None:
    size = BatchSize(5_000, target_s=0.25)
    size.written(300, 0.0001)
    size.written(SIZES[0] - 1, 9.0)
    assert size.items == 5_000


def test_the_next_size_follows_the_time_per_item_of_the_last_write() -> None:
    """A batch cut before the size grew tells how long one of the new size would take."""
    size = BatchSize(10_000, target_s=0.25)
    size.written(5_000, 0.1)  # 10,000 would take 0.2 s: near the target
    assert size.items == 10_000
    size.written(5_000, 0.05)  # 10,000 would take 0.1 s
    assert size.items == 20_000


def test_a_batch_never_goes_below_the_smallest_size_nor_starts_off_the_steps() -> None:
    size = BatchSize(SIZES[0], target_s=0.25)
    size.written(SIZES[0], 60.0)
    assert size.items == SIZES[0]
    with pytest.raises(ValueError, match="not 4999"):
        BatchSize(4999)


def test_the_writer_sizes_the_next_batches_by_how_long_the_writes_took() -> None:
    """Writes that take no time (a clock that never moves) grow the batches one step for each
    write known when the next batch is handed over; a job resumed at 7,000 counts its first
    batch from there."""
    sizes: list[int] = []
    with WriteBehind(str, lambda planned, position: None, "t", BatchSize(5_000), 7_000,
                     clock=lambda: 0.0) as writer:  # fmt: skip
        position = 7_000
        for _ in range(4):
            sizes.append(writer.batch_size.items)
            position += writer.batch_size.items
            writer.add("batch", position)
    assert sizes == [5_000, 5_000, 10_000, 20_000]
