"""HTML and script in what people type come out as text: file names, names, descriptions and
error messages, in the pages, in the fragments the hub pushes, and in the email.

test_jobs_page.py checks a description on the list page; this covers every other place.
"""

from __future__ import annotations

import time

from tasks.jobs.model import Event, Job, Person, Status
from tasks.jobs.records import JobError, new_job_id
from tasks.mail import build_job_mail
from tests.support.people import signed_in_people

NASTY = "<script>alert(1)</script><img src=x onerror=alert(2)>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"


ROLES = {"super": "superadmin", "power": "power_user"}

cast, people, headers = signed_in_people(ROLES)


def assert_inert(text: str, where: str) -> None:
    assert "<script>alert" not in text, where
    assert "<img src=x" not in text, where


def nasty_job(store, owner, status: Status = Status.RUNNING) -> Job:  # type: ignore[no-untyped-def]
    """A job whose description, owner name, error and failure message all carry markup."""
    job = store.create(
        Job(
            id=new_job_id(),
            kind="import_users",
            description=f"Import users from {NASTY}.csv",
            owner=Person(owner.id, NASTY),
            created_at=time.time(),
            total=10,
        )  # fmt: skip
    )
    store.transition(job.id, Event.START, at=time.time())
    store.flush(
        job.id,
        {"done": "3"},
        [JobError(2, f"line 2 {NASTY}", f"unknown course {NASTY!r}", time.time())],
    )
    if status is Status.FAILED:
        store.transition(job.id, Event.FAIL, at=time.time(), message=f"boom {NASTY}")
    return store.get(job.id)


def test_pages_and_fragments_show_markup_as_text(client, headers, people, store):  # type: ignore[no-untyped-def]
    job = nasty_job(store, people["super"], Status.FAILED)
    for path in ["/admin/background-jobs", f"/admin/background-jobs/{job.id}/errors",
                 f"/admin/background-jobs/{job.id}/errors-dialog", "/admin"]:  # fmt: skip
        response = client.get(path, headers=headers["super"])
        assert response.status_code == 200, path
        assert_inert(response.text, path)
        assert ESCAPED in response.text, path


def test_hub_fragments_show_markup_as_text(app, client, headers, people, store):  # type: ignore[no-untyped-def]
    before = nasty_job(store, people["super"])
    store.add_watcher(before.id, people["super"].id)
    with client.websocket_connect("/ws/jobs?tab=all", headers=headers["super"]) as ws:
        frames = [ws.receive_text()]  # the snapshot: rows, parts, the header's recent jobs
        live = nasty_job(store, people["power"])
        store.transition(before.id, Event.FAIL, at=time.time(), message=f"boom {NASTY}")
        while "beforeend:#notices" not in frames[-1] or live.id not in "".join(frames):
            frames.append(ws.receive_text())
    text = "".join(frames)
    assert_inert(text, "socket")
    assert ESCAPED in text


def test_uploaded_file_name_and_refusal_message_show_markup_as_text(client, headers):  # type: ignore[no-untyped-def]
    h = headers["power"]
    bad_header = f"email,{NASTY}\na@b.org,x\n".encode()
    refused = client.post("/admin/imports/users", headers=h, files={"file": ("x.csv", bad_header)})
    assert refused.status_code == 422
    assert_inert(refused.text, "refusal")
    assert "it has: email, &lt;script&gt;alert(1)&lt;/script&gt;&lt;img" in refused.text
    upload = {"file": (f"{NASTY}.csv", b"email,name\na@b.org,Ann\n")}
    launched = client.post("/admin/imports/users", headers=h, files=upload, follow_redirects=False)
    assert launched.status_code == 303
    page = client.get("/admin/background-jobs", headers=h)
    assert_inert(page.text, "page")
    # The name is cut after its last slash (`</script>` has one), the rest shown as text.
    assert "script&gt;&lt;img src=x onerror=alert(2)&gt;.csv" in page.text


def test_the_email_is_plain_text_with_one_recipient(people, store):  # type: ignore[no-untyped-def]
    job = nasty_job(store, people["super"], Status.FAILED)
    message = build_job_mail(job, "sue@example.com", f"Sue, Eve <eve@evil.example> {NASTY}",
                             "https://jobs.example.org", "jobdeck <j@example.org>")  # fmt: skip
    assert not message.is_multipart()
    assert message.get_content_type() == "text/plain"  # no HTML part for a mail reader to run
    assert [a.addr_spec for a in message["To"].addresses] == ["sue@example.com"]
    body = str(message.get_content())
    assert f"Import users from {NASTY}.csv" in body  # plain text: shown as typed, never run
