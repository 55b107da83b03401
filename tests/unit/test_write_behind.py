"""Batches planned in the caller's thread and written in another: in order, one planned ahead
at most, a write's error raised to the caller, and the write under way finished at the end."""

from __future__ import annotations

import threading
import time

import pytest

from tasks.write_behind import WriteBehind


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
