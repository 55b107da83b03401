"""The platform database: the schema (SQLAlchemy Core) and the engine for a URL.

SQLite (a file under `var/`, WAL mode) by default, PostgreSQL when `DATABASE_URL` says so. The
same tables serve both; emails are stored lower-cased so that uniqueness ignores case.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

ROLES = ("superadmin", "power_user", "user")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("is_active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.CheckConstraint(f"role IN {ROLES!r}", name="users_role_known"),
    # The last write, for a revert's "changed since" (tasks/data/journal.py): when, and by
    # which job (NULL: by a person, or before jobs wrote users); and the last sign-in.
    sa.Column("updated_at", sa.Float, nullable=True),
    sa.Column("updated_by", sa.String(40), nullable=True),
    sa.Column("signed_in_at", sa.Float, nullable=True),
)

courses = sa.Table(
    "courses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(50), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
)

enrollments = sa.Table(
    "enrollments",
    metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("course_id", sa.ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("enrolled_at", sa.Float, nullable=False),
    sa.Column("job_id", sa.String(40), nullable=True),  # the job that added it, if one did
    sa.Index("enrollments_by_job", "job_id"),
)

# A massive action's input (an uploaded CSV), kept in chunks so that a worker on another
# machine can stream it, and removed when its job expires.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# How far a job's writes have been committed: updated in the same transaction as each batch,
# so that a redelivered job resumes exactly after its last committed item. `state` is JSON:
# `{"run": token}`, the run that may commit the job's batches (tasks/uploads.py).
checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False, default="{}"),
    # JSON: what the batches so far counted (a check's or a revert's outcome) and where the
    # next batch begins, when that is not simply `position` rows on (tasks/uploads.py).
    sa.Column("tally", sa.Text, nullable=True),
)


# What each import or enrollment batch did to each line of its upload, written in the batch's
# transaction (tasks/data/journal.py): one row per batch and `action` (created, updated with
# the user's name and role before, failed, or todo: lines a retry is to do again), keyed by
# the first line it holds; `entries` is the JSON list of its `size` lines.
journal = sa.Table(
    "journal",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("line", sa.Integer, primary_key=True),
    sa.Column("action", sa.String(10), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("entries", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def connect(url: str) -> Engine:
    """An engine for `url`; psycopg 3 for PostgreSQL, WAL and foreign keys for SQLite."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 10})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create what is missing: tables, and the columns and indexes added to tables that a
    database made by an earlier version already has (each added column is nullable)."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(conn.dialect)
                    conn.exec_driver_sql(
                        f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"
                    )
            for index in table.indexes:
                index.create(conn, checkfirst=True)
