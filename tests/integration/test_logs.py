"""Structured logs: one line per event with the job's and the person's ids; JSON lines in
production, key=value otherwise. The records come from the real code paths (a launch through
the API, a worker running it, an abort, signing in and out, a socket)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tasks.logs import JsonFormatter, KeyValueFormatter, configure_logging

PASSWORD = "correct horse battery"  # the `people` fixture's
STAFF = b"email,name\nada@example.com,Ada\n"


def lines(caplog: pytest.LogCaptureFixture, formatter: logging.Formatter) -> list[str]:
    return [formatter.format(r) for r in caplog.records if r.name.startswith(("tasks", "server"))]


def by_event(caplog: pytest.LogCaptureFixture) -> dict[str, dict[str, object]]:
    """The JSON object of the last line of each event."""
    found = {}
    for line in lines(caplog, JsonFormatter()):
        data = json.loads(line)  # every line is one JSON object
        found[str(data["event"])] = data
    return found


def test_job_events_are_json_lines_with_job_and_user_ids(  # type: ignore[no-untyped-def]
    caplog, app, client, headers, people, drain
):
    caplog.set_level(logging.INFO)
    with client.websocket_connect("/ws/jobs?tab=mine", headers=headers["power"]) as ws:
        ws.receive_text()
        launched = client.post(
            "/api/imports/users",
            files={"file": ("staff.csv", STAFF, "text/csv")},
            headers=headers["power"],
        )
        job_id = launched.json()["id"]
        drain()
    client.post("/logout", headers=headers["power"])
    events = by_event(caplog)
    power = people["power"].id
    assert events["job launched"]["job_id"] == job_id
    assert events["job launched"]["user_id"] == power
    assert events["job started"]["job_id"] == job_id and events["job started"]["user_id"] == power
    finished = events["job finished"]
    assert finished["job_id"] == job_id and finished["user_id"] == power
    assert finished["status"] == "completed" and finished["done"] == 1
    assert events["socket opened"]["user_id"] == power
    assert events["socket closed"]["user_id"] == power
    assert events["signed out"]["user_id"] == power
    for data in events.values():
        assert set(data) >= {"ts", "level", "logger", "event"}
        assert str(data["ts"]).endswith("Z")


def test_abort_and_sign_in_name_who_did_it(caplog, client, headers, people, store) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    from tasks.jobs.model import Job, Person
    from tasks.jobs.records import new_job_id

    owner = Person(people["power"].id, people["power"].name)
    job = store.create(Job(id=new_job_id(), kind="import_users", description="Import",
                           owner=owner, created_at=0.0))  # fmt: skip
    client.post(f"/api/jobs/{job.id}/abort", headers=headers["super"])
    for password in ("wrong", PASSWORD):
        client.post("/login", data={"email": "super2@example.com", "password": password},
                    headers={"origin": "http://testserver"})  # fmt: skip
    events = by_event(caplog)
    aborted = events["job aborted"]
    assert aborted["job_id"] == job.id and aborted["user_id"] == people["super"].id
    assert aborted["owner_id"] == owner.id
    assert events["signed in"]["user_id"] == people["super2"].id
    assert events["signed in"]["role"] == "superadmin"
    assert events["sign-in refused"]["status"] == 401


def test_key_value_lines_read_as_one_line_per_event() -> None:
    record = logging.makeLogRecord(
        {"name": "tasks.launch", "levelname": "INFO", "msg": "job launched",
         "job_id": "0123456789abcdef", "user_id": 7, "kind": "import users"}
    )  # fmt: skip
    line = KeyValueFormatter().format(record)
    assert "\n" not in line
    assert line.split(" ", 1)[1].startswith("INFO    tasks.launch job launched ")
    assert 'job_id=0123456789abcdef user_id=7 kind="import users"' in line


def test_configure_logging_writes_json_in_production_on_a_bare_root() -> None:
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    saved, saved_level = root.handlers[:], root.level
    saved_access = access.handlers[:], access.propagate, access.level
    root.handlers.clear()
    # as uvicorn leaves it at its default log level (an earlier uvicorn in the session may not)
    access.handlers[:], access.propagate = [logging.NullHandler()], False
    access.setLevel(logging.INFO)
    stream = io.StringIO()
    try:
        configure_logging(production=True, stream=stream)
        logging.getLogger("tasks.jobs.middleware").info("job finished", extra={"job_id": "j1"})
        access.info('%s - "%s %s"', "127.0.0.1:5000", "GET", "/readyz")
    finally:
        root.handlers[:] = saved
        root.setLevel(saved_level)
        access.handlers[:], access.propagate, _ = saved_access
        access.setLevel(saved_access[2])
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "job finished" and first["job_id"] == "j1"
    assert first["level"] == "INFO" and first["logger"] == "tasks.jobs.middleware"
    assert second["logger"] == "uvicorn.access"
    assert second["event"] == '127.0.0.1:5000 - "GET /readyz"', "uvicorn's lines are JSON too"
