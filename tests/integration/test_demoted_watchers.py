"""A person who asked to be told about a job and may no longer see it (a Superadmin demoted to
Power User, watching another's job) hears nothing when it ends: no notice, no email."""

from __future__ import annotations

import time

import dramatiq
from sqlalchemy.engine import Engine

from tasks.actors.send_job_mail import send_job_mail
from tasks.data.users import add_user, update_user
from tasks.jobs.model import Event, Person
from tasks.jobs.store import JobStore
from tasks.worker import broker
from tests.support.jobs import new_job


def frames_until(ws, needle: str) -> str:  # type: ignore[no-untyped-def]
    """Every frame up to the first that contains `needle`, joined (pytest's timeout bounds it)."""
    frames = [ws.receive_text()]
    while needle not in frames[-1]:
        frames.append(ws.receive_text())
    return "".join(frames)


def test_a_demoted_watcher_gets_no_in_app_notice(app, client, headers, people, engine, store):  # type: ignore[no-untyped-def]
    job = new_job(store, people["power"], "Import users from watched.csv (10 rows)")
    store.transition(job.id, Event.START, at=time.time())
    store.add_watcher(job.id, people["super2"].id)
    with engine.begin() as conn:
        update_user(conn, people["super2"].id, role="power_user")
    # The same session, now a Power User's (the page and socket ask who it is each time).
    with client.websocket_connect("/ws/jobs?tab=mine&list=0", headers=headers["super2"]) as ws:
        frames_until(ws, 'id="my-running-count"')
        store.transition(job.id, Event.COMPLETE, at=time.time())
        own = new_job(store, people["super2"], "Import users from own.csv (10 rows)")
        heard = frames_until(ws, f'id="recent-{own.id}"')
    assert "#notices" not in heard and "watched.csv" not in heard


def test_a_demoted_watcher_gets_no_email(
    engine: Engine,
    store: JobStore,
    worker: dramatiq.Worker,
    runtime,  # type: ignore[no-untyped-def]
) -> None:
    with engine.begin() as conn:
        pat = add_user(conn, "pat@example.com", "Pat Power", "power_user")
        sam = add_user(conn, "sam@example.com", "Sam Super", "superadmin")
        sue = add_user(conn, "sue@example.com", "Sue Super", "superadmin")
    job = new_job(store, Person(pat.id, pat.name), "Import users from watched.csv (10 rows)")
    store.transition(job.id, Event.START, at=time.time())
    store.transition(job.id, Event.COMPLETE, at=time.time())
    with engine.begin() as conn:
        update_user(conn, sam.id, role="power_user")
    for user in (sam, sue):
        send_job_mail.send(job.id, user.id)
    broker.join("mail", timeout=20_000)
    worker.join()
    outbox = runtime.settings.outbox_dir
    sent = [path.read_text() for path in outbox.glob(f"*job-{job.id}-*.eml")]
    assert len(sent) == 1 and "sue@example.com" in sent[0]
    assert store.was_mailed(job.id, sue.id) and not store.was_mailed(job.id, sam.id)
