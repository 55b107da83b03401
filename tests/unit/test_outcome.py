"""The pure parts of the follow-ups: a tally counted batch by batch and read back from what a
checkpoint saved; the job record's new fields through the store's flat hash."""

from __future__ import annotations

import pytest

from tasks.jobs.model import Job, Person, from_fields, to_fields
from tasks.outcome import CHECK_OUTCOME, REVERT_OUTCOME, Tally


def test_a_tally_adds_batch_by_batch_and_reads_back_what_it_saved() -> None:
    tally = Tally.of(CHECK_OUTCOME, {})
    assert tally.counts == {"create": 0, "update": 0, "unchanged": 0, "error": 0}
    tally = tally.plus(create=3, error=1).plus(update=2, unchanged=1)
    assert tally.counts == {"create": 3, "update": 2, "unchanged": 1, "error": 1}
    assert Tally.of(CHECK_OUTCOME, tally.saved()) == tally


def test_a_tally_keeps_where_the_next_batch_begins() -> None:
    tally = Tally.of(REVERT_OUTCOME, {"reverted": 5, "kept": 1, "after": 17})
    assert (tally.counts, tally.after) == ({"reverted": 5, "kept": 1, "error": 0}, 17)
    later = tally.plus(40, reverted=2)
    assert (later.counts["reverted"], later.after) == (7, 40)
    assert tally.plus(kept=1).after == 17


def test_a_tally_refuses_a_count_it_does_not_keep() -> None:
    with pytest.raises(ValueError, match=r"unknown counts \['created'\]: expected"):
        Tally.of(CHECK_OUTCOME, {}).plus(created=1)


def test_the_follow_up_fields_go_through_the_flat_hash_and_are_left_out_when_empty() -> None:
    job = Job("a" * 16, "import_users", "x", Person(1, "Ann"), 1.0)
    assert {"source_id", "outcome", "follow_ups"}.isdisjoint(to_fields(job))
    counts = {"reverted": 2, "kept": 0, "error": 0}
    linked = Job("b" * 16, "revert_job", "x", Person(1, "Ann"), 1.0, source_id="a" * 16,
                 outcome=counts, follow_ups={"revert": "c" * 16})  # fmt: skip
    assert from_fields(to_fields(linked)) == linked
    assert from_fields(to_fields(job)) == job
