"""The live Background Jobs page in real browsers, with a real worker running real imports.

Several people watch in separate browser contexts; every update reaches them over the WebSocket
while the in-process Dramatiq worker imports a demo CSV with known bad rows. Elements are found
by role and name; waits are Playwright's auto-waiting assertions, except where the point of a
test is what happens during some seconds.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path
from typing import Any, Protocol

import dramatiq
import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Locator, Page, WebSocket, expect
from sqlalchemy.engine import Engine

from tasks.data.courses import add_course
from tasks.data.db import users
from tasks.data.passwords import hash_password
from tasks.data.users import add_user
from tasks.demo import BAD_KINDS, COURSES, demo_csv
from tasks.jobs.model import Job, Status, format_duration
from tasks.jobs.store import JobStore
from tasks.settings import Settings

pytestmark = pytest.mark.browser


class Server(Protocol):
    """What these tests use of a served app (`ServedApp` in tests/support/served.py)."""

    @property
    def base_url(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    @property
    def app(self) -> Any: ...
    def url(self, path: str) -> str: ...
    def start(self) -> Server: ...
    def stop(self) -> None: ...


PASSWORD = "browser-password-1"
BAD_ROWS = 12  # two of each of BAD_KINDS
COMPLETED = f"Completed with {BAD_ROWS} errors"  # what a row says of every import here
SEED = 7
# Sizes of the imports: the worker shares this 2-core machine with the server and Chromium and
# imports 25,000-40,000 rows a second here since imports write by COPY/executemany (250,000
# rows took 10 s: a 10-second watch saw it end); a MEDIUM job runs for a few seconds, a LARGE
# one (the most a file may hold, IMPORT_MAX_ROWS) well outlasts a 10-second watch. Few sizes,
# because each CSV is made once per session.
SMALL, MEDIUM, LARGE = 20_000, 60_000, 1_000_000
JOB_TIMEOUT_MS = 60_000
REASONS = {
    "bad_email": r"(is not a valid email address|email is empty)",
    "missing_name": r"name is empty",
    "long_name": r"name is longer than 200 characters",
    "unknown_role": r"unknown role '\w+'",
    "duplicate": r"duplicate of line \d+",
    "unknown_course": r"unknown course '[\w-]+-OLD'",
}


@dataclass(frozen=True)
class Someone:
    email: str
    name: str
    role: str


SUE = Someone("sue@example.com", "Sue Super", "superadmin")
SAM = Someone("sam@example.com", "Sam Super", "superadmin")
THEO = Someone("theo@example.com", "Theo Third", "superadmin")
PAT = Someone("pat@example.com", "Pat Power", "power_user")
Viewer = Callable[[Server, Someone], Page]
WaitForJob = Callable[..., Job]


@pytest.fixture(scope="session")
def password_hash() -> str:
    """PASSWORD hashed once: Argon2 is slow on purpose, and every test signs people in."""
    return hash_password(PASSWORD)


@pytest.fixture
def people(engine: Engine, password_hash: str) -> None:
    """The courses that the demo CSV names, and the people who watch, with PASSWORD."""
    with engine.begin() as conn:
        for code, title in COURSES:
            add_course(conn, code, title)
        for person in (SUE, SAM, THEO, PAT):
            add_user(conn, person.email, person.name, person.role)
        emails = [person.email for person in (SUE, SAM, THEO, PAT)]
        conn.execute(
            sa.update(users).where(users.c.email.in_(emails)).values(password_hash=password_hash)
        )


@pytest.fixture
def viewer(open_viewer: Callable[[Server, str, str], Page], people: None) -> Viewer:
    """`viewer(server, person)`: that person signed in, in a browser context of their own."""

    def open_as(server: Server, person: Someone) -> Page:
        return open_viewer(server, person.email, PASSWORD)

    return open_as


@pytest.fixture(scope="session")
def users_csv() -> Callable[[int, str], bytes]:
    """`users_csv(rows, prefix)`: a demo users CSV with BAD_ROWS bad rows; `prefix` starts
    every email so that two imports running at once never create the same user."""
    made: dict[int, str] = {}

    def make(rows: int, prefix: str = "") -> bytes:
        if rows not in made:
            made[rows] = "".join(demo_csv(rows, BAD_ROWS, SEED))
        header, _, body = made[rows].partition("\n")
        lines = body.splitlines(keepends=True)
        return (header + "\n" + "".join(prefix + line for line in lines)).encode()

    return make


def bad_lines(rows: int) -> dict[int, str]:
    """The file line of each bad row of `demo_csv(rows, BAD_ROWS, SEED)`, with its kind.

    demo_csv draws the bad rows first, spreads the kinds in order, and line 1 is the header.
    """
    drawn = sorted(random.Random(SEED).sample(range(rows), BAD_ROWS))
    return {index + 2: BAD_KINDS[n % len(BAD_KINDS)] for n, index in enumerate(drawn)}


def described(filename: str, rows: int) -> str:
    return f"Import users from {filename} ({rows:,} rows)"


def launch(page: Page, server: Server, filename: str, data: bytes) -> dict[str, Any]:
    """Start an import through the API, as the person signed in on `page` (with the session
    cookie of its browser context). httpx sends the file: Playwright's request API took 53 s
    to send a LARGE file's 60 MB here, httpx 4 s."""
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    response = httpx.post(
        server.url("/api/imports/users"),
        files={"file": (filename, data, "text/csv")},
        headers={"Origin": server.base_url},
        cookies=cookies,
        timeout=120,
    )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def with_first_row_bad(data: bytes) -> bytes:
    """`data` with its first row's email made invalid, so that the job has an error (and its
    row an error badge) from its first batch on: the demo file's first bad row of a LARGE file
    is line 50,633, which a busy machine took more than 10 s to reach."""
    header, first, rest = data.split(b"\n", 2)
    return b"\n".join([header, b"not-an-email" + first[first.index(b",") :], rest])


def open_jobs(page: Page, server: Server, query: str = "") -> None:
    """Go to the Background Jobs page and wait until its socket is live."""
    page.goto(server.url("/admin/background-jobs" + query))
    expect(connection(page, "Live")).to_be_visible()


def connection(page: Page, state: str) -> Locator:
    return page.get_by_role("status").filter(has_text=re.compile(rf"^{re.escape(state)}$"))


def row_of(page: Page, description: str) -> Locator:
    return page.get_by_role("article", name=description, exact=True)


def bar_of(page: Page, description: str) -> Locator:
    return page.get_by_role("progressbar", name=f"Progress of {description}", exact=True)


def status_of(row: Locator, pattern: str) -> Locator:
    """The row's status in words, matching `pattern` whole (a pattern does not fold spaces)."""
    return row.get_by_text(re.compile(rf"^\s*({pattern})\s*$"))


def clock_of(row: Locator) -> Locator:
    return row.get_by_text(re.compile(r"^\s*Running time:\s+(\d+:)?\d+:\d\d\s*$"))


def badge_of(row: Locator) -> Locator:
    return row.get_by_role("button", name=re.compile(r"errors?: show details$"))


def errors_named(count: int) -> str:
    return f"{count:,} error{'' if count == 1 else 's'}: show details"


def one_of(numbers: range) -> re.Pattern[str]:
    """A pattern matching exactly one of `numbers`, for attributes such as aria-valuenow."""
    return re.compile("^(" + "|".join(str(n) for n in numbers) + ")$")


def percent(bar: Locator) -> int:
    return int(bar.get_attribute("aria-valuenow") or "0")


def mark_document(page: Page) -> None:
    """Tag this document: `is_same_document` is false once the page reloads or navigates."""
    page.evaluate("window.jobdeckTestMark = true")


def is_same_document(page: Page) -> bool:
    return bool(page.evaluate("window.jobdeckTestMark === true"))


def record_frames(page: Page) -> list[str]:
    """Every text frame the page's WebSockets receive from now on."""
    frames: list[str] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", watch)
    return frames


def test_superadmin_watches_another_superadmins_import_live(
    live_server: Server,
    viewer: Viewer,
    job_worker: dramatiq.Worker,
    wait_for_job: WaitForJob,
    users_csv: Callable[[int, str], bytes],
) -> None:
    rows = MEDIUM
    sue = viewer(live_server, SUE)
    earlier = launch(sue, live_server, "earlier.csv", users_csv(300, "e"))
    wait_for_job(earlier["id"], lambda job: job.is_final)
    sam = viewer(live_server, SAM)
    open_jobs(sam, live_server)
    expect(sam.get_by_role("article")).to_have_count(1)
    mark_document(sam)
    pat = viewer(live_server, PAT)
    pat_frames = record_frames(pat)
    open_jobs(pat, live_server)

    sue.get_by_role("button", name="Admin Menu", exact=True).click()
    sue.get_by_role("link", name="Import users").click()
    sue.get_by_label("CSV file").set_input_files(
        {"name": "watched.csv", "mimeType": "text/csv", "buffer": users_csv(rows, "")}
    )
    sue.get_by_role("button", name="Start import").click()
    expect(sue).to_have_url(live_server.url("/admin/background-jobs?tab=mine"))

    description = described("watched.csv", rows)
    expect(sam.get_by_role("article").first).to_have_accessible_name(description)
    expect(sam.get_by_role("article")).to_have_count(2)
    row, bar = row_of(sam, description), bar_of(sam, description)
    expect(bar).to_have_attribute("aria-valuenow", one_of(range(1, 50)))
    # The first batch's errors are written before its rows and the last batch's before its
    # own: some but not all are counted from the first progress until the last batch starts
    # (two thirds of the job, its batches growing to 20,000 rows), so look now, before the
    # bar moves again and the clock ticks (a second).
    badge = badge_of(row)
    expect(badge).to_have_accessible_name(
        re.compile(rf"^({'|'.join(errors_named(n) for n in range(1, BAD_ROWS))})$")
    )
    expect(bar).to_have_attribute("aria-valuenow", one_of(range(percent(bar) + 1, 101)))
    clock = clock_of(row)
    expect(clock).to_be_visible()
    expect(clock).not_to_have_text(clock.inner_text())
    expect(status_of(row, COMPLETED)).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(badge).to_have_accessible_name(errors_named(BAD_ROWS))
    assert is_same_document(sam), "the page reloaded instead of being updated live"

    badge.click()
    dialog = sam.get_by_role("dialog", name=f"Errors in “{description}”")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("row")).to_have_count(1 + BAD_ROWS)
    for line, kind in bad_lines(rows).items():
        cell = sam.get_by_role("cell", name=f"line {line}", exact=True)
        expect(dialog.get_by_role("row").filter(has=cell)).to_contain_text(
            re.compile(REASONS[kind])
        )
    job_id = (row.get_attribute("id") or "").removeprefix("j")
    download = dialog.get_by_role("link", name="Download errors as CSV")
    expect(download).to_have_attribute("href", f"/api/jobs/{job_id}/errors.csv")
    csv_text = sam.request.get(live_server.url(f"/api/jobs/{job_id}/errors.csv")).text()
    assert len(csv_text.splitlines()) == 1 + BAD_ROWS
    sam.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(badge).to_be_focused()

    badge.click()
    dialog.get_by_role("link", name="View All").click()
    expect(sam).to_have_url(live_server.url("/admin/background-jobs"))

    expect(row_of(pat, description)).to_have_count(0)
    assert pat_frames, "the Power User's page got nothing at all: the check below would be idle"
    assert not [frame for frame in pat_frames if job_id in frame or "watched.csv" in frame]


def test_power_users_job_is_seen_by_both_superadmins_on_view_all(
    live_server: Server,
    viewer: Viewer,
    job_worker: dramatiq.Worker,
    users_csv: Callable[[int, str], bytes],
) -> None:
    sue, sam = viewer(live_server, SUE), viewer(live_server, SAM)
    for superadmin in (sue, sam):
        open_jobs(superadmin, live_server)
    pat = viewer(live_server, PAT)
    # A Power User's file gives nobody the role power_user: only a Superadmin may.
    pats_file = users_csv(SMALL, "").replace(b",power_user,", b",user,")
    launch(pat, live_server, "pat-team.csv", pats_file)

    description = described("pat-team.csv", SMALL)
    for superadmin in (sue, sam):
        row = row_of(superadmin, description)
        expect(row).to_contain_text(PAT.name)
        expect(status_of(row, COMPLETED)).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(badge_of(row)).to_have_accessible_name(errors_named(BAD_ROWS))


def test_live_updates_make_no_http_request_besides_the_socket(
    live_server: Server,
    viewer: Viewer,
    job_worker: dramatiq.Worker,
    users_csv: Callable[[int, str], bytes],
) -> None:
    rows = LARGE
    sam = viewer(live_server, SAM)
    open_jobs(sam, live_server)
    requests: list[str] = []
    sam.on("request", lambda request: requests.append(request.url))
    sockets: list[str] = []
    sam.on("websocket", lambda ws: sockets.append(ws.url))

    sue = viewer(live_server, SUE)
    launch(sue, live_server, "quiet.csv", users_csv(rows, ""))
    description = described("quiet.csv", rows)
    row, bar = row_of(sam, description), bar_of(sam, description)
    expect(status_of(row, "Running")).to_be_visible()
    expect(bar).to_have_attribute("aria-valuenow", one_of(range(1, 40)))
    before = percent(bar)
    sam.wait_for_timeout(10_000)  # the point: what the page asks for during 10 s of updates

    expect(status_of(row, "Running")).to_be_visible()  # updates went on the whole time
    assert percent(bar) > before
    assert [url for url in requests if not url.startswith("data:")] == []
    assert sockets == []  # the one socket stayed up: no reconnection either


def test_abort_reaches_every_viewer_and_spares_open_dialogs(
    live_server: Server,
    viewer: Viewer,
    job_worker: dramatiq.Worker,
    wait_for_job: WaitForJob,
    users_csv: Callable[[int, str], bytes],
) -> None:
    rows = LARGE
    sue, sam = viewer(live_server, SUE), viewer(live_server, SAM)
    theo_confirming = viewer(live_server, THEO)
    theo_reading = theo_confirming.context.new_page()
    viewers = [sue, sam, theo_confirming, theo_reading]
    for watcher in viewers:
        open_jobs(watcher, live_server)
    doomed = launch(sue, live_server, "doomed.csv", users_csv(rows, "d"))
    launch(sam, live_server, "steady.csv", with_first_row_bad(users_csv(rows, "s")))
    doomed_description = described("doomed.csv", rows)
    steady_description = described("steady.csv", rows)

    steady_row = row_of(theo_confirming, steady_description)
    steady_row.get_by_role("button", name="Abort job").click()
    confirm = theo_confirming.get_by_role("dialog", name="Abort this job?")
    expect(confirm).to_contain_text(steady_description)
    expect(confirm.locator(":focus")).to_have_count(1)
    badge_of(row_of(theo_reading, steady_description)).click()
    errors = theo_reading.get_by_role("dialog", name=f"Errors in “{steady_description}”")
    expect(errors).to_be_visible()
    expect(errors.locator(":focus")).to_have_count(1)
    opened_at = time.monotonic()
    steady_bar = bar_of(theo_reading, steady_description)
    steady_before = percent(steady_bar)

    row_of(sue, doomed_description).get_by_role("button", name="Abort job").click()
    asked = sue.get_by_role("dialog", name="Abort this job?")
    expect(asked).to_contain_text(doomed_description)
    expect(asked).to_contain_text("Aborting cannot be undone.")
    asked.get_by_role("button", name="Abort job").click()
    expect(asked).to_be_hidden()

    for watcher in viewers:
        expect(
            status_of(row_of(watcher, doomed_description), r"Stopping…|Aborted.*")
        ).to_be_visible()
    job = wait_for_job(doomed["id"], lambda job: job.is_final)
    assert job.status is Status.ABORTED and job.total == rows
    aborted = f"Aborted at {job.done:,} / {rows:,} by {SUE.name}"
    for watcher in viewers:
        row = row_of(watcher, doomed_description)
        expect(status_of(row, re.escape(aborted))).to_be_visible()
        expect(row.get_by_role("button", name="Abort job")).to_have_count(0)

    theo_confirming.wait_for_timeout(max(0.0, 10 - (time.monotonic() - opened_at)) * 1000)
    expect(confirm).to_be_visible()
    expect(confirm.locator(":focus")).to_have_count(1)
    expect(errors).to_be_visible()
    expect(errors.locator(":focus")).to_have_count(1)
    expect(status_of(row_of(theo_reading, steady_description), "Running")).to_be_visible()
    assert percent(steady_bar) > steady_before  # the 10 s were full of updates


def test_notify_me_marks_the_button_and_mails_when_the_job_ends(
    live_server: Server,
    viewer: Viewer,
    job_worker: dramatiq.Worker,
    settings: Settings,
    users_csv: Callable[[int, str], bytes],
) -> None:
    rows = MEDIUM
    sue = viewer(live_server, SUE)
    open_jobs(sue, live_server)
    launch(sue, live_server, "notify-me.csv", users_csv(rows, ""))
    description = described("notify-me.csv", rows)
    row = row_of(sue, description)

    notify = row.get_by_role("button", name=re.compile(r"Notify me when finished$"))
    expect(notify).to_have_attribute("aria-pressed", "false")
    notify.click()
    expect(notify).to_have_attribute("aria-pressed", "true")
    expect(notify).to_have_text("✓ Notify me when finished")
    expect(status_of(row, COMPLETED)).to_be_visible(timeout=JOB_TIMEOUT_MS)

    mail = wait_for_mail(settings.outbox_dir, description)
    assert mail["Subject"] == f"{description} completed"
    assert SUE.email in mail["To"]


def wait_for_mail(outbox: Path, subject_part: str, timeout_s: float = 30.0) -> dict[str, str]:
    """The headers of the first `.eml` in `outbox` whose subject contains `subject_part`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in outbox.glob("*.eml"):
            message = message_from_bytes(path.read_bytes(), policy=email_policy)
            if subject_part in str(message["Subject"]):
                return {"Subject": str(message["Subject"]), "To": str(message["To"])}
        time.sleep(0.05)  # a polling interval, not a wait for an outcome
    raise AssertionError(f"no email about {subject_part!r} in {outbox} after {timeout_s} s")


def test_job_goes_on_after_sign_out_and_shows_its_final_state_later(
    live_server: Server,
    viewer: Viewer,
    job_worker: dramatiq.Worker,
    store: JobStore,
    wait_for_job: WaitForJob,
    users_csv: Callable[[int, str], bytes],
) -> None:
    rows = MEDIUM
    sue = viewer(live_server, SUE)
    open_jobs(sue, live_server)
    launched = launch(sue, live_server, "left-alone.csv", users_csv(rows, ""))
    description = described("left-alone.csv", rows)
    expect(status_of(row_of(sue, description), "Running")).to_be_visible()
    sue.get_by_role("button", name="Sign out").click()
    expect(sue).to_have_url(live_server.url("/login"))
    sue.context.close()
    assert not store.get(launched["id"]).is_final

    job = wait_for_job(launched["id"], lambda job: job.is_final)
    assert job.status is Status.COMPLETED and job.done == rows
    later = viewer(live_server, SUE)
    open_jobs(later, live_server)
    row = row_of(later, description)
    expect(status_of(row, COMPLETED)).to_be_visible()
    expect(bar_of(later, description)).to_have_attribute("aria-valuenow", "100")
    expect(row).to_contain_text(f"{rows:,} / {rows:,} items")
    expect(badge_of(row)).to_have_accessible_name(errors_named(BAD_ROWS))
    running_time = format_duration(job.running_time(job.finished_at or 0.0))
    expect(clock_of(row)).to_have_text(f"Running time: {running_time}")
    expect(row.get_by_role("button", name="Abort job")).to_have_count(0)
    expect(row.get_by_role("button", name=re.compile("Notify me"))).to_have_count(0)


@pytest.fixture
def restartable(serve: Callable[[], Server]) -> Iterator[Server]:
    """A web process of its own on a fixed port, that the test stops and starts again."""
    yield serve()


def test_page_reconnects_after_a_web_restart_and_catches_up(
    restartable: Server,
    viewer: Viewer,
    job_worker: dramatiq.Worker,
    wait_for_job: WaitForJob,
    users_csv: Callable[[int, str], bytes],
) -> None:
    rows = MEDIUM
    sue = viewer(restartable, SUE)
    open_jobs(sue, restartable)
    launched = launch(sue, restartable, "restart.csv", users_csv(rows, ""))
    description = described("restart.csv", rows)
    row, bar = row_of(sue, description), bar_of(sue, description)
    expect(bar).to_have_attribute("aria-valuenow", one_of(range(1, 50)))
    mark_document(sue)

    port = restartable.port
    restartable.stop()
    expect(connection(sue, "Connection lost, reconnecting…")).to_be_visible()
    shown = percent(bar)
    wait_for_job(launched["id"], lambda job: (job.percent or 0) > shown + 10)
    restartable.start()
    assert restartable.port == port

    expect(connection(sue, "Live")).to_be_visible(timeout=15_000)
    expect(status_of(row, COMPLETED)).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(row).to_contain_text(f"{rows:,} / {rows:,} items")
    expect(badge_of(row)).to_have_accessible_name(errors_named(BAD_ROWS))
    assert is_same_document(sue), "the page reloaded instead of catching up over the socket"


def test_events_reach_viewers_of_both_web_processes(
    live_server: Server,
    serve: Callable[[], Server],
    viewer: Viewer,
    job_worker: dramatiq.Worker,
    users_csv: Callable[[int, str], bytes],
) -> None:
    other = serve()
    sue, sam = viewer(live_server, SUE), viewer(other, SAM)
    open_jobs(sue, live_server)
    open_jobs(sam, other)
    assert live_server.app.state.hub is not other.app.state.hub

    launch(sue, live_server, "both.csv", users_csv(SMALL, ""))
    description = described("both.csv", SMALL)
    for watcher in (sue, sam):
        row = row_of(watcher, description)
        expect(row).to_be_visible()
        expect(status_of(row, COMPLETED)).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(bar_of(watcher, description)).to_have_attribute("aria-valuenow", "100")
        expect(badge_of(row)).to_have_accessible_name(errors_named(BAD_ROWS))


def test_superadmin_has_tabs_in_the_url_and_power_user_has_none(
    live_server: Server, viewer: Viewer
) -> None:
    """View All and My Jobs are two pages: links in a navigation, the current one marked with
    aria-current (tests/browser/test_screen_readers.py follows them)."""
    sue = viewer(live_server, SUE)
    open_jobs(sue, live_server)
    which = sue.get_by_role("navigation", name="Which jobs")
    view_all = which.get_by_role("link", name="View All")
    my_jobs = which.get_by_role("link", name="My Jobs")
    expect(view_all).to_have_attribute("aria-current", "page")
    expect(my_jobs).not_to_have_attribute("aria-current", "page")

    my_jobs.click()
    expect(sue).to_have_url(live_server.url("/admin/background-jobs?tab=mine"))
    expect(my_jobs).to_have_attribute("aria-current", "page")
    expect(view_all).not_to_have_attribute("aria-current", "page")
    open_jobs(sue, live_server, "?tab=all")
    expect(view_all).to_have_attribute("aria-current", "page")

    pat = viewer(live_server, PAT)
    open_jobs(pat, live_server, "?tab=all")
    expect(pat.get_by_role("heading", name="Background Jobs", level=1)).to_be_visible()
    expect(pat.get_by_role("navigation", name="Which jobs")).to_have_count(0)
    expect(pat.get_by_role("tab")).to_have_count(0)


def test_keyboard_focus_on_a_row_survives_live_updates(
    live_server: Server,
    viewer: Viewer,
    job_worker: dramatiq.Worker,
    users_csv: Callable[[int, str], bytes],
) -> None:
    rows = MEDIUM
    sue = viewer(live_server, SUE)
    open_jobs(sue, live_server)
    launch(sue, live_server, "focused.csv", users_csv(rows, ""))
    description = described("focused.csv", rows)
    bar = bar_of(sue, description)
    expect(bar).to_have_attribute("aria-valuenow", one_of(range(1, 60)))
    abort = row_of(sue, description).get_by_role("button", name="Abort job")
    abort.focus()
    expect(abort).to_be_focused()

    expect(bar).to_have_attribute("aria-valuenow", one_of(range(percent(bar) + 1, 101)))
    expect(abort).to_be_focused()
