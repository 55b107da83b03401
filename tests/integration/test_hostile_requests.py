"""Hostile requests at the HTTP edge: bodies over the limit are cut off while they stream (never
buffered whole), and made-up cursors get a 400, not a 500.

The streaming tests call the ASGI app directly with a request body that never ends (a generator
that counts what the app has read), so the count when the refusal comes is what was read.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from server.inputs import FRAMING_ROOM
from server.pages.signin import MAX_SIGN_IN_BODY
from tasks.csv_input import MAX_BYTES
from tests.support.jobs import new_job

CHUNK = 64 * 1024
MB = 1024 * 1024


@pytest.fixture
def cookie(signed_in) -> str:  # type: ignore[no-untyped-def]
    return signed_in("power_user", "pat@example.com")[1]["cookie"]


def send_endless(app, path: str, headers: dict[str, str], head: bytes, filler: bytes,
                 most: int) -> tuple[int, int]:  # fmt: skip
    """POST `head` then `filler` over and over (up to `most` bytes) to the app; the status it
    answered and how many body bytes it had read when it answered."""
    read = calls = 0
    status = 0
    answered = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal read, calls
        if answered.is_set() or read >= most:
            return {"type": "http.disconnect"}
        body = head if calls == 0 else filler
        read, calls = read + len(body), calls + 1
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start" and not answered.is_set():
            status = message["status"]
            answered.set()
            send.read_then = read  # type: ignore[attr-defined]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in
                    {"host": "testserver", "origin": "http://testserver", **headers}.items()],
    }  # fmt: skip
    # In a thread of its own: after a browser test in the same session, Playwright's sync API
    # keeps an event loop running in this thread, and asyncio.run() refuses to start beside it.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, app(scope, receive, send)).result()
    return status, send.read_then  # type: ignore[attr-defined]


def multipart(name: str = "file") -> tuple[dict[str, str], bytes]:
    boundary = "jobdeckboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
        'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\nemail,name\r\n'
    ).encode()
    return {"content-type": f"multipart/form-data; boundary={boundary}"}, head


@pytest.mark.parametrize("path", ["/api/imports/users", "/admin/imports/users",
                                  "/api/enrollments", "/admin/enrollments"])  # fmt: skip
def test_an_endless_upload_is_cut_off_at_the_limit(app, cookie, path) -> None:  # type: ignore[no-untyped-def]
    headers, head = multipart()
    line = b"someone@example.com,Someone\r\n"
    filler = line * (CHUNK // len(line))
    status, read = send_endless(
        app, path, {**headers, "cookie": cookie}, head, filler, 4 * MAX_BYTES
    )
    print(f"{path}: 413 after reading {read / MB:.2f} MB of an endless body")
    assert status == 413
    assert MAX_BYTES < read <= MAX_BYTES + FRAMING_ROOM + 2 * CHUNK, f"read {read / MB:.1f} MB"


def test_a_declared_oversize_is_refused_before_reading(app, cookie) -> None:  # type: ignore[no-untyped-def]
    headers, head = multipart()
    headers = {**headers, "cookie": cookie, "content-length": str(MAX_BYTES + FRAMING_ROOM + 1)}
    status, read = send_endless(
        app, "/api/imports/users", headers, head, b"x" * CHUNK, 4 * MAX_BYTES
    )
    assert status == 413
    assert read == 0


def test_an_endless_json_enrollment_is_cut_off_at_five_megabytes(app, cookie) -> None:  # type: ignore[no-untyped-def]
    headers = {"content-type": "application/json", "cookie": cookie}
    status, read = send_endless(app, "/api/enrollments", headers, b'{"emails": ["', b"a" * CHUNK,
                                50 * MB)  # fmt: skip
    print(f"JSON enrollment: 413 after reading {read / MB:.2f} MB of an endless body")
    assert status == 413
    assert read <= 5 * MB + 2 * CHUNK


@pytest.mark.parametrize(
    ("head", "filler"),
    [(b"email=", b"a" * CHUNK), (b"", b"e=&" * (CHUNK // 3)), (b"", b"&" * CHUNK)],
    ids=["one-endless-field", "endless-fields", "endless-separators"],
)
def test_an_endless_sign_in_form_is_cut_off_early(app, head, filler) -> None:  # type: ignore[no-untyped-def]
    headers = {"content-type": "application/x-www-form-urlencoded"}
    status, read = send_endless(app, "/login", headers, head, filler, 50 * MB)
    print(f"sign-in: 413 after reading {read / 1024:.0f} KiB of an endless body")
    assert status == 413
    assert read <= MAX_SIGN_IN_BODY + CHUNK  # nobody signed in yet: nothing big is even read


# -- made-up cursors ----------------------------------------------------------------------------


MADE_UP = ["nan:0123456789abcdef", "inf:0123456789abcdef", "abc", "1:2:3", "-1:0123456789abcdef",
           "1e999999:0123456789abcdef"]  # fmt: skip


def test_a_made_up_cursor_is_a_400(client, signed_in) -> None:  # type: ignore[no-untyped-def]
    _sue, headers = signed_in("superadmin", "sue@example.com")
    for path in ("/api/jobs", "/admin/background-jobs"):
        for cursor in MADE_UP:
            response = client.get(path, params={"cursor": cursor}, headers=headers)
            assert response.status_code == 400, (path, cursor)
            assert "cursor" in response.text


# -- digits that are not ASCII ------------------------------------------------------------------

# str.isdigit() takes '²' (and '٣', '߀'...), int() refuses them: each of these answered a 500.
SUPERSCRIPT = [
    ("/api/jobs", {"limit": "²"}),
    ("/api/jobs/{id}/errors", {"limit": "²"}),
    ("/api/jobs/{id}/errors", {"cursor": "²"}),
    ("/admin/background-jobs/{id}", {"cursor": "²"}),
    ("/admin/background-jobs/{id}/errors", {"cursor": "²"}),
    ("/admin/background-jobs/{id}/errors-dialog", {"cursor": "²"}),
    ("/admin/background-jobs/{id}/errors", {"cursor": "٣"}),
]


@pytest.mark.parametrize(("path", "params"), SUPERSCRIPT)
def test_a_superscript_digit_in_a_number_is_a_400(client, signed_in, store, path, params) -> None:  # type: ignore[no-untyped-def]
    sue, headers = signed_in("superadmin", "sue@example.com")
    job = new_job(store, sue)
    response = client.get(path.format(id=job.id), params=params, headers=headers)
    assert response.status_code == 400, response.text
    name = next(iter(params))
    assert name in response.text
    if path.startswith("/admin/"):  # a page a person reads, not a traceback
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text


def test_a_superscript_lifetime_for_a_screen_link_is_a_400(client, signed_in) -> None:  # type: ignore[no-untyped-def]
    _sue, headers = signed_in("superadmin", "sue@example.com")
    form = {"name": "Hall screen", "nonce": "n" * 22, "lifetime_days": "³"}
    response = client.post("/admin/screens", data=form, headers=headers)
    assert response.status_code == 400, response.text
    assert "Choose how long the link lasts." in response.text


def test_a_superscript_content_length_is_not_believed(app, cookie) -> None:  # type: ignore[no-untyped-def]
    """Latin-1 byte 0xB2 in Content-Length reads as '²': the declared size is ignored (the body
    is still counted as it streams) rather than failing the request."""
    headers = {"content-type": "multipart/form-data; boundary=x", "cookie": cookie,
               "content-length": "\xb2"}  # fmt: skip
    head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
    status, _read = send_endless(
        app, "/api/imports/users", headers, head, b"a" * CHUNK, MAX_BYTES + 10 * MB
    )
    assert status == 413


# -- an enrollment bomb ---------------------------------------------------------------------------


def peak_rss() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]


def reset_peak_rss() -> int:
    """Start this process's RSS high-water mark afresh (Linux: "5" to clear_refs); the RSS now."""
    Path("/proc/self/clear_refs").write_text("5")
    return peak_rss()


def course_codes(count: int) -> list[str]:
    """`count` distinct codes of at most 4 characters, so that 700,000 of them fit in 5 MB."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return [digits[n // 36**3 % 36] + digits[n // 36**2 % 36] + digits[n // 36 % 36]
            + digits[n % 36] for n in range(count)]  # fmt: skip


REFUSAL = (
    "3 emails × 700,000 courses make 2,100,000 enrollments; at most 1,000,000 can be sent at once: "
    "split the lists."
)


def test_an_enrollment_bomb_is_refused_before_any_pair_is_written(client, signed_in) -> None:  # type: ignore[no-untyped-def]
    """3 emails × 700,000 courses (a 4.9 MB body, under the 5 MB cap) would be 2,100,000 rows:
    refused at once, from the counts, without building the pairs text (about 40 MB here; the
    attack measured 195 MB of text in the web process before the fix)."""
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    lists = {"emails": emails, "courses": course_codes(700_000)}
    body = json.dumps(lists, separators=(",", ":")).encode()
    assert 4.5 * MB < len(body) < 5 * MB
    _sue, headers = signed_in("superadmin", "sue@example.com")
    headers["content-type"] = "application/json"
    # Once for the process's peak RSS (the parser's own memory included), once under
    # tracemalloc for the peak of Python allocations (tracemalloc's records would swell the RSS).
    rss_before = reset_peak_rss()
    started = time.perf_counter()
    response = client.post("/api/enrollments", content=body, headers=headers)
    took = time.perf_counter() - started
    rss_rise = peak_rss() - rss_before
    tracemalloc.start()
    try:
        again = client.post("/api/enrollments", content=body, headers=headers)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"enrollment bomb: {response.status_code} in {took:.2f} s, peak RSS +{rss_rise / MB:.0f}"
          f" MiB, Python allocations peak {peak / MB:.0f} MiB")  # fmt: skip
    for answer in (response, again):
        assert answer.status_code == 413, answer.text
        assert answer.json() == {"error": REFUSAL}
    # Most of it is the parsed lists (700,000 small strings, as sent and de-duplicated); the
    # pairs text alone would be over 40 MiB more.
    assert peak < 120 * MB
    assert rss_rise < 150 * MB
    assert took < 10  # seconds, on a loaded machine: a bound, not a timing
    assert client.get("/api/jobs", headers=headers).json()["jobs"] == []


def test_enrollments_making_too_large_a_file_are_refused_too(client, signed_in) -> None:  # type: ignore[no-untyped-def]
    """Under the row limit, but the pairs CSV would be over the upload's 100 MB: 413 too."""
    emails = [f"{n:03}{'x' * 230}@example.com" for n in range(500)]
    body = {"emails": emails, "courses": [f"c{n}" for n in range(1000)]}
    _sue, headers = signed_in("superadmin", "sue@example.com")
    response = client.post("/api/enrollments", json=body, headers=headers)
    assert response.status_code == 413, response.text
    assert "make a file of 120 MB; at most 100 MB can be sent at once" in response.json()["error"]
