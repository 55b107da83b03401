"""Reading an uploaded CSV from a multipart request, cut off at the size limit while it streams.

The body is counted as it arrives; past `MAX_BYTES` (plus a little room for the multipart
framing) reading stops and the request is refused with 413, so an oversized upload is never
buffered whole. The file part itself is spooled by Starlette (memory, then a temporary file).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

from tasks.csv_input import MAX_BYTES

FRAMING_ROOM = 64 * 1024
CHUNK = 1024 * 1024


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
    if declared and declared.isdigit() and int(declared) > limit + FRAMING_ROOM:
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
