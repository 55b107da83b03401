"""Places in line and start estimates, played forward from what runs now (tasks/jobs/places.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from tasks.jobs.model import Job, Person, Status
from tasks.jobs.places import Place, next_in_line, plan

T0 = 1_700_000_000.0
PRIYA, OMAR = Person(1, "Priya Power"), Person(2, "Omar Other")


def job(name: str, owner: Person = PRIYA, **changes: object) -> Job:
    made = Job(name, "import_users", name, owner, created_at=T0, total=1000)
    return replace(made, **changes)  # type: ignore[arg-type]


def running(name: str, done: int, owner: Person = PRIYA, since_s: float = 10) -> Job:
    """A job that has done `done` of its 1,000 items in `since_s` seconds."""
    return job(name, owner, status=Status.RUNNING, started_at=T0 - since_s, done=done)


def test_places_count_from_one_in_line_order_with_starts_from_the_running_rate() -> None:
    # R does 50 items/s and has 500 left: it ends in 10 s; each queued job then takes 20 s.
    places = plan([job("A"), job("B"), job("C")], [running("R", 500)], 1, 2, at=T0)
    assert places == {
        "A": Place(1, T0 + 10),
        "B": Place(2, T0 + 30),
        "C": Place(3, T0 + 50),
    }


def test_a_fast_tracked_job_is_first_and_the_others_move_down() -> None:
    waiting = [job("A"), job("B"), job("D", fast_tracked_at=T0 - 1)]
    places = plan(waiting, [running("R", 500)], 1, 2, at=T0)
    assert [places[n].position for n in "DAB"] == [1, 2, 3]
    assert places["D"].starts_at == T0 + 10


def test_fast_tracked_jobs_keep_the_order_they_were_fast_tracked_in() -> None:
    waiting = [job("A", fast_tracked_at=T0 - 1), job("B", fast_tracked_at=T0 - 5)]
    assert next_in_line(waiting, Counter(), 2) == 1


def test_starts_are_unknown_while_the_running_job_has_no_rate_yet() -> None:
    places = plan([job("A"), job("B")], [running("R", 0)], 1, 2, at=T0)
    assert places == {"A": Place(1, None), "B": Place(2, None)}


def test_a_free_thread_starts_the_first_job_now() -> None:
    places = plan([job("A"), job("B")], [], 1, 2, at=T0)
    assert places["A"] == Place(1, T0)
    assert places["B"].starts_at is None  # nothing runs: no rate to tell A's length by


def test_no_worker_no_estimate() -> None:
    places = plan([job("A")], [running("R", 500)], 0, 2, at=T0)
    assert places == {"A": Place(1, None)}


def test_fair_share_puts_another_owners_job_first_and_says_why_the_others_wait() -> None:
    busy = [running("P1", 500), running("P2", 400)]
    waiting = [job("P3"), job("P4"), job("O1", OMAR)]
    places = plan(waiting, busy, 2, 2, at=T0)
    assert [places[n].position for n in ("O1", "P3", "P4")] == [1, 2, 3]
    assert places["P3"].held_by_share == 2 and places["P4"].is_held_by_share
    assert not places["O1"].is_held_by_share


def test_alone_in_line_an_owner_is_not_held_by_the_share() -> None:
    places = plan([job("P3")], [running("P1", 500), running("P2", 400)], 2, 2, at=T0)
    assert not places["P3"].is_held_by_share


def test_a_fast_tracked_job_goes_past_the_share() -> None:
    busy = [running("P1", 500), running("P2", 400)]
    waiting = [job("O1", OMAR), job("P3", fast_tracked_at=T0)]
    places = plan(waiting, busy, 2, 2, at=T0)
    assert places["P3"].position == 1 and not places["P3"].is_held_by_share


def test_a_job_resumed_after_a_pause_counts_only_its_items_left() -> None:
    places = plan([job("A", checkpoint=900), job("B")], [running("R", 500)], 1, 2, at=T0)
    assert places["B"].starts_at == T0 + 10 + 2  # A has 100 items left at 50 items/s


@given(
    st.lists(st.tuples(st.integers(1, 4), st.booleans()), max_size=30),
    st.lists(st.integers(1, 4), max_size=6),
    st.integers(1, 3),
)
def test_the_plan_takes_jobs_in_the_order_the_rule_picks_them(
    waiting_spec: list[tuple[int, bool]], running_owners: list[int], share: int
) -> None:
    waiting = [
        job(f"J{n}", Person(owner, "O"), fast_tracked_at=T0 - 100 + (n * 7) % 13 if fast else None)
        for n, (owner, fast) in enumerate(waiting_spec)
    ]
    busy = [running(f"R{n}", 0, Person(o, "O")) for n, o in enumerate(running_owners)]
    places = plan(waiting, busy, 0, share, at=T0)  # no thread frees: only the rule orders them
    line, counts, order = list(waiting), Counter(running_owners), []
    while line:
        picked = line.pop(next_in_line(line, counts, share))
        counts[picked.owner.id] += 1
        order.append(picked.id)
    assert sorted(places, key=lambda i: places[i].position) == order
