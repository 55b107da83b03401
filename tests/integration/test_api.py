"""The JSON API against real Redis and a real database: roles, job actions, launches."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from tasks.csv_input import MAX_BYTES
from tasks.jobs.model import Event, Job
from tasks.jobs.records import JobError
from tests.support.jobs import new_job

ORIGIN = {"origin": "http://testserver"}
PASSWORD = "correct horse battery"
JOB_FIELDS = (
    "id kind description owner status total done percent error_count created_at started_at "
    "finished_at heartbeat_at stalled aborted_by expires_at url"
).split()


def started(store, owner) -> Job:  # type: ignore[no-untyped-def]
    job = new_job(store, owner)
    return store.transition(job.id, Event.START, at=time.time())


def completed(store, owner) -> Job:  # type: ignore[no-untyped-def]
    job = started(store, owner)
    return store.transition(job.id, Event.COMPLETE, at=time.time())


def ids(response) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return {j["id"] for j in response.json()["jobs"]}


def no_jobs(client, headers) -> None:  # type: ignore[no-untyped-def]
    assert ids(client.get("/api/jobs?scope=all", headers=headers["super"])) == set()


# --- listing and reading ---------------------------------------------------------------


def test_scope_all_is_forbidden_for_power_user(client, headers):  # type: ignore[no-untyped-def]
    response = client.get("/api/jobs?scope=all", headers=headers["power"])
    assert response.status_code == 403
    assert "error" in response.json()


def test_scope_all_lists_every_job_for_superadmin(client, headers, people, store):  # type: ignore[no-untyped-def]
    a, b = new_job(store, people["super"]), new_job(store, people["power"])
    assert ids(client.get("/api/jobs?scope=all", headers=headers["super"])) == {a.id, b.id}


def test_scope_mine_lists_only_own_jobs(client, headers, people, store):  # type: ignore[no-untyped-def]
    a, b = new_job(store, people["super"]), new_job(store, people["power"])
    assert ids(client.get("/api/jobs?scope=mine", headers=headers["super"])) == {a.id}
    assert ids(client.get("/api/jobs?scope=mine", headers=headers["power"])) == {b.id}


def test_status_filter_lists_only_that_status(client, headers, people, store):  # type: ignore[no-untyped-def]
    queued, running = new_job(store, people["super"]), started(store, people["super"])
    h = headers["super"]
    assert ids(client.get("/api/jobs?status=running", headers=h)) == {running.id}
    assert ids(client.get("/api/jobs?status=queued", headers=h)) == {queued.id}


def test_search_lists_the_jobs_whose_description_or_owner_has_it(client, headers, people, store):  # type: ignore[no-untyped-def]
    staff = new_job(store, people["super"], "Import users from Staff-2026.csv (10 rows)")
    other = new_job(store, people["power"], "Import users from pupils.csv (10 rows)")
    h = headers["super"]
    assert ids(client.get("/api/jobs?scope=all&q=staff-20", headers=h)) == {staff.id}
    assert ids(client.get("/api/jobs?scope=all&q=UPIL", headers=h)) == {other.id}
    owner = people["power"].name.split()[0].upper()
    assert ids(client.get(f"/api/jobs?scope=all&q={owner}", headers=h)) == {other.id}
    assert ids(client.get("/api/jobs?scope=mine&q=pupils", headers=h)) == set()  # not mine
    assert ids(client.get("/api/jobs?scope=all&q=nowhere", headers=h)) == set()
    too_long = client.get("/api/jobs?scope=all&q=" + "x" * 201, headers=h)
    assert too_long.status_code == 400 and "200" in too_long.json()["error"]


def test_unknown_status_is_400(client, headers):  # type: ignore[no-untyped-def]
    response = client.get("/api/jobs?status=sleeping", headers=headers["super"])
    assert response.status_code == 400
    assert "error" in response.json()


def test_power_user_cannot_read_superadmin_job(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["super"])
    response = client.get(f"/api/jobs/{job.id}", headers=headers["power"])
    assert response.status_code == 404
    assert "error" in response.json()


@pytest.mark.parametrize("bad", ["..%2Fx", "abc", "ABCDEF0123456789"])
def test_malformed_job_id_is_404_with_json_error(client, headers, bad):  # type: ignore[no-untyped-def]
    response = client.get(f"/api/jobs/{bad}", headers=headers["super"])
    assert response.status_code == 404
    assert "error" in response.json()


def test_job_json_has_documented_fields(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["power"])
    response = client.get(f"/api/jobs/{job.id}", headers=headers["power"])
    assert response.status_code == 200
    data = response.json()
    assert set(JOB_FIELDS) <= set(data)
    assert data["id"] == job.id and data["status"] == "queued"
    assert data["owner"] == {"id": people["power"].id, "name": "Pat Power"}
    assert data["url"].endswith(f"/api/jobs/{job.id}")


# --- abort, notify, delete ----------------------------------------------------------------


def test_abort_queued_job_is_final_at_once(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["power"])
    response = client.post(f"/api/jobs/{job.id}/abort", headers=headers["power"])
    assert response.status_code == 200
    assert response.json()["status"] == "aborted"


def test_abort_running_job_is_202_aborting(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = started(store, people["power"])
    response = client.post(f"/api/jobs/{job.id}/abort", headers=headers["super"])
    assert response.status_code == 202
    data = response.json()
    assert data["status"] == "aborting"
    assert data["aborted_by"]["name"] == "Sue Super"


@pytest.mark.parametrize("begun", [False, True], ids=["queued", "running"])
def test_abort_writes_its_audit_entry_in_the_transaction_of_its_transition(  # type: ignore[no-untyped-def]
    client, headers, people, store, redis_url, begun
):
    """One MULTI holds the new status and who aborted it: no crash between them can leave an
    abort without its author. Read from Redis's own MONITOR, every command in order."""
    import redis

    job = started(store, people["power"]) if begun else new_job(store, people["power"])
    with redis.Redis.from_url(redis_url, decode_responses=True).monitor() as monitor:
        assert client.post(f"/api/jobs/{job.id}/abort", headers=headers["super"]).is_success
        store.redis.echo(f"end of abort {job.id}")
        commands: list[str] = []
        while not commands or commands[-1] != f"ECHO end of abort {job.id}":
            commands.append(monitor.next_command()["command"])
    record, audit = f"HSET {store.key('job', job.id)} ", f"RPUSH {store.key('job', job.id)}:audit "
    (hset,) = [n for n, command in enumerate(commands) if command.startswith(record)]
    begins = max(n for n, command in enumerate(commands[:hset]) if command == "MULTI")
    ends = hset + commands[hset:].index("EXEC")
    assert any(command.startswith(audit) for command in commands[begins:ends]), commands
    assert [entry.action for entry in store.audit(job.id)] == ["aborted"]


def test_second_abort_is_409(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = started(store, people["power"])
    assert client.post(f"/api/jobs/{job.id}/abort", headers=headers["power"]).status_code == 202
    response = client.post(f"/api/jobs/{job.id}/abort", headers=headers["power"])
    assert response.status_code == 409
    assert "error" in response.json()


def test_power_user_cannot_abort_others_job(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = started(store, people["super"])
    response = client.post(f"/api/jobs/{job.id}/abort", headers=headers["power"])
    assert response.status_code == 404
    assert store.get(job.id).status.value == "running"


def test_notify_running_job(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = started(store, people["power"])
    response = client.post(f"/api/jobs/{job.id}/notify", headers=headers["power"])
    assert response.status_code == 200
    assert response.json()["notify"] is True
    assert client.get(f"/api/jobs/{job.id}", headers=headers["power"]).json()["notify"] is True


def test_notify_ended_job_is_409(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = completed(store, people["power"])
    response = client.post(f"/api/jobs/{job.id}/notify", headers=headers["power"])
    assert response.status_code == 409


def test_delete_running_job_is_409(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = started(store, people["power"])
    assert client.delete(f"/api/jobs/{job.id}", headers=headers["power"]).status_code == 409


def test_delete_completed_job_then_it_is_gone(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = completed(store, people["power"])
    assert client.delete(f"/api/jobs/{job.id}", headers=headers["power"]).status_code == 204
    assert client.get(f"/api/jobs/{job.id}", headers=headers["power"]).status_code == 404


# --- errors --------------------------------------------------------------------------------


def with_errors(store, owner, items: list[str]) -> Job:  # type: ignore[no-untyped-def]
    job = started(store, owner)
    at = time.time()
    store.flush(
        job.id, {}, [JobError(i + 1, item, f"bad {item}", at) for i, item in enumerate(items)]
    )
    return job


def test_errors_are_paginated_with_a_cursor(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = with_errors(store, people["power"], ["a@x", "b@x", "c@x"])
    h = headers["power"]
    first = client.get(f"/api/jobs/{job.id}/errors?limit=2", headers=h).json()
    assert len(first["errors"]) == 2 and first["cursor"]
    second = client.get(f"/api/jobs/{job.id}/errors?limit=2&cursor={first['cursor']}", headers=h)
    items = [e["item"] for e in first["errors"] + second.json()["errors"]]
    assert items == ["a@x", "b@x", "c@x"]
    assert second.json()["cursor"] is None


@pytest.mark.parametrize("limit", ["0", "abc", "201"])
def test_errors_bad_limit_is_400(client, headers, people, store, limit):  # type: ignore[no-untyped-def]
    job = with_errors(store, people["power"], ["a@x"])
    response = client.get(f"/api/jobs/{job.id}/errors?limit={limit}", headers=headers["power"])
    assert response.status_code == 400
    assert "error" in response.json()


def test_errors_csv_neutralises_formulas(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = with_errors(store, people["power"], ["=cmd()", "+1", "-2", "@SUM(A1)", "ok@x"])
    response = client.get(f"/api/jobs/{job.id}/errors.csv", headers=headers["power"])
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["item", "message", "at"]
    assert [r[0] for r in rows[1:]] == ["'=cmd()", "'+1", "'-2", "'@SUM(A1)", "ok@x"]


def test_errors_csv_quotes_cells_and_neutralises_formulas_in_one(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = with_errors(store, people["power"], ["x;=cmd|' /c calc'!a0;y", "a\t+1"])
    response = client.get(f"/api/jobs/{job.id}/errors.csv", headers=headers["power"])
    lines = response.text.splitlines()
    assert all(line.startswith('"') and line.endswith('"') for line in lines), lines
    for separator in ";\t":  # as a spreadsheet reads it with another separator
        for row in csv.reader(io.StringIO(response.text), delimiter=separator, quotechar="\0"):
            assert not any(cell.strip('" ').startswith(("=", "+", "-", "@")) for cell in row)


# --- launching an import -------------------------------------------------------------------

STAFF = b"email,name\nann@example.com,Ann\nbob@example.com,Bob\ncat@example.com,Cat\n"


def test_import_upload_queues_a_job(client, headers):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/imports/users",
        files={"file": ("staff.csv", STAFF, "text/csv")},
        headers=headers["power"],
    )
    assert response.status_code == 202, response.text
    data = response.json()
    assert data["id"] and data["url"].endswith(f"/api/jobs/{data['id']}")
    assert data["status"] == "queued"
    assert "staff.csv" in data["description"] and "3 rows" in data["description"]
    assert ids(client.get("/api/jobs", headers=headers["power"])) == {data["id"]}


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"


@pytest.mark.parametrize(
    ("files", "data"),
    [
        ({"file": ("picture.csv", PNG, "text/csv")}, {}),
        ({"file": ("empty.csv", b"", "text/csv")}, {}),
        ({"file": ("noemail.csv", b"name\nAnn\n", "text/csv")}, {}),
        ({"file": ("wide.csv", b"email,name\n" + b"a," * 9_999 + b"a\n", "text/csv")}, {}),
        ({"file": ("latin1.csv", b"email,name\nann@example.com,Ren\xe9e\n", "text/csv")}, {}),
        ({"other": ("staff.csv", STAFF, "text/csv")}, {}),
        ({"file": ("staff.csv", STAFF, "text/csv")}, {"on_existing": "maybe"}),
    ],
    ids=["png", "empty", "no-email", "10000-columns", "not-utf8", "no-file-field", "on-existing"],
)
def test_bad_upload_is_refused_without_a_job(client, headers, files, data):  # type: ignore[no-untyped-def]
    response = client.post("/api/imports/users", files=files, data=data, headers=headers["power"])
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]
    no_jobs(client, headers)


def test_too_large_upload_is_413_without_a_job(client, headers):  # type: ignore[no-untyped-def]
    line = b"someone@example.com,Someone\n"
    body = b"email,name\n" + line * (MAX_BYTES // len(line) + 1)
    body = body[: MAX_BYTES + 1]
    assert len(body) == MAX_BYTES + 1
    response = client.post(
        "/api/imports/users",
        files={"file": ("big.csv", body, "text/csv")},
        headers=headers["power"],
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]
    no_jobs(client, headers)


def test_upload_that_is_not_multipart_is_refused(client, headers):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/imports/users",
        content=STAFF,
        headers={**headers["power"], "content-type": "text/csv"},
    )
    assert response.status_code == 415
    no_jobs(client, headers)


# --- launching enrollments -----------------------------------------------------------------


def test_enrollment_json_queues_a_job(client, headers):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/enrollments",
        json={"emails": ["a@x.org", "b@x.org"], "courses": ["c1", "c2", "c3"]},
        headers=headers["super"],
    )
    assert response.status_code == 202, response.text
    data = response.json()
    assert data["description"] == "Enroll 2 users in 3 courses (6 enrollments)"
    assert data["status"] == "queued" and data["total"] == 6


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        json.dumps({"emails": [], "courses": ["c1"]}).encode(),
        json.dumps({"emails": ["a@x.org"], "courses": []}).encode(),
        json.dumps({"emails": [1, 2], "courses": ["c1"]}).encode(),
        json.dumps({"emails": ["a@x.org"], "courses": [None]}).encode(),
        json.dumps(["a@x.org"]).encode(),
    ],
    ids=["invalid-json", "no-emails", "no-courses", "int-emails", "null-course", "a-list"],
)
def test_bad_enrollment_json_is_400_without_a_job(client, headers, body):  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/enrollments",
        content=body,
        headers={**headers["super"], "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    no_jobs(client, headers)


# --- who may call the API ------------------------------------------------------------------

ROUTES = [
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{id}"),
    ("DELETE", "/api/jobs/{id}"),
    ("GET", "/api/jobs/{id}/errors"),
    ("GET", "/api/jobs/{id}/errors.csv"),
    ("POST", "/api/jobs/{id}/abort"),
    ("POST", "/api/jobs/{id}/notify"),
    ("POST", "/api/imports/users"),
    ("POST", "/api/enrollments"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_plain_user_is_forbidden_everywhere(client, headers, people, store, method, path):  # type: ignore[no-untyped-def]
    job = new_job(store, people["plain"])
    response = client.request(method, path.format(id=job.id), headers=headers["plain"])
    assert response.status_code == 403
    assert response.json()["error"]
    assert store.get(job.id).status.value == "queued"


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_is_401_everywhere(client, people, store, method, path):  # type: ignore[no-untyped-def]
    job = new_job(store, people["super"])
    response = client.request(method, path.format(id=job.id), headers=ORIGIN)
    assert response.status_code == 401
    assert response.json()["error"]
