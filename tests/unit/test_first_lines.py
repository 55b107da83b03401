"""The table of each email's first line: exact answers, whatever the size it was given."""

from __future__ import annotations

import sys

from tasks.first_lines import FirstLines


def test_each_email_answers_the_line_it_first_appeared_on() -> None:
    seen = FirstLines(rows=10)
    assert seen.first("ada@example.org", 2) == 2
    assert seen.first("bob@example.org", 3) == 3
    assert seen.first("ada@example.org", 7) == 2
    assert seen.first("bob@example.org", 9) == 3
    assert len(seen) == 2


def test_a_table_told_too_few_rows_grows_and_forgets_nothing() -> None:
    seen = FirstLines(rows=1)
    emails = [f"user{i}@example.org" for i in range(5000)]
    for line, email in enumerate(emails, start=2):
        assert seen.first(email, line) == line
    assert seen.capacity > 5000
    for line, email in enumerate(emails, start=2):
        assert seen.first(email, 10_000 + line) == line
    assert len(seen) == 5000


def test_the_table_is_sized_once_from_the_rows_it_was_told() -> None:
    seen = FirstLines(rows=100_000)
    capacity = seen.capacity
    for i in range(100_000):
        seen.first(f"user{i}@example.org", i + 2)
    assert seen.capacity == capacity
    assert capacity * 0.75 >= 100_000


def test_emails_whose_hashes_collide_in_the_table_are_told_apart() -> None:
    # Every key shares the low bits of some other once the table is full enough: linear
    # probing must compare whole keys, not slots.
    seen = FirstLines(rows=1)
    emails = [f"{i}@x.org" for i in range(700)]
    slots = {hash(email) & (seen.capacity - 1) for email in emails}
    assert len(slots) < len(emails)
    for line, email in enumerate(emails):
        seen.first(email, line)
    assert [seen.first(email, -1) for email in emails] == list(range(700))


def test_a_million_rows_take_about_32_mb() -> None:
    seen = FirstLines(rows=1_000_000)
    arrays = (seen._keys, seen._checks, seen._lines)
    size = sum(sys.getsizeof(a) for a in arrays)
    assert 30e6 < size < 35e6
