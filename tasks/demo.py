"""Demo data: a platform to try jobdeck on (`seed_demo`), and realistic users CSV files with
deliberately bad rows to import (`demo_csv`).
"""

from __future__ import annotations

import csv
import io
import random
import secrets
import time
import unicodedata
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tasks.data.courses import add_course, enroll
from tasks.data.db import create_schema, users
from tasks.data.users import add_user, find_user

ACCOUNTS = (
    ("admin@example.com", "Ada Admin", "superadmin"),
    ("power1@example.com", "Priya Power", "power_user"),
    ("power2@example.com", "Pablo Power", "power_user"),
    ("user@example.com", "Uma User", "user"),
)

COURSES = (
    ("ONB-101", "Welcome to the company: onboarding essentials"),
    ("SEC-110", "Information security awareness"),
    ("GDPR-120", "Data protection and GDPR basics"),
    ("HS-130", "Health and safety at work"),
    ("DEI-140", "Diversity, equity and inclusion"),
    ("LEAD-201", "First-time managers"),
    ("LEAD-301", "Leading through change"),
    ("COMM-150", "Writing clear emails and reports"),
    ("COMM-250", "Presenting with confidence"),
    ("PM-210", "Project management fundamentals"),
    ("AGL-220", "Agile and Scrum in practice"),
    ("XL-101", "Spreadsheets from zero to pivot tables"),
    ("DATA-201", "Data literacy for everyone"),
    ("PY-101", "Introduction to programming with Python"),
    ("SQL-110", "Querying data with SQL"),
    ("CX-160", "Customer service excellence"),
    ("SALES-170", "Consultative selling"),
    ("FIN-180", "Finance for non-financial managers"),
    ("ETH-190", "Business ethics and compliance"),
    ("WELL-100", "Wellbeing and stress management"),
)

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Mateo", "Sofía", "Lucas", "Chloé", "Hugo",
    "Zoë", "Jonas", "Aisha", "Omar", "Mei", "Hiroshi", "Priya", "Arjun", "Fatima", "Yusuf",
    "Ingrid", "Lars", "Agnieszka", "Łukasz", "Siobhán", "Seán", "Thandiwe", "Kwame", "Ana",
    "João", "Elena", "Dmitri", "Chiara", "Marco", "Nguyễn", "Linh", "Grace", "Samuel",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "García", "Müller", "Rossi", "Dubois", "Kowalski", "Nowak", "O'Brien", "Silva",
    "Santos", "Nakamura", "Tanaka", "Patel", "Sharma", "Khan", "Haddad", "Okafor", "Mensah",
    "Johansson", "Andersen", "Novák", "Popescu", "Ivanova", "Fernández", "Martin", "Brown",
    "Wilson", "Chen", "Wang", "Kim", "Park", "Tran", "Cohen", "Levi", "Murphy", "Van Dijk",
)  # fmt: skip
DOMAINS = ("northwind.edu", "contoso.com", "fabrikam.org", "acme-learning.co.uk", "globex.net")

BAD_KINDS = (
    "bad_email",
    "missing_name",
    "long_name",
    "unknown_role",
    "duplicate",
    "unknown_course",
)

LEARNERS = 200


def seed_demo(engine: Engine) -> list[tuple[str, str, str]] | None:
    """Create the demo accounts, courses and learners; returns each account's (email, role,
    password), generated now and shown once, or None when the demo data is already there."""
    create_schema(engine)
    rng = random.Random(2026)
    with engine.begin() as conn:
        if find_user(conn, ACCOUNTS[0][0]) is not None:
            return None
        accounts = []
        for email, name, role in ACCOUNTS:
            password = secrets.token_urlsafe(12)
            add_user(conn, email, name, role, password)
            accounts.append((email, role, password))
        course_ids = [add_course(conn, code, title).id for code, title in COURSES]
        now = time.time()
        learners = []
        for n in range(1, LEARNERS + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{_ascii(first)}.{_ascii(last)}{n}@example.com"
            learners.append(
                {
                    "email": email,
                    "name": f"{first} {last}",
                    "role": "user",
                    "password_hash": None,
                    "is_active": True,
                    "created_at": now,
                }
            )
        conn.execute(sa.insert(users), learners)
        emails = [row["email"] for row in learners]
        ids = conn.execute(sa.select(users.c.id).where(users.c.email.in_(emails))).scalars()
        enroll(
            conn,
            [(user_id, course_id) for user_id in ids for course_id in rng.sample(course_ids, 3)],
        )
    return accounts


def _ascii(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def demo_csv(rows: int, bad: int, seed: int = 0) -> Iterator[str]:
    """The lines (newline included) of a users CSV with `rows` data rows, `bad` of them bad in
    one way each, of the kinds in BAD_KINDS, spread through the file; the same for one seed."""
    if not 0 <= bad <= rows:
        raise ValueError(f"bad must be between 0 and rows ({rows}), got {bad}")
    rng = random.Random(seed)
    bad_at = dict(
        zip(
            sorted(rng.sample(range(rows), bad)),
            (BAD_KINDS[i % 6] for i in range(bad)),
            strict=True,
        )
    )
    codes = [code for code, _ in COURSES]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(*fields: str) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(fields)
        return buffer.getvalue()

    yield line("email", "name", "role", "courses")
    last_good_email = None
    for i in range(rows):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{_ascii(first)}.{_ascii(last)}{i + 1}@{rng.choice(DOMAINS)}"
        name = f"{first} {last}"
        if rng.random() < 0.02:
            name = f"{last}, {first}"  # a comma: the field is quoted
        role = rng.choices(("user", "", "power_user"), weights=(88, 10, 2))[0]
        courses = ";".join(rng.sample(codes, rng.choice((0, 0, 1, 1, 2, 3))))
        kind = bad_at.get(i)
        if kind == "duplicate" and last_good_email is None:
            kind = "bad_email"  # nothing earlier to duplicate yet
        if kind == "bad_email":
            email = rng.choice(
                (email.replace("@", "@@"), email.replace("@", " at "), email.split("@")[0])
            )
        elif kind == "missing_name":
            name = ""
        elif kind == "long_name":
            name = (name + " ") * (201 // len(name) + 1)
        elif kind == "unknown_role":
            role = rng.choice(("admin", "teacher", "manager", "owner"))
        elif kind == "duplicate":
            assert last_good_email is not None
            email = last_good_email
        elif kind == "unknown_course":
            courses = ";".join([*courses.split(";")[:1], f"{rng.choice(codes)}-OLD"]).lstrip(";")
        else:
            last_good_email = email
        yield line(email, name, role, courses)
