"""What a person sends, read and checked at the edge: an uploaded CSV from a multipart request,
cut off at the size limit while it streams, and the cursors and limits of paged listings.

The body is counted as it arrives; past `MAX_BYTES` (plus a little room for the multipart
framing) reading stops and the request is refused with 413, so an oversized upload is never
buffered whole. The file part itself is spooled by Starlette (memory, then a temporary file).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

from tasks.csv_input import MAX_BYTES, InvalidUpload
from tasks.jobs.records import TooManyActiveJobs

FRAMING_ROOM = 64 * 1024
CHUNK = 1024 * 1024
MAX_PAGE = 200
# A page of errors' cursor: the position of its first error.
ERROR_CURSOR = r"^[0-9]{1,12}$"
# A page's cursor, as list_jobs makes it: the last job's creation time (a float's repr) and id.
JOB_CURSOR = r"^[0-9]{1,12}(\.[0-9]{1,20})?(e[+-]?[0-9]{1,3})?:[0-9a-f]{16}$"
MAX_SEARCH = 200  # characters of a history search (the page cuts, the API refuses)


class UploadRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyTooLarge(Exception):
    """The request's body went past the limit given to `limited()`; reading stopped there."""


def limited(request: Request, limit: int) -> Request:
    """The same request, whose body raises BodyTooLarge once more than `limit` bytes arrived."""
    received = 0
    receive = request.receive

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise BodyTooLarge()
        return message

    return Request(request.scope, counted)


@dataclass
class Upload:
    filename: str
    fields: dict[str, str]
    file: BinaryIO

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self.file.close()


def clean_filename(raw: str | None) -> str:
    name = (raw or "upload.csv").replace("\\", "/").rsplit("/", 1)[-1]
    # Control and format characters, and line or paragraph separators, go: a name is one line.
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C"
                   and unicodedata.category(c) not in ("Zl", "Zp")).strip()  # fmt: skip
    return (name or "upload.csv")[:200]


async def read_upload(request: Request, limit: int = MAX_BYTES) -> Upload:
    """The `file` part and the small fields of a multipart request, or UploadRefused."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadRefused(415, "Send the file as multipart/form-data in a field named 'file'.")
    declared = request.headers.get("content-length")
    size = whole_number(declared or "", 20)
    if size is not None and size > limit + FRAMING_ROOM:
        raise UploadRefused(413, f"The file is larger than {limit // (1024 * 1024)} MB.")
    capped = limited(request, limit + FRAMING_ROOM)
    try:
        form = await capped.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except BodyTooLarge:
        raise UploadRefused(413, f"The file is larger than {limit // (1024 * 1024)} MB.") from None
    except (MultiPartException, MultipartParseError) as exc:
        raise UploadRefused(400, f"The upload could not be read: {exc}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise UploadRefused(400, "Choose a CSV file to upload (field 'file').")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    size = upload.size or 0
    if size > limit:
        upload.file.close()
        raise UploadRefused(413, f"The file is larger than {limit // (1024 * 1024)} MB.")
    return Upload(clean_filename(upload.filename), fields, upload.file)


@asynccontextmanager
async def received_upload(request: Request) -> AsyncIterator[Upload]:
    """The request's upload (`read_upload`), closed (its spooled file removed) afterwards."""
    upload = await read_upload(request)
    try:
        yield upload
    finally:
        upload.close()


def refusal(exc: UploadRefused | InvalidUpload | TooManyActiveJobs) -> tuple[int, str]:
    """The status and message that answer a refused request, an invalid file (422), or a
    launch past the owner's limit of jobs under way (429)."""
    if isinstance(exc, UploadRefused):
        return exc.status, exc.message
    if isinstance(exc, TooManyActiveJobs):
        return 429, (
            f"You already have {exc.limit:,} jobs queued or running, the most one person may "
            "have at once: wait until one ends (or abort one), then launch this again."
        )
    return 422, str(exc)


def parse_cursor(raw: str | None) -> str | None:
    """The cursor of a page of jobs, or None for the first; HTTP 400 for anything else (a
    made-up one, such as 'nan:…', would otherwise reach Redis as a score)."""
    if not raw:
        return None
    if not re.fullmatch(JOB_CURSOR, raw):
        raise HTTPException(400, "cursor is malformed: pass back the one a page gave you")
    return raw


def whole_number(raw: str, most_digits: int) -> int | None:
    """The value of `raw` if it is 1 to `most_digits` ASCII digits, else None. (`str.isdigit()`
    alone also takes '²' and other digits that `int()` refuses.)"""
    if 0 < len(raw) <= most_digits and raw.isascii() and raw.isdigit():
        return int(raw)
    return None


def parse_limit(raw: str | None, default: int = 50) -> int:
    if raw is None:
        return default
    limit = whole_number(raw, 3)
    if limit is None or not 1 <= limit <= MAX_PAGE:
        raise HTTPException(400, f"limit must be a whole number from 1 to {MAX_PAGE}")
    return limit


def parse_error_cursor(raw: str | None) -> int:
    """The position a page of errors starts at: 0 for the first page; HTTP 400 for anything but
    the cursor a page gave."""
    if not raw:
        return 0
    if not re.fullmatch(ERROR_CURSOR, raw):
        raise HTTPException(400, "cursor is malformed: pass back the one a page gave you")
    return int(raw)
