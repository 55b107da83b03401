"""The benchmarks still run: each in its smallest mode, printing its figure lines.

Figures are not checked (they are not pass/fail); only that each script runs to the end and
prints what docs/performance.md says it prints.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_fanout_prints_hub_ceiling_and_polling_figures() -> None:
    out = run_bench("bench/fanout.py", "--quick", "--seconds", "1")
    for line in (
        "frames sent /s",
        "latency publish->receipt p99, ms",
        "server CPU per frame sent, us",
        "server memory per idle socket, KB",
        "viewers that got every final state",
        "polling: server CPU s/s (cores)",
    ):
        assert line in out, out
    assert "20 / 20" in out  # every viewer got every final state, even in a smoke run
    samples = re.search(r"latency samples\s+([\d,]+)", out)
    assert samples and int(samples[1].replace(",", "")) > 0, "the bench no longer reads the rows"


def test_progress_overhead_prints_the_cost_of_advance() -> None:
    out = run_bench("bench/progress_overhead.py", "--quick")
    assert "ns of CPU per call" in out and "progress overhead:" in out, out


def test_history_prints_page_times_and_weight() -> None:
    out = run_bench("bench/history.py", "--quick")
    assert "API: page of 50 jobs" in out and "View All page:" in out, out
    assert "page: search, a word's start" in out and "/metrics (jobs by status)" in out, out
    assert "API: search, inside a word" in out, out


def test_import_prints_rows_per_second_beside_its_ceiling() -> None:
    out = run_bench(
        "bench/import_users.py", "--rows", "1000", "--rounds", "1", "--enroll", "300",
        "--viewers", "2",
    )  # fmt: skip
    for line in (
        "the hub, one small job, no import, 2 viewers: publish -> socket p50",
        "the hub during this import, 2 viewers: publish -> socket p50",
        "rows/s (ceiling, median)",
        "import / ceiling (reporting on)",
        "progress reporting overhead",
        "this process's RSS: start",
        "pairs/s (enroll_users, median)",
        "rows/s (check, median)",
        "rows/s (revert, median)",
    ):
        assert line in out, out


def test_error_quota_prints_memory_and_search_cost_beside_reading_the_ledger() -> None:
    out = run_bench("bench/error_quota.py", "--rows", "10500", "--searches", "1")
    assert "capped    errors counted 10,500, kept 10,000;" in out, out
    assert "uncapped  errors counted 10,500, kept 10,500;" in out, out
    assert out.count("search that matches nothing: index") == 2, out
    assert "Redis used_memory +" in out and "reading the ledger" in out, out


def test_line_take_prints_a_turn_and_the_places_beside_claim_run() -> None:
    out = run_bench("bench/line_take.py", "--quick")
    assert "take p50 ms  take p99 ms  claim_run p50 ms (baseline)  places ms" in out, out
    assert re.search(r"^\s+100\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.M), out
    assert out.count("load average") == 2, out
