"""The retry policy for database work: backoff within a budget, transient causes only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tasks.data.retry import Backoff, DatabaseUnavailable, is_transient, retry_transient


def operational(message: str = "server closed the connection unexpectedly") -> sa.exc.DBAPIError:
    return sa.exc.OperationalError("INSERT ...", {}, Exception(message))


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = Backoff(budget_s=100, first_s=0.5, cap_s=3)
    assert [policy.delay_s(n, 0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_never_waits_past_its_budget() -> None:
    policy = Backoff(budget_s=10, first_s=1, cap_s=8)
    assert policy.delay_s(4, elapsed_s=9.5) == 0.5
    assert policy.delay_s(5, elapsed_s=10) is None
    assert Backoff(budget_s=0).delay_s(1, 0) is None


def test_backoff_counts_tries_from_one() -> None:
    with pytest.raises(ValueError, match="tries must be >= 1, got 0"):
        Backoff().delay_s(0, 0)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (operational(), True),
        (sa.exc.InterfaceError("SELECT 1", {}, Exception("connection already closed")), True),
        (sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (sa.exc.ProgrammingError("SELECT", {}, Exception("syntax error")), False),
        (ValueError("not a database error"), False),
    ],
)
def test_only_passing_causes_are_transient(error: Exception, expected: bool) -> None:
    assert is_transient(error) is expected


class Clock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_work_is_tried_again_until_it_succeeds_and_each_failed_try_forgotten() -> None:
    clock, outcomes, undone = Clock(), [operational(), operational(), "written"], []

    def work() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = retry_transient(
        work, "writing lines 2-3", Backoff(budget_s=10, first_s=1),
        forget=lambda: undone.append(clock.now), sleep=clock.sleep, clock=clock,
    )  # fmt: skip
    assert result == "written"
    assert clock.sleeps == [1, 2]
    assert undone == [0, 1]


def test_past_the_budget_the_error_says_what_failed_and_what_to_do() -> None:
    clock, forgotten = Clock(), []

    def work() -> None:
        raise operational("connection refused\nIs the server running?")

    with pytest.raises(DatabaseUnavailable) as raised:
        retry_transient(
            work, "writing lines 2002-4001", Backoff(budget_s=7, first_s=1),
            forget=lambda: forgotten.append(1), sleep=clock.sleep, clock=clock,
        )  # fmt: skip
    assert clock.sleeps == [1, 2, 4]
    assert len(forgotten) == 4, "the last failed try is forgotten too"
    assert str(raised.value) == (
        "the database failed 4 times in 7s while writing lines 2002-4001 (connection refused); "
        "what came before was saved: run the job again later"
    )


def test_a_lasting_error_is_raised_at_once() -> None:
    clock, tries = Clock(), []

    def work() -> None:
        tries.append(1)
        raise sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(sa.exc.IntegrityError):
        retry_transient(work, "writing", Backoff(), sleep=clock.sleep, clock=clock)
    assert (tries, clock.sleeps) == ([1], [])
