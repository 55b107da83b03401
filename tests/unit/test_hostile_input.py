"""Property tests (hypothesis) of everything that reads a person's input: whatever comes, the
answer is the input's value or the module's own validation error with a message, never another
exception; and what gets through is safe where it goes (a header, a path, a spreadsheet)."""

from __future__ import annotations

import csv
import io
import json
import time
from email.headerregistry import Address
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from server.api.jobs import spreadsheet_safe
from server.api.launches import enrollment_lists
from server.auth.sessions import is_local_path
from server.inputs import UploadRefused, clean_filename
from tasks.csv_input import (
    ENROLLMENT_COLUMNS,
    USER_COLUMNS,
    InvalidUpload,
    UploadSummary,
    inspect_upload,
    read_rows,
)
from tasks.data.users import InvalidUser, check_email, check_name, check_role
from tasks.jobs.model import Job, Person, Status
from tasks.mail import build_job_mail

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at these offsets (any chunking the network might give)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def outcome(chunks: list[bytes], **kwargs: object) -> UploadSummary | str:
    try:
        return inspect_upload(chunks, **kwargs)  # type: ignore[arg-type]
    except InvalidUpload as refused:
        message = str(refused)
        assert message and len(message) < 500, message
        return message


# -- the CSV reader ------------------------------------------------------------------------

# Bytes that look like CSV often enough to get past the header: a real header, then noise.
csv_like = st.builds(
    lambda header, body: header + body,
    st.sampled_from([b"", b"email,name\n", b"email,name,role,courses\r\n", b"\xef\xbb\xbfemail\n"]),
    st.binary(max_size=400)
    | st.text(alphabet=st.sampled_from(list('a@b.c,"\n\r ;\x00é\u2028')), max_size=300).map(
        str.encode
    ),
)


@FAST
@given(data=csv_like, cuts=st.lists(st.integers(min_value=0), max_size=8))
@example(data=b"email\n\xff\n", cuts=[7])
@example(data=b"\x01\n" + b"\x00" * 9, cuts=[2])  # NUL in the second chunk: still binary
@example(data=b'email\n"unclosed\n' + b"x" * 50, cuts=[3])
def test_reader_gives_a_summary_or_its_own_error_however_the_bytes_are_cut(
    data: bytes, cuts: list[int]
) -> None:
    whole = outcome([data])
    assert outcome(split(data, cuts)) == whole


@FAST
@given(data=csv_like, cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_rows_of_an_accepted_upload_read_back_as_counted(data: bytes, cuts: list[int]) -> None:
    summary = outcome([data], allowed=("email", "name", "role", "courses"))
    if not isinstance(summary, UploadSummary):
        return
    rows = list(read_rows(split(data, cuts)))
    assert len(rows) == summary.rows
    lines = [line for line, _ in rows]
    assert lines == sorted(lines) and len(set(lines)) == len(lines) and lines[0] >= 2
    assert all(list(row) == summary.columns for _, row in rows)


# NUL marks a binary file (refused in words, tested above), so no cell holds one here.
cell = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


@FAST
@given(
    rows=st.lists(st.tuples(cell, cell), min_size=1, max_size=20),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
)
def test_any_rows_written_as_csv_read_back_unchanged(
    rows: list[tuple[str, str]], cuts: list[int]
) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(ENROLLMENT_COLUMNS)
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    kept = [r for r in rows if r[0].strip() or any(f.strip() for f in r)]
    got = outcome(split(data, cuts), required=ENROLLMENT_COLUMNS, allowed=ENROLLMENT_COLUMNS)
    if not kept:
        assert got == "the file has a header but no rows"
        return
    assert got == UploadSummary(rows=len(kept), columns=list(ENROLLMENT_COLUMNS))
    read = [(row["email"], row["course"]) for _, row in read_rows(split(data, cuts))]
    assert read == kept


# -- the validators ------------------------------------------------------------------------


@FAST
@given(st.text(max_size=300))
@example("eve@evil.example>, victim@example.org")
@example("a\x00b@example.org")
@example("a@example.org\r\nBcc: x@evil.example")
def test_an_accepted_email_is_one_plain_address(raw: str) -> None:
    try:
        email = check_email(raw)
    except InvalidUser as refused:
        assert str(refused)
        return
    assert not any(ord(c) < 32 or ord(c) == 127 for c in email)
    assert Address(addr_spec=email).addr_spec == email


@FAST
@given(st.text(max_size=300))
@example("Eve\x1b[2J")
@example("Bob\x00")
def test_an_accepted_name_has_no_control_characters(raw: str) -> None:
    try:
        name = check_name(raw)
    except InvalidUser as refused:
        assert str(refused)
        return
    assert name and name == name.strip() and len(name) <= 200
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name)


@FAST
@given(st.text(max_size=50))
def test_a_role_is_one_of_the_three_or_refused(raw: str) -> None:
    try:
        assert check_role(raw) in ("user", "power_user", "superadmin")
    except InvalidUser as refused:
        assert str(refused)


@FAST
@given(st.text(max_size=400) | st.none())
@example("..\\..\\etc\\passwd")
@example("a\nb\r\u2028c.csv")
def test_a_cleaned_file_name_is_one_plain_name(raw: str | None) -> None:
    name = clean_filename(raw)
    assert 0 < len(name) <= 200
    assert "/" not in name and "\\" not in name
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in name)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@FAST
@given(
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries({"emails": json_values, "courses": json_values}).map(
        lambda v: json.dumps(v).encode()
    )
)
@example(b"[" * 100_000)
@example(b'{"emails": ' + b"[" * 50_000 + b"]" * 50_000 + b', "courses": ["a"]}')
def test_enrollment_json_is_two_lists_or_a_400(body: bytes) -> None:
    try:
        lists = enrollment_lists(body)
    except UploadRefused as refused:
        assert refused.status == 400 and refused.message
        return
    assert lists.mode == "run"
    for values in (lists.emails, lists.courses):
        assert values and all(isinstance(v, str) and 0 < len(v) <= 254 for v in values)


@FAST
@given(st.text(max_size=100))
@example("//evil.example")
@example("/\\evil.example")
@example("/\t/evil.example")
@example("https:evil.example")
def test_a_local_path_never_leads_to_another_site(target: str) -> None:
    if is_local_path(target):
        assert urlsplit(urljoin("http://jobs.example.org/admin", target)).netloc == (
            "jobs.example.org"
        )


@FAST
@given(st.text(max_size=50))
def test_a_spreadsheet_cell_never_starts_a_formula(value: str) -> None:
    assert spreadsheet_safe(value)[:1] not in ("=", "+", "-", "@", "\t", "\r")


@FAST
@given(st.text(alphabet=st.sampled_from("x =+-@;,|\t\r\n'"), max_size=30))
@example("x;=cmd|' /c calc'!a0;y")
@example("x\t=cmd|' /c calc'!a0")
@example("x, @SUM(A1)")
def test_no_piece_of_a_spreadsheet_cell_starts_a_formula_whatever_the_separator(
    value: str,
) -> None:
    safe = spreadsheet_safe(value)
    for separator in ",;\t\r\n|":
        for piece in safe.split(separator):
            assert piece.lstrip(" ")[:1] not in ("=", "+", "-", "@"), (separator, safe)


# -- the end-of-job email -------------------------------------------------------------------


@FAST
@given(
    description=st.text(max_size=200),
    name=st.text(max_size=100),
    reason=st.text(max_size=200),
)
@example(description="x\r\nBcc: eve@evil.example", name="Bob", reason="")
@example(description="x", name="Eve <eve@evil.example>, Bob", reason="")
@example(description="x", name='"Eve" <eve@evil.example>,', reason="y\r\n\r\n<b>")
def test_the_mail_goes_to_its_one_recipient_whatever_the_names(
    description: str, name: str, reason: str
) -> None:
    job = Job(id="0123456789abcdef", kind="import_users", description=description,
              owner=Person(1, name), created_at=time.time(), status=Status.FAILED,
              message=reason, finished_at=time.time())  # fmt: skip
    message = build_job_mail(job, "bob@example.org", name, "https://x.example", "j <j@x.example>")
    recipients = message["To"].addresses
    assert [a.addr_spec for a in recipients] == ["bob@example.org"]
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    head = bytes(message).split(b"\n\n", 1)[0]  # serialises without raising
    assert b"\nBcc:" not in head


@pytest.mark.parametrize(
    "columns", [USER_COLUMNS, ENROLLMENT_COLUMNS], ids=["users", "enrollments"]
)
def test_a_header_only_file_is_refused_in_words(columns: tuple[str, ...]) -> None:
    assert outcome([",".join(columns).encode() + b"\n"], allowed=columns) == (
        "the file has a header but no rows"
    )
