"""The `jobdeck` command on a private SQLite file: users, courses, demo data, and its refusals.

Most cases run `server.cli.main()` in this process (it reads os.environ when called); reading
the password from stdin runs the installed console script in a subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_client
import sqlalchemy as sa

from server.cli import main
from server.embedded_redis import free_port
from tasks.data.db import connect, courses, users
from tasks.data.passwords import verify_password

PASSWORD = "cli-password-1"


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@dataclass
class Place:
    var: Path
    database_url: str

    @property
    def database(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

    def rows(self, table: sa.Table) -> list[sa.RowMapping]:
        """Every row of `table`; none when the database was never created."""
        if not self.database.exists():
            return []
        engine = connect(self.database_url)
        try:
            with engine.connect() as conn:
                if not sa.inspect(conn).has_table(table.name):
                    return []
                return list(conn.execute(sa.select(table).order_by(table.c.id)).mappings())
        finally:
            engine.dispose()

    def emails(self) -> list[str]:
        return [row["email"] for row in self.rows(users)]


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Place]:
    place = Place(tmp_path / "var", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("JOBDECK_VAR", str(place.var))
    monkeypatch.setenv("DATABASE_URL", place.database_url)
    yield place


@pytest.fixture
def jobdeck(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run the CLI in this process; its exit status (argparse's included) and output."""

    def run(*argv: str) -> Result:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def user_add(
    email: str, name: str = "Ada", role: str = "user", password: str = PASSWORD
) -> list[str]:
    return ["user", "add", email, "--name", name, "--role", role, "--password", password]


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    return text.rstrip("\n")


# -- user add ---------------------------------------------------------------------------------


def test_user_add_with_password(place: Place, jobdeck: Run) -> None:
    result = jobdeck(*user_add("Ada@Example.com", name="Ada Lovelace", role="power-user"))
    assert result.code == 0, result.err
    assert one_line(result.out) == "added power_user ada@example.com (id 1)"
    assert result.err == ""
    [row] = place.rows(users)
    assert (row["email"], row["name"], row["role"]) == (
        "ada@example.com",
        "Ada Lovelace",
        "power_user",
    )
    assert row["is_active"]
    assert verify_password(row["password_hash"], PASSWORD)


def test_user_add_reads_the_password_from_stdin(place: Place) -> None:
    script = Path(sys.executable).parent / "jobdeck"
    env = {**os.environ, "JOBDECK_VAR": str(place.var), "DATABASE_URL": place.database_url}
    completed = subprocess.run(
        [str(script), "user", "add", "ada@example.com", "--name", "Ada", "--role", "superadmin"],
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert one_line(completed.stdout) == "added superadmin ada@example.com (id 1)"
    [row] = place.rows(users)
    assert verify_password(row["password_hash"], PASSWORD)
    assert not verify_password(row["password_hash"], PASSWORD + "\n")


def test_duplicate_email_exits_1_and_keeps_one_row(place: Place, jobdeck: Run) -> None:
    first = jobdeck(*user_add("ada@example.com"))
    assert first.code == 0
    again = jobdeck(*user_add("ADA@example.com", name="Other", role="superadmin"))
    assert again.code == 1
    assert again.out == ""
    assert one_line(again.err) == "jobdeck: a user with email 'ada@example.com' already exists"
    [row] = place.rows(users)
    assert (row["name"], row["role"]) == ("Ada", "user")


def test_bad_role_exits_2_and_writes_nothing(place: Place, jobdeck: Run) -> None:
    result = jobdeck(*user_add("ada@example.com", role="root"))
    assert result.code == 2
    assert "invalid choice: 'root'" in result.err
    assert place.emails() == []


def test_power_user_with_underscore_is_refused_by_argparse(place: Place, jobdeck: Run) -> None:
    result = jobdeck(*user_add("ada@example.com", role="power_user"))
    assert result.code == 2
    assert place.emails() == []


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "jobdeck: 'not-an-email' is not a valid email address"),
        ("a" * 300 + "@example.com", "jobdeck: email is longer than 254 characters"),
    ],
)
def test_bad_email_exits_1_and_writes_nothing(
    place: Place, jobdeck: Run, email: str, message: str
) -> None:
    result = jobdeck(*user_add(email))
    assert result.code == 1
    assert one_line(result.err) == message
    assert place.emails() == []


def test_empty_name_exits_1_and_writes_nothing(place: Place, jobdeck: Run) -> None:
    result = jobdeck(*user_add("ada@example.com", name="  "))
    assert result.code == 1
    assert one_line(result.err) == "jobdeck: name is empty"
    assert place.emails() == []


def test_short_password_exits_1_and_writes_nothing(place: Place, jobdeck: Run) -> None:
    result = jobdeck(*user_add("ada@example.com", password="short"))
    assert result.code == 1
    assert one_line(result.err) == "jobdeck: the password must have at least 8 characters"
    assert place.emails() == []


def test_missing_name_exits_2(place: Place, jobdeck: Run) -> None:
    result = jobdeck("user", "add", "ada@example.com", "--role", "user", "--password", PASSWORD)
    assert result.code == 2
    assert "--name" in result.err
    assert place.emails() == []


# -- user list, course add ----------------------------------------------------------------------


def test_user_list_shows_every_user(place: Place, jobdeck: Run) -> None:
    jobdeck(*user_add("ada@example.com", role="superadmin"))
    jobdeck(*user_add("bob@example.com", name="Bob"))
    result = jobdeck("user", "list")
    assert result.code == 0
    assert result.out.splitlines() == [
        "1\tada@example.com\tsuperadmin\tAda",
        "2\tbob@example.com\tuser\tBob",
    ]


def test_user_list_on_an_empty_database(place: Place, jobdeck: Run) -> None:
    result = jobdeck("user", "list")
    assert (result.code, result.out, result.err) == (0, "", "")


def test_course_add_and_duplicate(place: Place, jobdeck: Run) -> None:
    added = jobdeck("course", "add", "PY-101", "Python basics")
    assert added.code == 0
    assert one_line(added.out) == "added course PY-101 (id 1)"
    again = jobdeck("course", "add", "PY-101", "Another")
    assert again.code == 1
    assert one_line(again.err) == "jobdeck: a course with code 'PY-101' already exists"
    assert [(r["code"], r["title"]) for r in place.rows(courses)] == [("PY-101", "Python basics")]


def test_bad_course_code_exits_1_and_writes_nothing(place: Place, jobdeck: Run) -> None:
    result = jobdeck("course", "add", "has space", "Title")
    assert result.code == 1
    assert one_line(result.err).startswith("jobdeck: course code 'has space' must be")
    assert place.rows(courses) == []


# -- demo --------------------------------------------------------------------------------------


def test_demo_seeds_once_and_then_says_it_is_present(place: Place, jobdeck: Run) -> None:
    first = jobdeck("demo")
    assert first.code == 0, first.err
    assert "Demo accounts" in first.out
    for email in ("admin@example.com", "power1@example.com", "power2@example.com"):
        assert email in first.out
    roles = [row["role"] for row in place.rows(users)]
    assert roles.count("superadmin") == 1
    assert roles.count("power_user") == 2
    assert roles.count("user") >= 100
    n_users, n_courses = len(roles), len(place.rows(courses))
    assert n_courses >= 10

    second = jobdeck("demo")
    assert second.code == 0
    assert one_line(second.out) == "demo data already present"
    assert "password" not in second.out
    assert (len(place.rows(users)), len(place.rows(courses))) == (n_users, n_courses)


def test_demo_passwords_sign_in(place: Place, jobdeck: Run) -> None:
    out = jobdeck("demo").out
    lines = [line.split() for line in out.splitlines() if "password:" in line]
    assert len(lines) == 4
    hashes = {row["email"]: row["password_hash"] for row in place.rows(users)}
    for _role, email, _label, password in lines:
        assert verify_password(hashes[email], password)


class Running:
    """`jobdeck run` (what `make run` calls) in a session of its own, with no PORT, REDIS_URL or
    BASE_URL: web, worker and an embedded Redis on `host`:8000 (not 127.0.0.1, so that a
    `make run` on 127.0.0.1:8000 does not get in the way; each test its own address, so that
    two runs of the suite at once do not either)."""

    def __init__(self, tmp_path: Path, host: str, start: bool = True, **env: str) -> None:
        unset = ("PORT", "REDIS_URL", "BASE_URL")
        self.env = {k: v for k, v in os.environ.items() if k not in unset}
        database = f"sqlite:///{tmp_path / 'run.sqlite3'}"
        self.env.update({"HOST": host, "JOBDECK_VAR": str(tmp_path / "var"),
                         "DATABASE_URL": database, **env})  # fmt: skip
        self.tmp_path, self.base_url = tmp_path, f"http://{host}:8000"
        self.jobdeck = Path(sys.executable).parent / "jobdeck"
        self.output = ""
        if start:
            self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(self.jobdeck), "run"], env=self.env, cwd=Path(__file__).parents[2], text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def wait_ready(self) -> None:
        ready, deadline = None, time.monotonic() + 60
        while ready is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/readyz", timeout=2) as answer:
                    ready = answer.status
            except OSError:
                time.sleep(0.2)  # not up yet (or not ready: no worker heartbeat yet)
        assert ready == 200, f"web, worker and Redis were not all up on {self.base_url} in 60 s"

    def finish(self) -> str:
        """Stop what is still running (as SIGTERM does) and return everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.output = self.process.communicate()[0]
        return self.output

    def leftovers(self) -> str:
        found = subprocess.run(["pgrep", "-f", str(self.tmp_path)], capture_output=True, text=True)
        return found.stdout


@pytest.mark.slow
def test_run_brings_everything_up_privately_where_it_says_and_sigterm_stops_it(
    tmp_path: Path,
) -> None:
    """Web, worker and an embedded Redis answer on the default port, var/ and everything in it
    are the user's alone, and the Redis refuses a client without its password; SIGTERM stops
    them all."""
    var, redis_port = tmp_path / "var", free_port()
    run = Running(tmp_path, "127.0.0.2", JOBDECK_REDIS_PORT=str(redis_port),
                  DATABASE_URL=f"sqlite:///{var / 'jobdeck.sqlite3'}")  # fmt: skip
    try:
        run.wait_ready()
        assert var.stat().st_mode & 0o777 == 0o700
        shared = [p for p in var.rglob("*") if p.stat().st_mode & 0o077]
        assert shared == [], f"readable by others: {shared}"
        assert (var / "jobdeck.sqlite3").exists() and (var / "redis" / "password").exists()
        stranger = redis_client.Redis(port=redis_port)
        with pytest.raises(redis_client.AuthenticationError):
            stranger.set("jobdeck:session:forged", 1)
        stranger.close()
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=30) in (0, 128 + signal.SIGTERM)  # stopped, not killed
    finally:
        output = run.finish()
    assert "jobdeck on http://127.0.0.2:8000" in output, output
    assert run.leftovers() == "", f"still running after SIGTERM: {run.leftovers()}"


@pytest.mark.slow
def test_ctrl_c_stops_web_and_worker_before_redis_and_prints_no_traceback(tmp_path: Path) -> None:
    """A terminal's Ctrl-C sends SIGINT to the whole foreground process group at once. The
    embedded Redis must not get it: it stops last, once web and worker are gone, so neither
    loses its connection while it shuts down."""
    run = Running(tmp_path, "127.0.0.3")
    try:
        run.wait_ready()
        os.killpg(run.process.pid, signal.SIGINT)
        run.process.wait(timeout=30)
    finally:
        output = run.finish()
    assert "jobdeck on http://127.0.0.3:8000" in output, output
    assert "Traceback" not in output, output
    assert "ConnectionError" not in output, output
    assert run.leftovers() == "", f"still running after Ctrl-C: {run.leftovers()}"


@pytest.mark.slow
def test_run_mails_links_to_the_web_process(tmp_path: Path) -> None:
    """Under `jobdeck run`, honcho gives each process its own PORT (the worker 8100); the
    end-of-job email, written by the worker as an .eml, must still link to the web's address:
    the link is followed, signed in, to the job's page."""
    import email
    import re

    import httpx

    from tasks.demo import demo_csv

    run = Running(tmp_path, "127.0.0.4", start=False, SMTP_URL="")
    password = "a long enough password"
    subprocess.run([str(run.jobdeck), "user", "add", "ada@example.com", "--name", "Ada",
                    "--role", "superadmin", "--password", password],
                   env=run.env, check=True, capture_output=True)  # fmt: skip
    run.start()
    site = run.base_url
    try:
        run.wait_ready()
        with httpx.Client(base_url=site, headers={"origin": site}, timeout=10) as client:
            signed = client.post("/login", data={"email": "ada@example.com", "password": password})
            assert signed.status_code in (200, 303), signed.text
            data = "".join(demo_csv(20_000, 0, seed=3)).encode()
            launched = client.post("/api/imports/users", files={"file": ("ada.csv", data)})
            assert launched.status_code == 202, launched.text
            job_id = launched.json()["id"]
            assert client.post(f"/api/jobs/{job_id}/notify").status_code == 200

            outbox = tmp_path / "var" / "outbox"
            deadline = time.monotonic() + 120
            while not list(outbox.glob("*.eml")):
                assert time.monotonic() < deadline, "no email in the outbox after 120 s"
                time.sleep(0.2)  # the import and its mail are under way
            (written,) = outbox.glob("*.eml")
            body = email.message_from_bytes(written.read_bytes()).get_payload(decode=True)
            links = re.findall(rb"https?://\S+", body)
            assert links and all(link.startswith(site.encode()) for link in links), links
            page = client.get(links[0].decode())
            assert page.status_code == 200 and job_id in page.text
    finally:
        run.finish()
