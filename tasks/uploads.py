"""A job's input kept in the database, where a worker on any machine can read it, and how far
the job has committed its work (its checkpoint).

Uploads are stored in 1 MiB chunks (`uploads` table) and streamed back one chunk per query;
checkpoints (`checkpoints` table) are written in the same transaction as the work they count.

A checkpoint is also the database's fence: the run that resumes a job writes its token into
the job's checkpoint (`claim_checkpoint`) in the transaction that reads the position, and each
batch's `save_checkpoint` commits only while that token is still there, so that a run that lost
its job (its worker was paused and taken for dead) cannot commit a batch the new run will redo.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from tasks.data.db import checkpoints, uploads
from tasks.data.retry import Backoff, retry_transient
from tasks.jobs.records import RunLost

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


def claim_checkpoint(conn: Connection, job_id: str, run: str) -> int:
    """Make `run` the one run that may commit work of `job_id`, and return how many items are
    committed; call it in a transaction of its own (`engine.begin()`), before the first batch.
    A batch of an earlier run that is still being written commits before the claim (its row
    lock) or not at all (its `save_checkpoint` finds another token)."""
    state = _state(run)
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(checkpoints)
        conn.execute(
            insert.values(job_id=job_id, position=0, state=state).on_conflict_do_update(
                index_elements=[checkpoints.c.job_id], set_={"state": state}
            )
        )
    else:
        claimed = conn.execute(
            sa.update(checkpoints).where(checkpoints.c.job_id == job_id).values(state=state)
        )
        if claimed.rowcount == 0:
            conn.execute(sa.insert(checkpoints).values(job_id=job_id, position=0, state=state))
    return load_checkpoint(conn, job_id)


def save_checkpoint(
    conn: Connection,
    job_id: str,
    position: int,
    run: str,
    tally: Mapping[str, object] | None = None,
) -> None:
    """Record that the first `position` items are committed (and, if given, the `tally` the
    batches so far make: `load_tally`); call it in the batch's transaction. Raises RunLost (so
    the transaction rolls back) if another run claimed the job since `run` did
    (`claim_checkpoint`)."""
    values: dict[str, object] = {"position": position}
    if tally is not None:
        values["tally"] = json.dumps(tally, separators=(",", ":"))
    updated = conn.execute(
        sa.update(checkpoints)
        .where(checkpoints.c.job_id == job_id, checkpoints.c.state == _state(run))
        .values(**values)
    )
    if updated.rowcount == 0:
        raise RunLost(job_id)


def load_tally(conn: Connection, job_id: str) -> dict[str, Any]:
    """The tally the last committed batch of `job_id` saved ({} before any)."""
    query = sa.select(checkpoints.c.tally).where(checkpoints.c.job_id == job_id)
    raw = conn.execute(query).scalar_one_or_none()
    tally: dict[str, Any] = json.loads(raw) if raw else {}
    return tally


def copy_upload(conn: Connection, source_id: str, job_id: str) -> None:
    """Give `job_id` the input of `source_id` (a copy made by the database, in the caller's
    transaction): each job owns its input, and removing one leaves the other's."""
    columns = sa.select(sa.literal(job_id), uploads.c.seq, uploads.c.data).where(
        uploads.c.job_id == source_id
    )
    conn.execute(sa.insert(uploads).from_select(["job_id", "seq", "data"], columns))


def _state(run: str) -> str:
    return json.dumps({"run": run}, separators=(",", ":"))


def delete_checkpoint(conn: Connection, job_id: str) -> None:
    conn.execute(sa.delete(checkpoints).where(checkpoints.c.job_id == job_id))
