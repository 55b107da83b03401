"""The `import_users` action on a real worker, Redis and database: launched the way the web layer
launches it, every bad row in the error ledger with its line and reason, existing users skipped
or updated, roles that the owner may not give refused, and abort at a batch boundary."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.csv_input import InvalidUpload
from tasks.data.courses import count_enrollments
from tasks.data.db import enrollments, uploads, users
from tasks.data.passwords import verify_password
from tasks.data.users import add_user, count_users, find_user
from tasks.demo import BAD_KINDS, demo_csv, seed_demo
from tasks.jobs.model import Event, Job, Person, Status
from tasks.jobs.store import JobStore
from tasks.launch import launch_enrollment, launch_import
from tasks.runtime import Runtime
from tasks.uploads import load_checkpoint

LONG_NAME = "Dora " + "d" * 200

STAFF_CSV = f"""email,name,role,courses
ann@example.org,Ann Lee,user,CS101
bob@@x,Bob,user,
carl@example.org,,user,
dora@example.org,{LONG_NAME},user,
eve@example.org,Eve,teacher,
Ann@Example.org,Ann Again,user,
fay@example.org,Fay,user,CS101;NOPE
"gil@example.org","Gil, Jr.",power_user,"CS101;MATH200"

"hal@example.org","Hal
Multi",,SEC-110
ida@example.org,Ida,superadmin,
"""

STAFF_ERRORS = [
    ("line 3", "'bob@@x' is not a valid email address"),
    ("line 4", "name is empty"),
    ("line 5", "name is longer than 200 characters"),
    ("line 6", "unknown role 'teacher': use user, power_user or superadmin"),
    ("line 7", "duplicate of line 2 ('ann@example.org')"),
    ("line 8", "unknown course 'NOPE'"),
]


def errors_of(store: JobStore, job_id: str) -> list[tuple[str, str]]:
    """The whole ledger, page by page, as (item, message) in line order."""
    found, cursor = [], 0
    while True:
        page = store.errors(job_id, cursor=cursor, limit=100)
        found += [(e.item, e.message) for e in page.items]
        if page.cursor is None:
            break
        cursor = int(page.cursor)
    return sorted(found, key=lambda e: int(e[0].removeprefix("line ")))


def emails(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(users.c.email)).scalars())


def numbered_csv(rows: int, bad_every: int) -> Iterator[bytes]:
    """`rows` users; row i (from 0) has a bad email when i % bad_every == bad_every - 1."""
    yield b"email,name\n"
    for start in range(0, rows, 10_000):
        yield "".join(
            f"user{i}@@example.org,User {i}\n"
            if i % bad_every == bad_every - 1
            else f"user{i}@example.org,User {i}\n"
            for i in range(start, min(rows, start + 10_000))
        ).encode()


def test_import_creates_valid_rows_and_records_each_bad_row(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    job = launch_import(runtime, superadmin, "superadmin", "staff-2026.csv", [STAFF_CSV.encode()])
    assert job.description == "Import users from staff-2026.csv (10 rows)"
    assert job.status is Status.QUEUED

    drain()

    ended = store.get(job.id)
    assert ended.status is Status.COMPLETED
    assert (ended.done, ended.total, ended.error_count) == (10, 10, 6)
    assert errors_of(store, job.id) == STAFF_ERRORS
    assert emails(engine) == {
        "root@example.com",
        "ann@example.org",
        "gil@example.org",
        "hal@example.org",
        "ida@example.org",
    }
    with engine.connect() as conn:
        gil, hal, ida = (find_user(conn, f"{n}@example.org") for n in ("gil", "hal", "ida"))
        assert gil is not None and hal is not None and ida is not None
        assert (gil.name, gil.role, gil.password_hash) == ("Gil, Jr.", "power_user", None)
        assert (hal.name, hal.role) == ("Hal Multi", "user")
        assert ida.role == "superadmin"
        assert count_enrollments(conn) == 4  # ann: CS101; gil: CS101, MATH200; hal: SEC-110
        assert load_checkpoint(conn, job.id) == 10


def test_import_of_a_demo_file_counts_exactly(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    drain: Callable[[], None],
) -> None:
    from tasks.data.courses import add_course
    from tasks.demo import COURSES

    with engine.begin() as conn:
        for code, title in COURSES:
            add_course(conn, code, title)
    data = "".join(demo_csv(3000, 120, seed=5)).encode()
    # A Superadmin's import: the demo file gives some rows power_user, which only they may.
    job = launch_import(runtime, superadmin, "superadmin", "demo.csv", [data])

    drain()

    ended = store.get(job.id)
    assert (ended.status, ended.done, ended.total) == (Status.COMPLETED, 3000, 3000)
    assert ended.error_count == store.error_count(job.id) == 120
    assert count_users(engine) == 1 + 3000 - 120
    messages = " ".join(message for _, message in errors_of(store, job.id))
    fragments = {
        "bad_email": "not a valid email",
        "missing_name": "name is empty",
        "long_name": "longer than 200",
        "unknown_role": "unknown role",
        "duplicate": "duplicate of line",
        "unknown_course": "unknown course",
    }
    assert set(fragments) == set(BAD_KINDS)
    for fragment in fragments.values():
        assert fragment in messages


def test_demo_csv_is_the_same_for_one_seed_and_differs_across_seeds() -> None:
    assert list(demo_csv(200, 20, seed=1)) == list(demo_csv(200, 20, seed=1))
    assert list(demo_csv(200, 20, seed=1)) != list(demo_csv(200, 20, seed=2))
    assert next(demo_csv(0, 0)) == "email,name,role,courses\n"


def test_seed_demo_seeds_once_and_returns_working_passwords(engine: Engine) -> None:
    accounts = seed_demo(engine)
    assert accounts is not None
    assert [(email, role) for email, role, _ in accounts] == [
        ("admin@example.com", "superadmin"),
        ("power1@example.com", "power_user"),
        ("power2@example.com", "power_user"),
        ("user@example.com", "user"),
    ]
    with engine.connect() as conn:
        for email, _, password in accounts:
            user = find_user(conn, email)
            assert user is not None and verify_password(user.password_hash, password)
        assert count_enrollments(conn) == 200 * 3
    assert count_users(engine) == 4 + 200
    assert seed_demo(engine) is None
    assert count_users(engine) == 4 + 200


@pytest.fixture
def ann(engine: Engine, catalogue: dict[str, int]) -> int:
    with engine.begin() as conn:
        return add_user(conn, "ann@example.org", "Ann Old", "user").id


def test_existing_users_are_skipped_by_default(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    ann: int,
    drain: Callable[[], None],
) -> None:
    data = (
        b"email,name,role,courses\nANN@example.org,Ann New,power_user,CS101\nbo@example.org,Bo,,\n"
    )
    job = launch_import(runtime, superadmin, "superadmin", "a.csv", [data])

    drain()

    assert store.get(job.id).status is Status.COMPLETED
    assert errors_of(store, job.id) == []
    with engine.connect() as conn:
        user = find_user(conn, "ann@example.org")
        assert user is not None and (user.name, user.role) == ("Ann Old", "user")
        assert count_enrollments(conn) == 0
    assert emails(engine) == {"root@example.com", "ann@example.org", "bo@example.org"}


def test_update_sets_name_role_and_courses_of_existing_users(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    ann: int,
    catalogue: dict[str, int],
    drain: Callable[[], None],
) -> None:
    data = (
        b"email,name,role,courses\nANN@example.org,Ann New,power_user,CS101\nbo@example.org,Bo,,\n"
    )
    job = launch_import(runtime, superadmin, "superadmin", "a.csv", [data], on_existing="update")

    drain()

    assert store.get(job.id).status is Status.COMPLETED
    assert errors_of(store, job.id) == []
    with engine.connect() as conn:
        user = find_user(conn, "ann@example.org")
        assert user is not None and (user.name, user.role) == ("Ann New", "power_user")
        pairs = set(conn.execute(sa.select(enrollments.c.user_id, enrollments.c.course_id)))
        assert pairs == {(ann, catalogue["CS101"])}


def test_update_without_a_role_keeps_the_role(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    power_user: Person,
    drain: Callable[[], None],
) -> None:
    data = b"email,name\npat@example.com,Patricia Power\n"
    job = launch_import(runtime, superadmin, "superadmin", "a.csv", [data], on_existing="update")

    drain()

    assert store.get(job.id).status is Status.COMPLETED
    with engine.connect() as conn:
        user = find_user(conn, "pat@example.com")
        assert user is not None and (user.name, user.role) == ("Patricia Power", "power_user")


def test_power_user_may_not_create_or_update_a_superadmin(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    power_user: Person,
    drain: Callable[[], None],
) -> None:
    data = (
        b"email,name,role\n"
        b"new-boss@example.org,New Boss,superadmin\n"
        b"root@example.com,Rosa Renamed,\n"
        b"helper@example.org,Helper,power_user\n"
    )
    job = launch_import(runtime, power_user, "power_user", "a.csv", [data], on_existing="update")

    drain()

    assert store.get(job.id).status is Status.COMPLETED
    assert errors_of(store, job.id) == [
        ("line 2", "only a Superadmin may give the role 'superadmin'"),
        ("line 3", "'root@example.com' is a superadmin: only a Superadmin may update it"),
        ("line 4", "only a Superadmin may give the role 'power_user'"),
    ]
    with engine.connect() as conn:
        root = find_user(conn, "root@example.com")
    assert root is not None and root.name == "Rosa Root"
    assert "new-boss@example.org" not in emails(engine)
    assert "helper@example.org" not in emails(engine)


def test_power_user_may_not_change_the_role_of_another_admin_nor_make_one(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    power_user: Person,
    drain: Callable[[], None],
) -> None:
    with engine.begin() as conn:
        add_user(conn, "peer@example.org", "Pia Peer", "power_user")
        add_user(conn, "plain@example.org", "Paul Plain", "user")
        add_user(conn, "other@example.org", "Otto Other", "power_user")
    data = (
        b"email,name,role\n"
        b"peer@example.org,Pia Demoted,user\n"
        b"plain@example.org,Paul Promoted,power_user\n"
        b"other@example.org,Otto Renamed,\n"
    )
    job = launch_import(runtime, power_user, "power_user", "a.csv", [data], on_existing="update")

    drain()

    assert store.get(job.id).status is Status.COMPLETED
    assert errors_of(store, job.id) == [
        ("line 2", "'peer@example.org' is a power_user: only a Superadmin may change the role"
                   " of someone who can run jobs"),
        ("line 3", "only a Superadmin may give the role 'power_user'"),
    ]  # fmt: skip
    with engine.connect() as conn:
        peer, plain = find_user(conn, "peer@example.org"), find_user(conn, "plain@example.org")
    assert peer is not None and (peer.name, peer.role) == ("Pia Peer", "power_user")
    assert plain is not None and (plain.name, plain.role) == ("Paul Plain", "user")
    with engine.connect() as conn:
        other = find_user(conn, "other@example.org")
    assert other is not None and (other.name, other.role) == ("Otto Renamed", "power_user")


def test_bad_upload_leaves_nothing_behind(
    runtime: Runtime, store: JobStore, engine: Engine, superadmin: Person
) -> None:
    with pytest.raises(InvalidUpload, match="not a CSV file"):
        launch_import(runtime, superadmin, "superadmin", "cat.png", [b"\x89PNG\r\n\x1a\n\x00"])
    with pytest.raises(InvalidUpload, match="no 'email' column"):
        launch_import(runtime, superadmin, "superadmin", "a.csv", [b"name\nAnn\n"])
    assert store.list_jobs().items == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one() == 0


def test_a_file_over_import_max_rows_is_refused_before_any_job(
    runtime: Runtime, store: JobStore, engine: Engine, superadmin: Person
) -> None:
    """IMPORT_MAX_ROWS is lowered to 3 here (its default, a million, would need a huge file)."""
    small = Runtime(dataclasses.replace(runtime.settings, import_max_rows=3))
    data = b"email,name\n" + b"".join(b"u%d@example.org,U %d\n" % (i, i) for i in range(4))
    with pytest.raises(InvalidUpload) as caught:
        launch_import(small, superadmin, "superadmin", "big.csv", [data])
    assert str(caught.value) == "the file has more than 3 rows: split it into smaller files"
    with pytest.raises(InvalidUpload, match="more than 3 rows"):
        launch_enrollment(small, superadmin, "superadmin", [b"email,course\n" + b"a@b.org,X\n" * 4])
    assert store.list_jobs().items == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one() == 0
    small.engine.dispose()


def test_launch_that_cannot_record_the_job_removes_the_upload(
    runtime: Runtime, store: JobStore, engine: Engine, superadmin: Person
) -> None:
    class Unreachable(Runtime):
        @property
        def store(self) -> JobStore:  # type: ignore[override]
            return JobStore.from_url("redis://127.0.0.1:1/0", retention_s=60)

    broken = Unreachable(runtime.settings)
    broken.__dict__["engine"] = engine
    with pytest.raises(Exception, match="Connection refused|Error"):
        launch_import(broken, superadmin, "superadmin", "a.csv", [b"email,name\na@example.org,A\n"])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(uploads)).scalar_one() == 0


def test_abort_stops_at_the_batch_boundary_within_a_second(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    drain: Callable[[], None],
    wait_for_job: Callable[..., Job],
) -> None:
    job = launch_import(runtime, superadmin, "superadmin", "big.csv", numbered_csv(100_000, 50))
    wait_for_job(job.id, lambda j: j.done >= 2000)

    asked_at = time.time()
    store.transition(job.id, Event.ABORT, at=asked_at, aborted_by=superadmin, aborted_at=asked_at)
    drain()

    ended = store.get(job.id)
    assert ended.status is Status.ABORTED
    assert ended.aborted_by == superadmin
    assert ended.finished_at is not None and ended.finished_at - asked_at < 1.0
    with engine.connect() as conn:
        checkpoint = load_checkpoint(conn, job.id)
    assert 2000 <= checkpoint < 100_000
    assert checkpoint % 500 == 0  # a batch boundary
    assert ended.done == checkpoint
    errors = errors_of(store, job.id)
    assert len(errors) == checkpoint // 50 == ended.error_count
    assert count_users(engine) - 1 == checkpoint - len(errors)  # nothing after the boundary
    assert errors[-1][0] == f"line {checkpoint + 1}"  # row checkpoint-1 (from 0) is the last bad


def test_job_aborted_while_queued_never_runs(
    runtime: Runtime,
    store: JobStore,
    engine: Engine,
    superadmin: Person,
    request: pytest.FixtureRequest,
) -> None:
    job = launch_import(runtime, superadmin, "superadmin", "a.csv", [STAFF_CSV.encode()])
    asked_at = time.time()
    store.transition(job.id, Event.ABORT, at=asked_at, aborted_by=superadmin, aborted_at=asked_at)

    request.getfixturevalue("drain")()

    ended = store.get(job.id)
    assert ended.status is Status.ABORTED
    assert (ended.started_at, ended.done, ended.error_count) == (None, 0, 0)
    assert count_users(engine) == 1
    with engine.connect() as conn:
        assert load_checkpoint(conn, job.id) == 0


def test_the_import_form_states_the_row_limit_in_force(client, headers) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/admin/imports/users", headers=headers["power"])
    assert page.status_code == 200
    assert "Up to 100 MB or 1,000,000 rows, UTF-8." in page.text
