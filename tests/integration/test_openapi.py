"""The OpenAPI document at /api/openapi.json: it describes every /api/ route (so it cannot
drift from the app), and a schemathesis run against the real app, signed in as a Superadmin,
finds no server error and no answer that breaks the document."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from starlette.routing import Route

from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import JobError, new_job_id
from tests.support.routes import served_routes

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def api_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {
        (method.lower(), path)
        for path, route in served_routes(app.routes)
        if isinstance(route, Route) and path.startswith("/api/")
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_the_document_describes_every_api_route_and_nothing_else(app, client) -> None:  # type: ignore[no-untyped-def]
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    described = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    assert sorted(api_routes(app) - described) == [], "routes the document does not describe"
    assert sorted(described - api_routes(app)) == [], "described routes that do not exist"


def test_every_path_parameter_and_response_is_declared(client) -> None:  # type: ignore[no-untyped-def]
    document = client.get("/api/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in ((m, o) for m, o in item.items() if m in METHODS):
            parameters = item.get("parameters", []) + operation.get("parameters", [])
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
            assert operation["responses"], (method, path)
            if path != "/api/openapi.json":
                assert "401" in operation["responses"], (method, path)


def test_the_document_names_the_cookie_session(client) -> None:  # type: ignore[no-untyped-def]
    document = client.get("/api/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["session"]
    assert scheme == {**scheme, "type": "apiKey", "in": "cookie", "name": "jobdeck_session"}
    assert document["security"] == [{"session": []}]
    uploads = document["paths"]["/api/imports/users"]["post"]["requestBody"]["content"]
    assert uploads["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"


# -- schemathesis --------------------------------------------------------------------------------

# The operations that take a CSV upload (a retry takes an optional corrected file): a
# schema-valid body may still be refused with a documented 4xx (a file that is not a usable CSV:
# 422; more than the form's 10 fields, which the schema's open object allows: 400).
UPLOADS = {"/api/imports/users", "/api/enrollments", "/api/jobs/{id}/retry"}
# Per operation; about 15 s for the whole API. JOBDECK_API_EXAMPLES=300 for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("JOBDECK_API_EXAMPLES", "60"))


@pytest.fixture
def superadmin(signed_in) -> tuple[int, dict[str, str]]:  # type: ignore[no-untyped-def]
    user, headers = signed_in("superadmin", "sue@example.com")
    return user.id, headers


def real_jobs(store, owner: Person) -> list[str]:  # type: ignore[no-untyped-def]
    """A queued, a running and a failed job with an error, so that not every id is unknown."""
    ids = []
    for status in ("queued", "running", "failed"):
        job = Job(id=new_job_id(), kind="import_users", description=f"A {status} job",
                  owner=owner, created_at=time.time(), total=9)  # fmt: skip
        store.create(job)
        if status != "queued":
            store.transition(job.id, Event.START, at=time.time())
            store.flush(job.id, {"done": "4"}, [JobError(3, "line 4", "bad row", time.time())])
        if status == "failed":
            store.transition(job.id, Event.FAIL, at=time.time(), message="it broke")
        ids.append(job.id)
    return ids


def exercise(operation, headers: dict[str, str], jobs: list[str]) -> Counter[int]:  # type: ignore[no-untyped-def]
    """Run schemathesis's checks on generated requests to one operation; the statuses seen."""
    seen: Counter[int] = Counter()

    cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=cases, job_id=st.sampled_from([None, *jobs]))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case, job_id: str | None) -> None:  # type: ignore[no-untyped-def]
        if job_id and "id" in (case.path_parameters or {}):
            case.path_parameters["id"] = job_id  # often a job that exists
        # Negative cases test that hostile input never gets a 5xx or an undocumented answer;
        # whether each is *refused* is not checked: the session cookie is always ours, and
        # unknown query parameters are ignored, as OpenAPI allows. An uploaded file's content
        # cannot be described by a schema (it must be a usable CSV), so a schema-valid upload
        # may get the documented 422.
        excluded = [negative_data_rejection]
        if operation.path in UPLOADS:
            excluded.append(positive_data_acceptance)
        response = case.call_and_validate(headers=dict(headers), excluded_checks=excluded)
        seen[response.status_code] += 1

    check()
    return seen


def test_api_answers_by_its_document_and_never_fails(app, superadmin, store) -> None:  # type: ignore[no-untyped-def]
    """Every operation, with generated parameters and bodies (multipart uploads included), as a
    signed-in Superadmin: schemathesis's checks (no 5xx; status codes, content types, headers
    and bodies as documented; schema-valid requests accepted) hold for every example."""
    user_id, headers = superadmin
    jobs = real_jobs(store, Person(user_id, "Sue Super"))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results]
    labels = {tuple(op.label.lower().split(" ", 1)) for op in operations if op is not None}
    # schemathesis leaves out the document's own path; every other route is exercised.
    assert labels == api_routes(app) - {("get", "/api/openapi.json")}, [
        r.err() for r in results if r.ok() is None
    ]
    failures, seen = [], {}
    for operation in operations:
        try:
            seen[operation.label] = exercise(operation, headers, jobs)
        except Exception as failure:  # one operation's failure must not hide the others'
            failures.append(f"{operation.label}: {failure}")
    assert not failures, "\n\n".join(failures)
    print(json.dumps({label: dict(counts) for label, counts in seen.items()}, indent=1))
    # Signed in for real: no operation was answered only with "sign in first" or "forbidden".
    assert all(set(counts) - {401, 403} for counts in seen.values()), seen
