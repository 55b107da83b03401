"""Every page and state as admins and assistive technology meet them, in Chromium: axe-core
finds no serious or critical violation (tests/browser/axe.py), nothing scrolls sideways on a
390 px phone, and dark mode and forced colours keep everything visible.

Jobs are put in the real store in every state (its every change is published on Redis, as a
worker's are), so that what each page shows is known exactly. Set JOBDECK_SCREENSHOTS=<dir> to
keep a screenshot of each state for judging the layout by eye.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Engine

from tasks.data.users import User, add_user
from tasks.jobs.model import Event, Job, Person
from tasks.jobs.records import JobError, new_job_id
from tasks.jobs.store import JobStore
from tests.browser.axe import check, snap

pytestmark = pytest.mark.browser

PASSWORD = "a11y-password-1"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
RUNNING = "Import users from staff-2026.csv (500,000 rows)"
QUEUED = "Enroll users in courses from autumn.csv"
COMPLETED = "Import users from teachers.csv (2,000 rows)"
ABORTED = "Import users from mistake.csv (10,000 rows)"
FAILED = "Import users from broken.csv (300 rows)"


@dataclass(frozen=True)
class People:
    sue: User
    pat: User


@pytest.fixture
def people(engine: Engine) -> People:
    with engine.begin() as conn:
        sue = add_user(conn, "sue@example.com", "Sue Super", "superadmin", PASSWORD)
        pat = add_user(conn, "pat@example.com", "Pat Power", "power_user", PASSWORD)
    return People(sue, pat)


def errors(first: int, count: int) -> list[JobError]:
    at = time.time()
    return [JobError(n, f"line {n}", "email is empty", at) for n in range(first, first + count)]


def add(store: JobStore, owner: User, description: str, total: int | None, **fields: object) -> Job:
    job = Job(new_job_id(), "import_users", description, Person(owner.id, owner.name),
              time.time() - 120, total=total, **fields)  # type: ignore[arg-type]  # fmt: skip
    return store.create(job)


@dataclass(frozen=True)
class Jobs:
    running: Job
    queued: Job
    completed: Job
    aborted: Job
    failed: Job


@pytest.fixture
def jobs(store: JobStore, people: People) -> Jobs:
    """One job in each state a viewer meets, some of them Pat's, with errors where it matters."""
    now = time.time()
    running = add(store, people.sue, RUNNING, 500_000)
    store.transition(running.id, Event.START, at=now - 100)
    store.flush(running.id, {"done": "394000", "heartbeat_at": repr(now)}, errors(2, 56))
    queued = add(store, people.pat, QUEUED, None)
    completed = add(store, people.pat, COMPLETED, 2_000)
    store.transition(completed.id, Event.START, at=now - 90)
    store.flush(completed.id, {"done": "2000"}, errors(2, 400))
    store.transition(completed.id, Event.COMPLETE, at=now - 60)
    aborted = add(store, people.sue, ABORTED, 10_000)
    store.transition(aborted.id, Event.START, at=now - 80)
    store.flush(aborted.id, {"done": "4000"})
    by = Person(people.sue.id, people.sue.name)
    store.transition(aborted.id, Event.ABORT, at=now - 70, aborted_by=by, aborted_at=now - 70)
    store.transition(aborted.id, Event.CONFIRM_ABORT, at=now - 69)
    failed = add(store, people.pat, FAILED, 300)
    store.transition(failed.id, Event.START, at=now - 50)
    store.transition(failed.id, Event.FAIL, at=now - 40, message="The database refused the batch.")
    return Jobs(*(store.get(j.id) for j in (running, queued, completed, aborted, failed)))


@pytest.fixture
def signed_in(
    page: Page, people: People, sign_in: Callable[..., None]
) -> Callable[[object, User], Page]:
    def open_as(server: object, person: User) -> Page:
        sign_in(page, server.base_url, person.email, PASSWORD)  # type: ignore[attr-defined]
        return page

    return open_as


@pytest.fixture
def screen(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def live(page: Page) -> None:
    expect(page.get_by_role("status").filter(has_text=re.compile(r"^\s*Live\s*$"))).to_be_visible()


def has_no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def tour(
    page: Page, screen: Page, server: object, jobs: Jobs, people: People, where: str
) -> list[str]:
    """Every page and state, each checked with axe-core; the names of those that scroll
    sideways."""
    url = server.url  # type: ignore[attr-defined]
    sideways: list[str] = []

    def visit(state: str, on: Page | None = None) -> None:
        shown = on or page
        check(shown, state)
        snap(shown, f"{where}-{state}")
        if not has_no_sideways_scroll(shown):
            sideways.append(state)

    page.goto(url("/admin"))
    visit("admin-home")
    page.get_by_role("button", name="Admin Menu", exact=True).click()
    visit("admin-menu-open")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="My jobs").click()
    visit("recent-jobs-open")
    page.keyboard.press("Escape")
    page.goto(url("/admin/background-jobs"))
    live(page)
    visit("view-all")
    row = page.get_by_role("article", name=RUNNING, exact=True)
    row.get_by_role("button", name=re.compile("errors: show details")).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    visit("errors-dialog-open")
    page.keyboard.press("Escape")
    row.get_by_role("button", name=re.compile("^Abort job")).click()
    expect(page.get_by_role("dialog", name="Abort this job?")).to_be_visible()
    visit("abort-dialog-open")
    page.keyboard.press("Escape")
    page.goto(url("/admin/background-jobs?tab=mine"))
    live(page)
    visit("my-jobs")
    page.goto(url("/admin/background-jobs?q=nothing-like-this"))
    live(page)
    visit("search-matches-nothing")
    page.goto(url(f"/admin/background-jobs/{jobs.running.id}"))
    live(page)
    visit("job-page-running")
    page.goto(url(f"/admin/background-jobs/{jobs.completed.id}"))
    live(page)
    visit("job-page-ended")
    page.goto(url(f"/admin/background-jobs/{jobs.completed.id}/errors"))
    visit("errors-page")
    page.goto(url("/admin/imports/users"))
    visit("import-form")
    page.goto(url("/admin/enrollments"))
    visit("enroll-form")
    page.goto(url("/admin/background-jobs/wall"))
    live(page)
    visit("wallboard")
    page.goto(url("/admin/screens"))
    visit("screen-links-empty")
    page.get_by_label("Screen name").fill("Ops room, left screen")
    page.get_by_role("button", name="Create screen link").click()
    address = page.get_by_label("Address for the screen").input_value()
    visit("screen-link-created")
    screen.set_viewport_size(page.viewport_size or DESKTOP)
    screen.goto(url("/" + address.split("/", 3)[3]))
    live(screen)
    visit("wallboard-screen", screen)

    page.get_by_role("button", name="Sign out").click()
    page.goto(url("/login"))
    visit("sign-in")
    page.get_by_label("Email").fill(people.pat.email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.goto(url("/admin/background-jobs"))
    live(page)
    visit("power-user-jobs")
    return sideways


def test_every_page_and_state_passes_axe_at_1280_px(  # type: ignore[no-untyped-def]
    live_server, signed_in, screen: Page, jobs: Jobs, people: People
) -> None:
    page = signed_in(live_server, people.sue)
    page.set_viewport_size(DESKTOP)
    tour(page, screen, live_server, jobs, people, "desktop")


def test_nothing_scrolls_sideways_at_390_px(  # type: ignore[no-untyped-def]
    live_server, signed_in, screen: Page, jobs: Jobs, people: People
) -> None:
    page = signed_in(live_server, people.sue)
    page.set_viewport_size(PHONE)
    assert tour(page, screen, live_server, jobs, people, "phone") == []


def fill_shows(page: Page, description: str) -> bool:
    """Whether the bar's filled start looks different from its empty end (two equal strips
    inside its border, compared pixel for pixel)."""
    bar = page.get_by_role("progressbar", name=f"Progress of {description}", exact=True)
    # Measured in one evaluation: a push may replace the bar between two separate calls.
    box = bar.evaluate("b => { const r = b.getBoundingClientRect(); "
                       "return {x: r.x, y: r.y, width: r.width, height: r.height}; }")  # fmt: skip
    strip = {"y": box["y"] + 3, "width": 8.0, "height": max(1.0, box["height"] - 6)}
    start = page.screenshot(clip={**strip, "x": box["x"] + 6})
    end = page.screenshot(clip={**strip, "x": box["x"] + box["width"] - 14})
    return start != end


def test_bars_show_in_forced_colours(  # type: ignore[no-untyped-def]
    live_server, signed_in, jobs: Jobs, people: People
) -> None:
    page = signed_in(live_server, people.sue)
    page.set_viewport_size(DESKTOP)
    page.emulate_media(forced_colors="active")
    for path in ("/admin/background-jobs", "/admin/background-jobs/wall"):
        page.goto(live_server.url(path))
        live(page)
        for description in (RUNNING, ABORTED):
            assert fill_shows(page, description), f"{description} on {path}"
        check(page, f"forced-colours {path}")
        snap(page, f"forced-colours{path.replace('/', '-')}")
    page.goto(live_server.url(f"/admin/background-jobs/{jobs.running.id}"))
    live(page)
    assert fill_shows(page, RUNNING)


def test_dark_mode_is_dark_and_readable(  # type: ignore[no-untyped-def]
    live_server, signed_in, jobs: Jobs, people: People
) -> None:
    page = signed_in(live_server, people.sue)
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="dark")
    for path in ("/admin/background-jobs", f"/admin/background-jobs/{jobs.running.id}",
                 "/admin/imports/users"):  # fmt: skip
        page.goto(live_server.url(path))
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        red, green, blue = (int(n) for n in re.findall(r"\d+", background)[:3])
        assert red + green + blue < 3 * 60, f"{path} is not dark: {background}"
        check(page, f"dark {path}")  # colour contrast included
        snap(page, f"dark{path.replace('/', '-')}")
    page.goto(live_server.url("/admin/background-jobs"))
    page.get_by_role("article", name=RUNNING, exact=True).get_by_role(
        "button", name=re.compile("errors: show details")
    ).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "dark errors dialog")


def test_phone_header_keeps_one_line_and_its_menus_open_below_it(  # type: ignore[no-untyped-def]
    live_server, signed_in, jobs: Jobs, people: People
) -> None:
    page = signed_in(live_server, people.sue)
    page.set_viewport_size(PHONE)
    page.goto(live_server.url("/admin/background-jobs"))
    live(page)
    header = page.get_by_role("banner")
    header_box = header.bounding_box()
    assert header_box is not None
    for name in ("My jobs", "Admin Menu", "Sign out"):
        button = header.get_by_role("button", name=name)
        box = button.bounding_box()
        assert box and box["height"] < 40, f"{name} wraps: {box}"  # one line of text
        assert box["x"] + box["width"] <= PHONE["width"], f"{name} is cut off: {box}"
    for opener, menu in (("Admin Menu", page.get_by_role("navigation", name="Admin Menu")),
                         ("My jobs", page.locator("#recent-jobs"))):  # fmt: skip
        header.get_by_role("button", name=opener).click()
        expect(menu).to_be_visible()
        box = menu.bounding_box()
        assert box and box["y"] >= header_box["y"] + header_box["height"] - 1, (opener, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (opener, box)
        page.keyboard.press("Escape")


def test_wallboard_greys_an_aborted_bar_and_labels_the_running_time(  # type: ignore[no-untyped-def]
    live_server, signed_in, jobs: Jobs, people: People
) -> None:
    page = signed_in(live_server, people.sue)
    page.goto(live_server.url("/admin/background-jobs/wall"))
    live(page)

    def fill(description: str) -> str:
        bar = page.get_by_role("progressbar", name=f"Progress of {description}", exact=True)
        return str(bar.evaluate("b => getComputedStyle(b, '::before').backgroundColor"))

    assert fill(ABORTED) != fill(RUNNING)
    red, green, blue = (int(n) for n in re.findall(r"\d+", fill(ABORTED))[:3])
    assert max(red, green, blue) - min(red, green, blue) < 30, fill(ABORTED)  # a grey
    row = page.get_by_role("article", name=ABORTED, exact=True)
    expect(row).to_contain_text("Running time: 0:11")
    bar = page.get_by_role("progressbar", name=f"Progress of {RUNNING}", exact=True)
    expect(bar).to_have_attribute("aria-valuetext", "394,000 of 500,000 items")
