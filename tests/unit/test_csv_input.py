"""Reading uploaded CSV files: every bad input gets a sentence a person can act on, and every row
its right line number, however the bytes are cut into chunks."""

from __future__ import annotations

import pytest

from tasks.csv_input import (
    ENROLLMENT_COLUMNS,
    MAX_BYTES,
    MAX_FIELD,
    MAX_ROWS,
    NOT_CSV,
    InvalidUpload,
    UploadSummary,
    inspect_upload,
    read_rows,
    shorten,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
GOOD = "email,name,role,courses\nann@example.org,Ann,user,CS101\nbob@example.org,Bob,,\n"


def by_bytes(data: bytes) -> list[bytes]:
    """The worst chunking there is: one byte at a time."""
    return [data[i : i + 1] for i in range(len(data))]


def refusal(data: bytes | list[bytes], **kwargs: object) -> str:
    chunks = [data] if isinstance(data, bytes) else data
    with pytest.raises(InvalidUpload) as caught:
        inspect_upload(chunks, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# -- good files ------------------------------------------------------------------------------


def test_inspect_counts_data_rows_and_names_columns() -> None:
    assert inspect_upload([GOOD.encode()]) == UploadSummary(
        rows=2, columns=["email", "name", "role", "courses"]
    )


def test_rows_are_keyed_by_lowercased_stripped_header_with_line_numbers() -> None:
    data = b" Email , NAME \nann@example.org,Ann\nbob@example.org,Bob\n"
    assert list(read_rows([data])) == [
        (2, {"email": "ann@example.org", "name": "Ann"}),
        (3, {"email": "bob@example.org", "name": "Bob"}),
    ]


def test_bom_is_not_part_of_the_first_column_name() -> None:
    data = "\ufeffemail,name\nann@example.org,Ann\n".encode()
    assert inspect_upload([data]).columns == ["email", "name"]
    assert list(read_rows(by_bytes(data))) == [(2, {"email": "ann@example.org", "name": "Ann"})]


def test_crlf_line_endings_leave_no_carriage_return_in_values() -> None:
    data = b"email,name\r\nann@example.org,Ann\r\n\r\nbob@example.org,Bob\r\n"
    assert list(read_rows([data])) == [
        (2, {"email": "ann@example.org", "name": "Ann"}),
        (4, {"email": "bob@example.org", "name": "Bob"}),
    ]


def test_quoted_newline_keeps_the_row_whole_and_counts_physical_lines() -> None:
    data = b'email,name\nann@example.org,"Ann\nLee"\n"bob@example.org","Bob, Jr."\n'
    assert list(read_rows([data])) == [
        (2, {"email": "ann@example.org", "name": "Ann\nLee"}),
        (4, {"email": "bob@example.org", "name": "Bob, Jr."}),
    ]


def test_blank_lines_are_skipped_and_not_counted_as_rows() -> None:
    data = b"\nemail,name\n\nann@example.org,Ann\n   \n,\n\nbob@example.org,Bob"
    rows = list(read_rows([data]))
    assert [(line, row["email"]) for line, row in rows] == [
        (4, "ann@example.org"),
        (8, "bob@example.org"),
    ]
    assert inspect_upload([data], allowed=("email", "name")).rows == 2


def test_short_rows_get_empty_values_and_blank_extra_fields_are_dropped() -> None:
    data = b"email,name,role\nann@example.org\nbob@example.org,Bob,user,,\n"
    assert list(read_rows([data])) == [
        (2, {"email": "ann@example.org", "name": "", "role": ""}),
        (3, {"email": "bob@example.org", "name": "Bob", "role": "user"}),
    ]


def test_any_chunking_reads_the_same_rows() -> None:
    data = 'email,name\r\nzoë@example.org,"Zoë\r\nMüller"\r\nłukasz@example.org,Łukasz\r\n'.encode()
    whole = list(read_rows([data]))
    assert whole[1] == (4, {"email": "łukasz@example.org", "name": "Łukasz"})
    assert list(read_rows(by_bytes(data))) == whole
    assert list(read_rows([data[:7], b"", data[7:20], data[20:]])) == whole


def test_enrollment_pairs_need_both_columns() -> None:
    data = b"email,course\nann@example.org,CS101\n"
    kwargs = {"required": ENROLLMENT_COLUMNS, "allowed": ENROLLMENT_COLUMNS}
    assert inspect_upload([data], **kwargs).rows == 1  # type: ignore[arg-type]
    assert "'course'" in refusal(b"email\nann@example.org\n", **kwargs)


# -- not a CSV file --------------------------------------------------------------------------


def test_png_renamed_csv_is_not_a_csv_file() -> None:
    assert refusal(PNG) == NOT_CSV
    assert refusal(by_bytes(PNG)) == NOT_CSV


def test_nul_bytes_near_the_start_mean_a_binary_file() -> None:
    assert refusal(b"PK\x03\x04\x14\x00\x06\x00email,name\n") == NOT_CSV


def test_empty_file_is_refused() -> None:
    assert refusal(b"") == "the file is empty"
    assert refusal([]) == "the file is empty"
    assert refusal("\ufeff".encode()) == "the file is empty"
    assert refusal(b"\r\n\n  \n") == "the file is empty"


def test_header_without_rows_is_refused() -> None:
    assert refusal(b"email,name\n\n") == "the file has a header but no rows"


# -- bad text --------------------------------------------------------------------------------


def test_invalid_utf8_later_in_the_file_names_its_line() -> None:
    data = b"email,name\nann@example.org,Ann\nbob@example.org,Jos\xe9\ncid@example.org,Cid\n"
    message = refusal(data)
    assert message.startswith("line 3 is not valid UTF-8")
    assert refusal(by_bytes(data)) == message


def test_invalid_utf8_split_across_chunks_names_its_line() -> None:
    data = b"email,name\n\nann@example.org,\xc3\n"  # a two-byte sequence cut short
    assert refusal([data[:-2], data[-2:]]).startswith("line 3 is not valid UTF-8")


def test_truncated_character_at_the_end_of_the_file_names_its_line() -> None:
    assert refusal(b"email,name\nann@example.org,\xe2\x82").startswith("line 2 is not valid")


def test_lone_carriage_returns_are_explained() -> None:
    message = refusal(b"email,name\rann@example.org,Ann\r")
    assert message.startswith("line 1 has a line break inside an unquoted field")


# -- bad header ------------------------------------------------------------------------------


def test_header_without_email_is_refused() -> None:
    assert (
        refusal(b"name,role\nAnn,user\n") == "the header has no 'email' column; it has: name, role"
    )


def test_first_row_of_data_is_not_mistaken_for_a_header() -> None:
    message = refusal(b"ann@example.org,Ann\n")
    assert message.startswith("the header has no 'email' column")


def test_unknown_header_column_is_refused() -> None:
    message = refusal(b"email,name,salary\nann@example.org,Ann,100\n")
    assert (
        message
        == "unknown column 'salary' in the header: the columns are email, name, role, courses"
    )


def test_repeated_or_nameless_header_column_is_refused() -> None:
    assert refusal(b"email,name,Email\n") == "column 'email' appears twice in the header"
    assert refusal(b"email,,name\n") == "column 2 of the header has no name"


def test_header_with_too_many_columns_is_refused() -> None:
    header = ",".join(f"c{i}" for i in range(51)).encode()
    assert refusal(header + b"\n") == "the header has 51 columns; at most 50 are allowed"


# -- bad rows --------------------------------------------------------------------------------


def test_row_with_ten_thousand_columns_names_its_line() -> None:
    wide = ",".join(["x"] * 10_000).encode()
    data = b"email,name,role,courses\nann@example.org,Ann,user,\n" + wide + b"\n"
    assert refusal(data) == "line 3 has 10000 columns; the header has 4"


def test_row_wider_than_the_header_names_its_line() -> None:
    data = b"email,name\nann@example.org,Ann\n\nbob@example.org,Bob,user\n"
    assert refusal(data) == "line 4 has 3 columns; the header has 2"


def test_field_longer_than_the_limit_names_its_line() -> None:
    data = b"email,name\nann@example.org,Ann\nbob@example.org," + b"B" * (MAX_FIELD + 1) + b"\n"
    assert refusal(data).startswith("line 3 has a field longer than 10,000 characters")


def test_quote_never_closed_is_caught_by_the_field_limit() -> None:
    rows = b"".join(b"x%d@example.org,X\n" % i for i in range(2000))
    data = b'email,name\nann@example.org,"Ann\n' + rows
    assert refusal(data).startswith("line 2 has a field longer than 10,000 characters")


def test_endless_line_is_refused_without_reading_it_whole() -> None:
    endless = (b"x" * 65536 for _ in range(100))  # 6.5 MB, no newline
    message = refusal(list(endless))
    assert message.startswith("line 1 is longer than")


def test_more_than_max_rows_is_refused() -> None:
    data = b"email\n" + b"a@example.org\n" * (MAX_ROWS + 1)
    assert refusal(data) == "the file has more than 1,000,000 rows: split it into smaller files"
    assert inspect_upload([b"email\n" + b"a@example.org\n" * MAX_ROWS]).rows == MAX_ROWS


def test_a_million_rows_fit_in_the_upload_limit() -> None:
    row = b"firstname.lastname123456@example-learning.co.uk,Firstname Lastname,,PY-101;SQL-110\n"
    assert len(row) * MAX_ROWS < MAX_BYTES


def test_the_row_limit_is_the_callers() -> None:
    data = b"email\n" + b"a@example.org\n" * 4
    assert refusal(data, max_rows=3) == "the file has more than 3 rows: split it into smaller files"
    assert inspect_upload([data], max_rows=4).rows == 4


def test_read_rows_refuses_what_inspect_refuses() -> None:
    with pytest.raises(InvalidUpload, match="line 3 is not valid UTF-8"):
        list(read_rows([b"email\na@example.org\n\xff\n"]))


def test_shorten_cuts_long_values_for_messages() -> None:
    assert shorten("abc") == "abc"
    assert shorten("x" * 100, 10) == "x" * 9 + "…"
