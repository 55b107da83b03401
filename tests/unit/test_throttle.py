"""The progress throttle: at most one publication per interval, with explicit times."""

from __future__ import annotations

import pytest

from tasks.jobs.throttle import Throttle


def test_first_offer_publishes() -> None:
    throttle = Throttle(200)
    assert throttle.offer(10.0)
    assert not throttle.is_pending


def test_offers_inside_the_interval_are_held_and_pending() -> None:
    throttle = Throttle(200)
    throttle.offer(10.0)
    assert not throttle.offer(10.05)
    assert throttle.is_pending
    assert not throttle.offer(10.199)
    assert throttle.is_pending


def test_offer_at_exactly_the_interval_publishes_and_clears_pending() -> None:
    # Times that are exact in binary, so that "exactly the interval" means exactly.
    throttle = Throttle(250)
    throttle.offer(10.0)
    throttle.offer(10.125)
    assert throttle.offer(10.25)
    assert not throttle.is_pending
    assert throttle.last_at == 10.25


def test_interval_counts_from_the_last_publication_not_the_last_offer() -> None:
    throttle = Throttle(250)
    throttle.offer(0.0)
    for at in (0.0625, 0.125, 0.1875):
        assert not throttle.offer(at)
    assert throttle.offer(0.25)
    assert not throttle.offer(0.4375)
    assert throttle.offer(0.5)


def test_many_offers_over_one_second_publish_about_once_per_interval() -> None:
    throttle = Throttle(200)
    published = sum(throttle.offer(i / 10_000) for i in range(10_000))
    assert published == 5


def test_flushed_by_another_path_restarts_the_interval() -> None:
    throttle = Throttle(250)
    throttle.offer(0.0)
    throttle.offer(0.125)
    assert throttle.is_pending
    throttle.flushed(0.125)
    assert not throttle.is_pending
    assert throttle.last_at == 0.125
    assert not throttle.offer(0.25), "0.125 s after the flush: still inside the interval"
    assert throttle.offer(0.375)


def test_flushed_before_any_offer() -> None:
    throttle = Throttle(200)
    throttle.flushed(5.0)
    assert not throttle.offer(5.1)
    assert throttle.is_pending


def test_zero_interval_publishes_every_offer() -> None:
    throttle = Throttle(0)
    assert all(throttle.offer(1.0) for _ in range(3))
    assert not throttle.is_pending


def test_interval_is_kept_in_seconds() -> None:
    assert Throttle(250).interval_s == 0.25


def test_negative_interval_is_refused_with_its_value() -> None:
    with pytest.raises(ValueError, match="interval_ms must be >= 0, got -1"):
        Throttle(-1)
