"""What a history search looks up: whole words, a word's start, end or inside, a pair of words."""

from __future__ import annotations

import pytest

from tasks.jobs.search import Lookup, lookup, pairs_of, text_of, words_of


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
        ("owner 7", Lookup(starts="7", ends="owner", between=" ")),
        ("class-77", Lookup(starts="77", ends="class", between="-")),
        ("rows)\nj", Lookup(starts="j", ends="rows", between=")\n")),
        ("a - -b", Lookup(starts="b", ends="a")),  # a gap longer than MAX_BETWEEN: no pair
        (" owner 7", Lookup(whole=("owner",), starts="7")),
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


def test_a_jobs_pairs_are_its_neighbouring_words_as_written_with_short_gaps() -> None:
    text = text_of("Import users from class-7.csv (1,000 rows) -- x", "Owner 7")
    assert pairs_of(text) == {
        "import users",
        "users from",
        "from class",
        "class-7",
        "7.csv",
        "csv (1",
        "1,000",
        "000 rows",
        "x\nowner",
        "owner 7",
    }  # not "rows) -- x": five characters lie between its words
