"""The platform's tables and queries on both databases: SQLite always, PostgreSQL when
TEST_DATABASE_URL is set (the PostgreSQL case is skipped, with its reason, only when it is not).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.data.courses import (
    InvalidCourse,
    add_course,
    count_enrollments,
    course_ids,
    enroll,
    enrolled_pairs,
    list_courses,
)
from tasks.data.db import connect, create_schema, enrollments, metadata, users
from tasks.data.users import (
    DuplicateEmail,
    InvalidUser,
    add_user,
    count_users,
    find_user,
    get_user,
    list_users,
    update_user,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh schema on a private SQLite file or on the TEST_DATABASE_URL PostgreSQL."""
    if request.param == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    else:
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            pytest.skip("TEST_DATABASE_URL is not set: the store is not tested on PostgreSQL")
        engine = connect(url)
        metadata.drop_all(engine)
    create_schema(engine)
    yield engine
    engine.dispose()


def test_engine_is_the_dialect_asked_for(db: Engine, request: pytest.FixtureRequest) -> None:
    assert db.dialect.name == request.node.callspec.params["db"]


def test_add_user_and_read_it_back(db: Engine) -> None:
    with db.begin() as conn:
        ada = add_user(conn, " Ada@Example.com ", "  Ada   Lovelace ", "power-user", "pw-123456")
    assert ada.email == "ada@example.com"
    assert ada.name == "Ada Lovelace"
    assert ada.role == "power_user"
    assert ada.is_active
    assert ada.created_at > 0
    with db.connect() as conn:
        found = find_user(conn, "ADA@example.COM")
        assert found is not None
        assert found == get_user(conn, ada.id)
    assert found.id == ada.id
    assert found.role == "power_user"
    assert found.password_hash and found.password_hash.startswith("$argon2id$")
    assert count_users(db) == 1


def test_user_without_password_has_no_hash(db: Engine) -> None:
    with db.begin() as conn:
        bob = add_user(conn, "bob@example.com", "Bob", "user")
    assert bob.password_hash is None


def test_email_is_unique_regardless_of_case(db: Engine) -> None:
    with db.begin() as conn:
        add_user(conn, "Bob@X.com", "Bob", "user")
    with pytest.raises(DuplicateEmail, match="'bob@x.com' already exists"), db.begin() as conn:
        add_user(conn, "bob@x.com", "Other Bob", "superadmin")
    with db.connect() as conn:
        assert [(u.email, u.name) for u in list_users(conn)] == [("bob@x.com", "Bob")]


def test_duplicate_in_the_same_transaction_keeps_the_first(db: Engine) -> None:
    with db.begin() as conn:
        add_user(conn, "bob@x.com", "Bob", "user")
        with pytest.raises(DuplicateEmail):
            add_user(conn, "BOB@X.COM", "Bob again", "user")
        add_user(conn, "carol@x.com", "Carol", "user")
    with db.connect() as conn:
        assert [u.email for u in list_users(conn)] == ["bob@x.com", "carol@x.com"]


def test_database_refuses_a_duplicate_email_even_past_the_check(db: Engine) -> None:
    with db.begin() as conn:
        add_user(conn, "bob@x.com", "Bob", "user")
    row = dict(email="bob@x.com", name="B", role="user", is_active=True, created_at=0.0)
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        conn.execute(sa.insert(users).values(**row))


def test_database_refuses_an_unknown_role(db: Engine) -> None:
    row = dict(email="eve@x.com", name="Eve", role="root", is_active=True, created_at=0.0)
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        conn.execute(sa.insert(users).values(**row))


@pytest.mark.parametrize(
    ("email", "name", "role", "reason"),
    [
        ("not-an-email", "X", "user", "not a valid email"),
        ("x@example.com", "   ", "user", "name is empty"),
        ("x@example.com", "X", "root", "unknown role 'root'"),
    ],
)
def test_bad_user_writes_nothing(db: Engine, email: str, name: str, role: str, reason: str) -> None:
    with pytest.raises(InvalidUser, match=reason), db.begin() as conn:
        add_user(conn, email, name, role, "pw-123456")
    assert count_users(db) == 0


def test_update_user_changes_role_and_active_flag(db: Engine) -> None:
    with db.begin() as conn:
        ada = add_user(conn, "ada@x.com", "Ada", "user")
        update_user(conn, ada.id, role="power-user", is_active=False)
    with db.connect() as conn:
        changed = get_user(conn, ada.id)
    assert changed is not None
    assert (changed.role, changed.is_active, changed.may_run_jobs) == ("power_user", False, False)


def test_update_user_refuses_other_fields(db: Engine) -> None:
    with db.begin() as conn:
        ada = add_user(conn, "ada@x.com", "Ada", "user")
        with pytest.raises(InvalidUser, match="cannot change email"):
            update_user(conn, ada.id, email="eve@x.com")


def test_add_course_and_refuse_a_duplicate_code(db: Engine) -> None:
    with db.begin() as conn:
        course = add_course(conn, "PY-101", "  Python   basics ")
    assert (course.code, course.title) == ("PY-101", "Python basics")
    with pytest.raises(InvalidCourse, match="'PY-101' already exists"), db.begin() as conn:
        add_course(conn, "PY-101", "Another title")
    with db.connect() as conn:
        assert [(c.code, c.title) for c in list_courses(conn)] == [("PY-101", "Python basics")]
        assert course_ids(conn, ["PY-101", "NOPE"]) == {"PY-101": course.id}


@pytest.mark.parametrize(
    ("code", "title", "reason"),
    [
        ("", "T", "code is empty"),
        ("has space", "T", "must be at most"),
        ("x" * 51, "T", "must be at most"),
        ("OK-1", "  ", "title is empty"),
        ("OK-1", "t" * 201, "longer than 200"),
    ],
)
def test_bad_course_writes_nothing(db: Engine, code: str, title: str, reason: str) -> None:
    with pytest.raises(InvalidCourse, match=reason), db.begin() as conn:
        add_course(conn, code, title)
    with db.connect() as conn:
        assert list_courses(conn) == []


def test_enroll_and_enrolled_pairs(db: Engine) -> None:
    with db.begin() as conn:
        ada = add_user(conn, "ada@x.com", "Ada", "user")
        bob = add_user(conn, "bob@x.com", "Bob", "user")
        py = add_course(conn, "PY-101", "Python")
        sql = add_course(conn, "SQL-101", "SQL")
    with db.begin() as conn:
        assert enroll(conn, [(ada.id, py.id), (bob.id, sql.id), (ada.id, py.id)]) == 2
    with db.connect() as conn:
        asked = [(ada.id, py.id), (ada.id, sql.id), (bob.id, sql.id), (bob.id, py.id)]
        assert enrolled_pairs(conn, asked) == {(ada.id, py.id), (bob.id, sql.id)}
        assert enrolled_pairs(conn, []) == set()
        assert count_enrollments(conn) == 2


def test_enrollment_of_a_pair_is_unique(db: Engine) -> None:
    with db.begin() as conn:
        ada = add_user(conn, "ada@x.com", "Ada", "user")
        py = add_course(conn, "PY-101", "Python")
        assert enroll(conn, [(ada.id, py.id)]) == 1
    with db.begin() as conn:
        assert enroll(conn, [(ada.id, py.id)]) == 0
    row = dict(user_id=ada.id, course_id=py.id, enrolled_at=0.0)
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        conn.execute(sa.insert(enrollments).values(**row))
    with db.connect() as conn:
        assert count_enrollments(conn) == 1


def test_enrollment_needs_a_real_user_and_course(db: Engine) -> None:
    with db.begin() as conn:
        py = add_course(conn, "PY-101", "Python")
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        enroll(conn, [(424242, py.id)])
    with db.connect() as conn:
        assert count_enrollments(conn) == 0
