"""What `dramatiq tasks.worker` sets up for the massive actions' sake, as a worker process
loads it: the GIL handed over every millisecond, and the collector kept off what the worker
loaded and off a batch in flight (docs/performance.md, issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import gc, json, sys
import tasks.worker
print(json.dumps({"switch_s": sys.getswitchinterval(), "threshold": gc.get_threshold(),
                  "frozen": gc.get_freeze_count()}))
"""


def test_the_worker_loads_with_its_gil_and_collector_settings(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REDIS_URL": "redis://127.0.0.1:1",  # nothing is asked of it while loading
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "JOBDECK_ENV": "test",
        "JOBDECK_VAR": str(tmp_path / "var"),
    }
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    loaded = json.loads(probe.stdout.splitlines()[-1])
    assert loaded["switch_s"] == 0.001
    assert loaded["threshold"] == [10_000, 10, 10]
    assert loaded["frozen"] > 10_000  # the modules, the broker and the actors
