"""How many ids a listing reads next: a page's worth when the search keeps what it reads, up to
a thousand when it keeps few."""

from __future__ import annotations

from tasks.jobs.listings import next_chunk


def test_the_first_read_is_a_page_or_a_hundred() -> None:
    assert next_chunk(50, 0, 0) == 100
    assert next_chunk(200, 0, 0) == 200


def test_the_next_read_follows_the_rate_seen() -> None:
    assert next_chunk(40, 100, 100) == 100  # everything matched: a little more than wanted
    assert next_chunk(45, 100, 5) == 1000  # 5 %: 900 would do, a quarter more, at most 1,000
    assert next_chunk(10, 100, 20) == 100  # 63 at 20 %, at least 100
    assert next_chunk(30, 100, 50) == 100
    assert next_chunk(45, 100, 0) == 400  # nothing matched yet: four times as many
    assert next_chunk(45, 500, 0) == 1000  # (at most 1,000)


def test_a_page_larger_than_a_thousand_is_read_whole() -> None:
    assert next_chunk(5000, 100, 1) == 5000
