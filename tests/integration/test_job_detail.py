"""The audit (who launched, aborted, asked to be notified) and the job detail page as served:
fields, audit, errors with search and pages, roles, the API's audit, and liveness over the
socket."""

from __future__ import annotations

import re
import time

import pytest

from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import AuditEntry, JobError, new_job_id
from tests.support.jobs import new_job as stored_job

FIELDS = ("Job id", "Kind", "Owner", "Status", "Items", "Errors", "Created", "Started",
          "Finished", "Last heartbeat", "Aborted by", "Kept until", "Parameters")  # fmt: skip
STAFF = b"email,name\nada@example.com,Ada\nbob@example.com,Bob\n"


def new_job(store, owner, description: str = "Import users from x.csv (10 rows)") -> Job:  # type: ignore[no-untyped-def]
    return stored_job(
        store, owner, description, params={"filename": "x.csv", "on_existing": "skip"}
    )


def launch(client, headers) -> str:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/imports/users",
        files={"file": ("staff.csv", STAFF, "text/csv")},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def audit_rows(html: str) -> list[tuple[str, str]]:
    """(who, what) of each audit row, in order."""
    table = html.split('class="errors audit"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<td>([^<]+)</td><td>([^<]+)</td></tr>", table)


def test_launch_abort_and_notify_are_audited_with_who_and_when(client, headers, people, store):  # type: ignore[no-untyped-def]
    before = time.time()
    job_id = launch(client, headers["power"])
    notify = client.post(f"/admin/background-jobs/{job_id}/notify", headers=headers["super"])
    assert notify.status_code == 200
    again = client.post(f"/api/jobs/{job_id}/notify", headers=headers["super"])
    assert again.status_code == 200
    abort = client.post(f"/api/jobs/{job_id}/abort", headers=headers["super2"])
    assert abort.status_code == 200
    audit = store.audit(job_id)
    assert [(e.action, e.by.id) for e in audit] == [
        ("launched", people["power"].id),
        ("notify", people["super"].id),  # asking twice is one wish, recorded once
        ("aborted", people["super2"].id),
    ]
    assert all(before <= e.at <= time.time() for e in audit)
    assert [e.at for e in audit] == sorted(e.at for e in audit)


def test_audit_goes_with_the_job_when_it_is_removed_or_expires(client, headers, people, store):  # type: ignore[no-untyped-def]
    job_id = launch(client, headers["power"])
    client.post(f"/api/jobs/{job_id}/abort", headers=headers["power"])
    ttl = store.redis.ttl(store.key("job", job_id, "audit"))
    assert 0 < ttl <= store.retention_s + 1, "an ended job's audit expires with it"
    assert client.delete(f"/api/jobs/{job_id}", headers=headers["power"]).status_code == 204
    assert not store.redis.exists(store.key("job", job_id, "audit"))


def test_audit_of_a_removed_job_cannot_be_written(store, people) -> None:  # type: ignore[no-untyped-def]
    from tasks.jobs.records import UnknownJob

    with pytest.raises(UnknownJob):
        store.add_audit("feedfacefeedface", AuditEntry("aborted", Person(1, "x"), time.time()))
    assert not store.redis.exists(store.key("job", "feedfacefeedface", "audit"))


def test_api_job_carries_its_audit(client, headers, people):  # type: ignore[no-untyped-def]
    job_id = launch(client, headers["power"])
    data = client.get(f"/api/jobs/{job_id}", headers=headers["power"]).json()
    assert data["audit"] == [
        {"action": "launched", "by": {"id": people["power"].id, "name": "Pat Power"},
         "at": data["created_at"]}
    ]  # fmt: skip
    assert data["page_url"].endswith(f"/admin/background-jobs/{job_id}")


def test_detail_page_shows_every_field_and_the_audit(client, headers, people, store):  # type: ignore[no-untyped-def]
    job_id = launch(client, headers["power"])
    client.post(f"/api/jobs/{job_id}/abort", headers=headers["super"])
    page = client.get(f"/admin/background-jobs/{job_id}", headers=headers["power"])
    assert page.status_code == 200
    html = page.text
    assert "<h1" in html and "Import users from staff.csv (2 rows)" in html
    for label in FIELDS:
        assert f"<dt>{label}</dt>" in html, label
    assert job_id in html and "import_users" in html and "on_existing" in html
    assert audit_rows(html) == [("Pat Power", "Launched the job"), ("Sue Super", "Aborted the job")]
    assert "<caption>Who did what with this job</caption>" in html
    assert f'id="j{job_id}s"' in html, "the live parts carry the row's ids"


def test_power_user_gets_404_for_another_persons_job_and_superadmin_sees_it(  # type: ignore[no-untyped-def]
    client, headers, people, store
):
    job = new_job(store, people["super"])
    assert (
        client.get(f"/admin/background-jobs/{job.id}", headers=headers["power"]).status_code == 404
    )
    assert (
        client.get(f"/admin/background-jobs/{job.id}", headers=headers["super2"]).status_code == 200
    )
    assert (
        client.get(f"/admin/background-jobs/{job.id}", headers=headers["plain"]).status_code == 403
    )
    assert (
        client.get("/admin/background-jobs/feedfacefeedface", headers=headers["super"]).status_code
        == 404
    )
    stranger = client.get(f"/admin/background-jobs/{job.id}", follow_redirects=False)
    assert stranger.status_code == 303 and "/login" in stranger.headers["location"]


def test_only_a_job_id_reaches_the_detail_page(client, headers) -> None:  # type: ignore[no-untyped-def]
    """A literal path beside it (the wallboard's /admin/background-jobs/wall) is never taken."""
    from server.pages.detail import routes

    assert all(r.matches({"type": "http", "path": "/admin/background-jobs/wall",
                          "method": "GET"})[0].name == "NONE" for r in routes)  # fmt: skip
    response = client.get("/admin/background-jobs/not-a-job", headers=headers["super"])
    assert response.status_code == 404


def test_errors_are_searched_on_the_server_and_paginated(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["power"])
    store.transition(job.id, Event.START, at=time.time())
    errors = [
        JobError(n, f"line {n + 2}", "unknown course 'NOPE'" if n % 3 == 0 else "bad email", 1.0)
        for n in range(120)
    ]
    store.flush(job.id, {"done": "120"}, errors)
    url = f"/admin/background-jobs/{job.id}"
    first = client.get(f"{url}?q=nope", headers=headers["power"]).text
    cells = re.findall(r"<tr><td>(line \d+)</td><td>([^<]+)</td>", first)
    assert len(cells) == 40 and all("NOPE" in reason for _, reason in cells)
    assert cells[0][0] == "line 2" and cells[-1][0] == "line 119"
    assert "More errors" not in first, "every match fits on one page"
    plain = client.get(url, headers=headers["power"]).text
    assert len(re.findall(r"<tr><td>line \d+</td>", plain)) == 50
    more = re.search(r'href="\?q=&amp;cursor=(\d+)#errors">More errors', plain)
    assert more is not None
    second = client.get(f"{url}?cursor={more.group(1)}", headers=headers["power"]).text
    assert re.findall(r"<tr><td>(line \d+)</td>", second)[0] == "line 52"
    none = client.get(f"{url}?q=%3Cscript%3E", headers=headers["power"]).text
    assert "No error matches “&lt;script&gt;”." in none
    # the errors page shares the listing and its search
    errors_page = client.get(f"{url}/errors?q=bad+EMAIL", headers=headers["power"]).text
    assert len(re.findall(r"<tr><td>line \d+</td>", errors_page)) == 80


def test_search_pages_go_on_from_where_the_last_match_was(store) -> None:  # type: ignore[no-untyped-def]
    owner = Person(1, "o")
    job = store.create(Job(id=new_job_id(), kind="k", description="d", owner=owner,
                           created_at=time.time()))  # fmt: skip
    store.transition(job.id, Event.START, at=time.time())
    store.flush(job.id, {}, [JobError(n, f"item {n}", "x" if n % 500 else "hit", 1.0)
                             for n in range(2500)])  # fmt: skip
    first = store.search_errors(job.id, "HIT", 0, 3)
    assert [e.item for e in first.items] == ["item 0", "item 500", "item 1000"]
    assert first.cursor == "1001"
    rest = store.search_errors(job.id, "hit", int(first.cursor), 3)
    assert [e.item for e in rest.items] == ["item 1500", "item 2000"] and rest.cursor is None


def test_row_description_links_to_the_detail_page(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["power"], "Import users from <b>x</b>.csv")
    html = client.get("/admin/background-jobs", headers=headers["power"]).text
    assert (
        f'<a href="/admin/background-jobs/{job.id}">Import users from &lt;b&gt;x&lt;/b&gt;.csv</a>'
        in html
    )


def test_a_socket_that_inserts_no_rows_still_gets_updates_of_known_jobs(  # type: ignore[no-untyped-def]
    app, client, headers, people, store
):
    """The detail page's (and a filtered list's) socket: insert=0 must not mean frozen."""
    job = new_job(store, people["power"])
    url = "/ws/jobs?tab=mine&list=1&insert=0"
    with client.websocket_connect(url, headers=headers["power"]) as ws:
        while f'id="j{job.id}s"' not in ws.receive_text():
            pass
        store.transition(job.id, Event.START, at=time.time())
        store.flush(job.id, {"done": "7"})
        while 'aria-valuenow="70"' not in (frame := ws.receive_text()):
            pass
    assert f'id="j{job.id}s"' in frame
    assert f'<article id="j{job.id}"' not in frame, "no row is inserted"
