"""What a history search looks up: whole words, a word's start, end or inside."""

from __future__ import annotations

import pytest

from tasks.jobs.search import Lookup, lookup, text_of, words_of


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("class-77.csv", Lookup(whole=("77",), starts="csv", ends="class")),
        ("-77.", Lookup(whole=("77",))),
        ("class-", Lookup(ends="class")),
        ("-class", Lookup(starts="class")),
        ("lass", Lookup(inside="lass")),
        ("a b a c", Lookup(whole=("b", "a"), starts="c", ends="a")),
        ("...", None),
        ("", None),
    ],
)
def test_lookup_names_the_words_a_needle_needs(needle: str, expected: Lookup | None) -> None:
    assert lookup(needle) == expected


def test_a_jobs_words_are_its_case_folded_runs() -> None:
    text = text_of("Import users from Q3_Staff-2026.CSV", "José Straße")
    assert words_of(text) == {
        "import",
        "users",
        "from",
        "q3_staff",
        "2026",
        "csv",
        "josé",
        "strasse",
    }
