"""The `jobdeck` command: users, courses, demo data, and `run` (what `make run` does).

Bad arguments or a duplicate get a one-line message on stderr and exit status 2 (usage) or 1,
and nothing half-written.
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from server.embedded_redis import EmbeddedRedis, password_of
from tasks.settings import ConfigError, Settings


def settings_from_env(environ: dict[str, str]) -> Settings:
    return Settings.from_environ(environ)


def engine_for(environ: dict[str, str]):  # type: ignore[no-untyped-def]
    from tasks.data.db import connect, create_schema

    var = Path(environ.get("JOBDECK_VAR", "var")).resolve()
    var.mkdir(parents=True, exist_ok=True)
    url = environ.get("DATABASE_URL") or f"sqlite:///{var / 'jobdeck.sqlite3'}"
    engine = connect(url)
    create_schema(engine)
    return engine


def read_password(given: str | None) -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise ValueError("the two passwords differ")
    return first


def cmd_user_add(args: argparse.Namespace, environ: dict[str, str]) -> int:
    from tasks.data.users import InvalidUser, add_user, check_email, check_name, check_role

    try:
        check_email(args.email), check_name(args.name), check_role(args.role)
        password = read_password(args.password)
        if len(password) < 8:
            raise InvalidUser("the password must have at least 8 characters")
        with engine_for(environ).begin() as conn:
            user = add_user(conn, args.email, args.name, args.role, password)
    except (InvalidUser, ValueError) as exc:
        print(f"jobdeck: {exc}", file=sys.stderr)
        return 1
    print(f"added {user.role} {user.email} (id {user.id})")
    return 0


def cmd_user_list(args: argparse.Namespace, environ: dict[str, str]) -> int:
    from tasks.data.users import list_users

    with engine_for(environ).connect() as conn:
        for user in list_users(conn, limit=args.limit):
            state = "" if user.is_active else " (inactive)"
            print(f"{user.id}\t{user.email}\t{user.role}\t{user.name}{state}")
    return 0


def cmd_course_add(args: argparse.Namespace, environ: dict[str, str]) -> int:
    from tasks.data.courses import InvalidCourse, add_course

    try:
        with engine_for(environ).begin() as conn:
            course = add_course(conn, args.code, args.title)
    except InvalidCourse as exc:
        print(f"jobdeck: {exc}", file=sys.stderr)
        return 1
    print(f"added course {course.code} (id {course.id})")
    return 0


def cmd_demo(args: argparse.Namespace, environ: dict[str, str]) -> int:
    from tasks.demo import seed_demo

    accounts = seed_demo(engine_for(environ))
    if accounts is None:
        print("demo data already present")
        return 0
    print("Demo accounts (shown once; keep them):")
    for email, role, password in accounts:
        print(f"  {role:<11} {email:<24} password: {password}")
    return 0


def cmd_demo_csv(args: argparse.Namespace, environ: dict[str, str]) -> int:
    from tasks.demo import demo_csv

    if args.rows < 0 or args.bad < 0 or args.bad > args.rows:
        print("jobdeck: ROWS and --bad must be >= 0, with --bad at most ROWS", file=sys.stderr)
        return 2
    for line in demo_csv(args.rows, args.bad, args.seed):
        sys.stdout.write(line)
    return 0


def cmd_run(args: argparse.Namespace, environ: dict[str, str]) -> int:
    """Everything for a laptop: Redis (embedded unless REDIS_URL), schema, demo, web, worker."""
    env = dict(environ)
    var = Path(env.get("JOBDECK_VAR", "var")).resolve()
    # Sessions, the database, the outbox and the secret key are nobody else's: var/ is 0700
    # and what every process started from here creates is 0600 (0700 for folders).
    os.umask(0o077)
    var.mkdir(parents=True, exist_ok=True)
    var.chmod(0o700)
    env["JOBDECK_VAR"] = str(var)
    # The Procfile's commands (uvicorn, dramatiq) live beside this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    redis: EmbeddedRedis | None = None
    if not env.get("REDIS_URL"):
        port = int(env.get("JOBDECK_REDIS_PORT", "0")) or None
        redis = EmbeddedRedis(var / "redis", port, password=password_of(var / "redis"))
        redis.start()
        env["REDIS_URL"] = redis.url
        print(f"embedded Redis on 127.0.0.1:{redis.port} (password and data in {redis.folder})",
              flush=True)  # fmt: skip
    try:
        settings = settings_from_env(env)
        # honcho hands its first process PORT=5000 when PORT is unset: say where to listen.
        env["HOST"], env["PORT"] = settings.host, str(settings.port)
        # ...and each process a PORT of its own (the worker 8100): every process must build its
        # links (the end-of-job emails) and its Origin check from the web's address.
        env["BASE_URL"] = settings.base_url
        cmd_demo(args, env)
        print(f"jobdeck on {settings.base_url}  (Ctrl-C stops everything)", flush=True)
        procfile = Path(args.procfile)
        honcho = [sys.executable, "-m", "honcho", "start", "-f", str(procfile), "-d", "."]
        child = subprocess.Popen(honcho, env=env)
        # Ctrl-C and SIGTERM both stop everything (even where SIGINT was ignored, as for a
        # background job of a script).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGTERM)
            return child.wait()
    except ConfigError as exc:
        print(f"jobdeck: {exc}", file=sys.stderr)
        return 1
    finally:
        if redis is not None:
            redis.stop()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="jobdeck", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    user = sub.add_parser("user", help="platform users").add_subparsers(
        dest="action", required=True
    )
    add = user.add_parser("add", help="add a user")
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=["superadmin", "power-user", "user"])
    add.add_argument("--password", help="else read from stdin (not a terminal) or prompted")
    add.set_defaults(func=cmd_user_add)
    listing = user.add_parser("list", help="list users")
    listing.add_argument("--limit", type=int, default=1000)
    listing.set_defaults(func=cmd_user_list)

    course = sub.add_parser("course", help="courses").add_subparsers(dest="action", required=True)
    course_add = course.add_parser("add", help="add a course")
    course_add.add_argument("code")
    course_add.add_argument("title")
    course_add.set_defaults(func=cmd_course_add)

    sub.add_parser("demo", help="seed demo data (idempotent)").set_defaults(func=cmd_demo)
    demo_csv = sub.add_parser("demo-csv", help="write a demo users CSV to stdout")
    demo_csv.add_argument("rows", type=int)
    demo_csv.add_argument("--bad", type=int, default=0, help="how many deliberately bad rows")
    demo_csv.add_argument("--seed", type=int, default=0)
    demo_csv.set_defaults(func=cmd_demo_csv)

    run = sub.add_parser("run", help="start Redis (if needed), web and worker")
    run.add_argument("--procfile", default="Procfile")
    run.set_defaults(func=cmd_run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    environ = dict(os.environ)
    code: int = args.func(args, environ)
    return code


if __name__ == "__main__":
    sys.exit(main())
