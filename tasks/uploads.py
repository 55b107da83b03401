"""A job's input kept in the database, where a worker on any machine can read it, and how far
the job has committed its work (its checkpoint).

Uploads are stored in 1 MiB chunks (`uploads` table) and streamed back one chunk per query;
checkpoints (`checkpoints` table) are written in the same transaction as the work they count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from tasks.data.db import checkpoints, uploads
from tasks.data.retry import Backoff, retry_transient

CHUNK_BYTES = 1024 * 1024


def save_upload(conn: Connection, job_id: str, chunks: Iterable[bytes]) -> int:
    """Store `chunks` as the input of `job_id` (in the caller's transaction); returns its size
    in bytes."""
    buffer = bytearray()
    seq = size = 0
    for chunk in chunks:
        buffer += chunk
        size += len(chunk)
        while len(buffer) >= CHUNK_BYTES:
            _insert(conn, job_id, seq, bytes(buffer[:CHUNK_BYTES]))
            del buffer[:CHUNK_BYTES]
            seq += 1
    if buffer:
        _insert(conn, job_id, seq, bytes(buffer))
    return size


def _insert(conn: Connection, job_id: str, seq: int, data: bytes) -> None:
    conn.execute(sa.insert(uploads).values(job_id=job_id, seq=seq, data=data))


def stream_upload(engine: Engine, job_id: str, backoff: Backoff | None = None) -> Iterator[bytes]:
    """The input of `job_id`, chunk by chunk; each chunk is its own short query, so that no
    connection or read transaction stays open while the caller works (and a chunk whose read
    failed for a transient cause is read again, under `backoff`)."""
    query = sa.select(uploads.c.data).where(
        uploads.c.job_id == job_id, uploads.c.seq == sa.bindparam("seq")
    )
    seq = 0

    def read() -> bytes | None:
        with engine.connect() as conn:
            chunk: bytes | None = conn.execute(query, {"seq": seq}).scalar_one_or_none()
            return chunk

    while True:
        data = read() if backoff is None else retry_transient(read, "reading the upload", backoff)
        if data is None:
            return
        if data:
            yield bytes(data)
        seq += 1


def delete_upload(conn: Connection, job_id: str) -> None:
    conn.execute(sa.delete(uploads).where(uploads.c.job_id == job_id))


def load_checkpoint(conn: Connection, job_id: str) -> int:
    """How many items of `job_id` are committed (0 before its first batch)."""
    query = sa.select(checkpoints.c.position).where(checkpoints.c.job_id == job_id)
    position = conn.execute(query).scalar_one_or_none()
    return int(position or 0)


def save_checkpoint(conn: Connection, job_id: str, position: int) -> None:
    """Record that the first `position` items are committed; call it in the batch's
    transaction."""
    values = {"job_id": job_id, "position": position, "state": "{}"}
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(checkpoints)
        conn.execute(
            insert.values(**values).on_conflict_do_update(
                index_elements=[checkpoints.c.job_id], set_={"position": position}
            )
        )
        return
    updated = conn.execute(
        sa.update(checkpoints).where(checkpoints.c.job_id == job_id).values(position=position)
    )
    if updated.rowcount == 0:
        conn.execute(sa.insert(checkpoints).values(**values))


def delete_checkpoint(conn: Connection, job_id: str) -> None:
    conn.execute(sa.delete(checkpoints).where(checkpoints.c.job_id == job_id))
