"""Uploaded CSV files, read as a stream of byte chunks: decoding, limits, and the header.

`inspect_upload` validates a whole upload before a job is made from it, and raises
`InvalidUpload` with a sentence a person can act on; `read_rows` reads an upload that passed,
row by row, with the line number each row starts on (the header is line 1).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

MAX_ROWS = 1_000_000  # the default of IMPORT_MAX_ROWS
# Sized to fit MAX_ROWS rows of about 100 bytes (a row with a name and two courses is 60-80).
MAX_BYTES = 100 * 1024 * 1024
MAX_COLUMNS = 50
MAX_FIELD = 10_000
# The longest physical line a valid row can have: every field full, quoted, and separated.
MAX_LINE = MAX_COLUMNS * (MAX_FIELD + 3)
# How much of the start of a file is searched for NUL bytes, the mark of a binary file.
_SNIFF_BYTES = 8192

USER_COLUMNS = ("email", "name", "role", "courses")
ENROLLMENT_COLUMNS = ("email", "course")

NOT_CSV = "this is not a CSV file: save it as CSV (UTF-8) and upload it again"


class InvalidUpload(ValueError):
    """The upload cannot be used; the message says why, in words for the person who sent it."""


@dataclass(frozen=True)
class UploadSummary:
    rows: int
    columns: list[str]


def shorten(value: str, limit: int = 60) -> str:
    """`value` cut to `limit` characters, for quoting a person's input back in a message."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _sniffed(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The same bytes, once the first _SNIFF_BYTES of them are known to hold no NUL: a binary
    file is refused as such however the network cut it, before any line of it is read."""
    chunks = iter(chunks)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _SNIFF_BYTES:
            break
    if b"\x00" in head[:_SNIFF_BYTES]:
        raise InvalidUpload(NOT_CSV)
    if head:
        yield head
    yield from chunks


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The text's physical lines (ending in their newline), decoded as UTF-8 chunk by chunk."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    newlines_before = 0  # physical lines completed in the bytes fed so far
    pending = ""
    for chunk in _sniffed(chunks):
        if not chunk:
            continue
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise _not_utf8(newlines_before, exc) from None
        newlines_before += chunk.count(b"\n")
        if "\n" not in text:
            pending += text
        else:
            parts = (pending + text).split("\n")
            pending = parts.pop()
            for part in parts:
                yield part + "\n"
        if len(pending) > MAX_LINE:
            raise InvalidUpload(
                f"line {newlines_before + 1} is longer than {MAX_LINE:,} characters: "
                "is this really a CSV file?"
            )
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise _not_utf8(newlines_before, exc) from None
    if pending:
        yield pending


def _not_utf8(newlines_before: int, exc: UnicodeDecodeError) -> InvalidUpload:
    line = newlines_before + exc.object[: exc.start].count(b"\n") + 1
    if line == 1:
        return InvalidUpload(NOT_CSV)
    return InvalidUpload(
        f"line {line} is not valid UTF-8: save the file as CSV (UTF-8) and upload it again"
    )


def _records(chunks: Iterable[bytes]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on; enforces the field length limit."""
    reader = csv.reader(_lines(chunks))
    line = 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1
            if not row or (not row[0].strip() and not any(field.strip() for field in row)):
                continue
            if max(map(len, row)) > MAX_FIELD:
                raise _field_too_long(start)
            yield start, row
    except csv.Error as exc:
        raise _csv_error(line, reader.line_num, exc) from None


def _csv_error(start: int, line: int, exc: csv.Error) -> InvalidUpload:
    if "field limit" in str(exc):
        return _field_too_long(start)
    if "new-line character" in str(exc):
        return InvalidUpload(
            f"line {line} has a line break inside an unquoted field: save the file with "
            "Windows (CRLF) or Unix (LF) line endings"
        )
    return InvalidUpload(f"line {line} is not valid CSV: {exc}")


def _field_too_long(line: int) -> InvalidUpload:
    return InvalidUpload(
        f"line {line} has a field longer than {MAX_FIELD:,} characters "
        "(a quote that is never closed can cause this)"
    )


def _open(chunks: Iterable[bytes]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header (names lower-cased and stripped) and an iterator over the records after it."""
    records = _records(chunks)
    first = next(records, None)
    if first is None:
        raise InvalidUpload("the file is empty")
    _, header = first
    header = [name.strip().lower() for name in header]
    if len(header) > MAX_COLUMNS:
        raise InvalidUpload(
            f"the header has {len(header)} columns; at most {MAX_COLUMNS} are allowed"
        )
    for position, name in enumerate(header, start=1):
        if not name:
            raise InvalidUpload(f"column {position} of the header has no name")
        if header.index(name) != position - 1:
            raise InvalidUpload(f"column {name[:60]!r} appears twice in the header")
    return header, records


def _rows(
    header: list[str], records: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, dict[str, str]]]:
    width = len(header)
    for line, row in records:
        if len(row) < width:
            row += [""] * (width - len(row))
        elif len(row) > width and (
            len(row) > MAX_COLUMNS or any(field.strip() for field in row[width:])
        ):
            raise InvalidUpload(f"line {line} has {len(row)} columns; the header has {width}")
        yield line, dict(zip(header, row))  # noqa: B905 (extra fields, all blank, are dropped)


def read_rows(chunks: Iterable[bytes]) -> Iterator[tuple[int, dict[str, str]]]:
    """Each data row as (line it starts on, {header name: value}); blank lines are skipped.

    Rows shorter than the header get "" for the missing columns. Raises InvalidUpload on input
    that `inspect_upload` would have refused.
    """
    header, records = _open(chunks)
    return _rows(header, records)


def inspect_upload(
    chunks: Iterable[bytes],
    required: Sequence[str] = ("email",),
    allowed: Sequence[str] = USER_COLUMNS,
    max_rows: int = MAX_ROWS,
) -> UploadSummary:
    """Read the whole upload once: its columns and how many data rows it has.

    Raises InvalidUpload for an empty or binary file, text that is not UTF-8, a header without
    a required column or with an unknown one, a row wider than the header or than
    MAX_COLUMNS, a field longer than MAX_FIELD characters, more than `max_rows` rows, or no rows.
    """
    header, records = _open(chunks)
    for name in required:
        if name not in header:
            raise InvalidUpload(
                f"the header has no {name!r} column; it has: {', '.join(header)[:200]}"
            )
    for name in header:
        if name not in allowed:
            raise InvalidUpload(
                f"unknown column {name[:60]!r} in the header: the columns are {', '.join(allowed)}"
            )
    rows = 0
    for _ in _rows(header, records):
        rows += 1
        if rows > max_rows:
            raise InvalidUpload(
                f"the file has more than {max_rows:,} rows: split it into smaller files"
            )
    if rows == 0:
        raise InvalidUpload("the file has a header but no rows")
    return UploadSummary(rows=rows, columns=header)
