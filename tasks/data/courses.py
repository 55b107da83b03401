"""Courses and who is enrolled in them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tasks.data.db import courses, enrollments

MAX_CODE = 50
MAX_TITLE = 200
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class InvalidCourse(ValueError):
    """A course's field is not acceptable; the message says which and why."""


@dataclass(frozen=True)
class Course:
    id: int
    code: str
    title: str


def check_code(code: str) -> str:
    code = code.strip()
    if not code:
        raise InvalidCourse("course code is empty")
    if len(code) > MAX_CODE or not _CODE.match(code):
        raise InvalidCourse(
            f"course code {code[:60]!r} must be at most {MAX_CODE} letters, digits, '.', '_' or '-'"
        )
    return code


def add_course(conn: Connection, code: str, title: str) -> Course:
    code, title = check_code(code), " ".join(title.split())
    if not title:
        raise InvalidCourse("course title is empty")
    if len(title) > MAX_TITLE:
        raise InvalidCourse(f"course title is longer than {MAX_TITLE} characters")
    if course_ids(conn, [code]):
        raise InvalidCourse(f"a course with code {code!r} already exists")
    insert = sa.insert(courses).values(code=code, title=title).returning(courses.c.id)
    course_id = conn.execute(insert).scalar_one()
    return Course(course_id, code, title)


def list_courses(conn: Connection) -> list[Course]:
    rows = conn.execute(sa.select(courses).order_by(courses.c.code))
    return [Course(r.id, r.code, r.title) for r in rows]


def course_ids(conn: Connection, codes: Iterable[str]) -> dict[str, int]:
    """Course ids by code, for the codes that exist."""
    wanted = list(set(codes))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        query = sa.select(courses.c.code, courses.c.id).where(
            courses.c.code.in_(wanted[start : start + 500])
        )
        found.update({code: course_id for code, course_id in conn.execute(query)})
    return found


def enrolled_pairs(conn: Connection, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of the (user_id, course_id) pairs are already enrolled."""
    pairs = list(pairs)
    if not pairs:
        return set()
    user_ids = {u for u, _ in pairs}
    query = sa.select(enrollments.c.user_id, enrollments.c.course_id).where(
        enrollments.c.user_id.in_(user_ids)
    )
    wanted = set(pairs)
    return {(u, c) for u, c in conn.execute(query) if (u, c) in wanted}


def enroll(
    conn: Connection,
    pairs: Iterable[tuple[int, int]],
    *,
    are_users_new: bool = False,
    job_id: str | None = None,
) -> int:
    """Enroll each (user_id, course_id) pair that is not enrolled yet, as added by `job_id`;
    returns how many were.

    `are_users_new` skips the look-up for users created in this same transaction.
    """
    pairs = list(dict.fromkeys(pairs))
    already = set() if are_users_new else enrolled_pairs(conn, pairs)
    new = [p for p in pairs if p not in already]
    if new:
        now = time.time()
        conn.execute(
            sa.insert(enrollments),
            [{"user_id": u, "course_id": c, "enrolled_at": now, "job_id": job_id} for u, c in new],
        )
    return len(new)


def count_enrollments(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(enrollments)).scalar_one())
