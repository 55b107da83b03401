"""The pages' safe massive actions against a real worker, Redis and database: Check the file
first on the forms, the outcome and Start import on the row, Retry the failed rows (and the
"N rows retried in job X: M fixed" on the job's page), Revert asked on its own page; another
person's job is 404 there too."""

from __future__ import annotations

import re
from typing import Any

STAFF = b"email,name,role,courses\nann@example.org,Ann,user,CS101\nbob@example.org,,user,\n"


def row_of(page: str, job_id: str) -> str:
    start = page.index(f'<article id="j{job_id}"')
    return page[start : page.index("</article>", start)]


def new_job_id(response: Any) -> str:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/admin/background-jobs/([0-9a-f]{16})", response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


def test_check_first_then_start_import_from_the_row(client, headers, catalogue, drain, store):  # type: ignore[no-untyped-def]
    h = headers["super"]
    form = client.get("/admin/imports/users", headers=h).text
    assert ">Check the file first</button>" in form
    sent = client.post(
        "/admin/imports/users", files={"file": ("staff.csv", STAFF, "text/csv")},
        data={"mode": "check"}, headers=h, follow_redirects=False,
    )  # fmt: skip
    assert sent.status_code == 303
    drain()
    (check,) = store.list_jobs(None, [], None, 10).items
    page = client.get("/admin/background-jobs", headers=h).text
    assert "Would create 1 · update 0 · leave 0 unchanged · 1 error" in page
    # Start import is drawn by jobdeck.js from the state's offers (tests/browser clicks it).
    assert 'data-offers="start-import"' in page and "<form" not in row_of(page, check.id)
    assert "Revert…" not in page and "Retry the" not in page  # a check wrote nothing

    run_id = new_job_id(
        client.post(f"/admin/background-jobs/{check.id}/commit", headers=h, follow_redirects=False)
    )
    job_page = client.get(f"/admin/background-jobs/{run_id}", headers=h).text
    assert f'From job <a href="/admin/background-jobs/{check.id}">' in job_page
    again = client.post(f"/admin/background-jobs/{check.id}/commit", headers=h)
    assert again.status_code == 409 and f"already started as job {run_id}" in again.text


def test_retry_from_the_pop_up_and_the_count_of_fixed_rows(
    client, headers, catalogue, drain, store
):  # type: ignore[no-untyped-def]
    h = headers["super"]
    client.post("/admin/imports/users", files={"file": ("s.csv", STAFF, "text/csv")}, headers=h)
    drain()
    (job,) = store.list_jobs(None, [], None, 10).items
    dialog = client.get(f"/admin/background-jobs/{job.id}/errors-dialog", headers=h).text
    assert ">Retry the 1 failed row</button>" in dialog
    form = client.get(f"/admin/background-jobs/{job.id}/retry", headers=h).text
    assert "Corrected CSV file" in form
    refused = client.post(
        f"/admin/background-jobs/{job.id}/retry",
        files={"file": ("f.csv", b"email,name\nann@example.org,Ann\n", "text/csv")}, headers=h,
    )  # fmt: skip
    assert refused.status_code == 422 and "did not fail in job" in refused.text
    fixed = client.post(
        f"/admin/background-jobs/{job.id}/retry",
        files={"file": ("f.csv", b"email,name\nbob@example.org,Bob\n", "text/csv")},
        headers=h, follow_redirects=False,
    )  # fmt: skip
    retry_id = new_job_id(fixed)
    drain()
    page = client.get(f"/admin/background-jobs/{job.id}", headers=h).text
    assert (
        f'1 row retried in job <a href="/admin/background-jobs/{retry_id}">{retry_id}</a>: 1 fixed'
        in page
    )
    assert "Retried its failed rows" in page  # the audit
    assert ">Retry the 1 failed row</button>" not in page


def test_revert_is_asked_first_and_another_persons_job_is_404(
    client, headers, catalogue, drain, store
):  # type: ignore[no-untyped-def]
    h = headers["super"]
    client.post("/admin/imports/users", files={"file": ("s.csv", STAFF, "text/csv")}, headers=h)
    drain()
    (job,) = store.list_jobs(None, [], None, 10).items
    for path in ("revert", "retry"):
        assert (
            client.get(
                f"/admin/background-jobs/{job.id}/{path}", headers=headers["power"]
            ).status_code
            == 404
        )
        assert (
            client.post(
                f"/admin/background-jobs/{job.id}/{path}", headers=headers["power"]
            ).status_code
            == 404
        )
    asked = client.get(f"/admin/background-jobs/{job.id}/revert", headers=h).text
    assert "removes the users the import created" in asked
    undo_id = new_job_id(
        client.post(f"/admin/background-jobs/{job.id}/revert", headers=h, follow_redirects=False)
    )
    drain()
    page = client.get(f"/admin/background-jobs/{undo_id}", headers=h).text
    assert "Reverted 1 · kept 0 (changed since)" in page
    source = client.get(f"/admin/background-jobs/{job.id}", headers=h).text
    assert f'Reverted by job <a href="/admin/background-jobs/{undo_id}">' in source
    assert "Revert…" not in source
