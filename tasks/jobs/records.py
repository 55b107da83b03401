"""What the job store hands out besides jobs: an error of the ledger, an audit entry, a page of
a listing, job ids, and the exceptions of a job that is gone, a run that lost its job, and an
owner with too many jobs under way."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Generic, TypeVar

from tasks.jobs.model import Person

T = TypeVar("T")


class UnknownJob(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"unknown job {job_id!r}")
        self.job_id = job_id


class RunLost(RuntimeError):
    """This run of the job was superseded: another worker claimed the job (`claim_run`)
    after this one's worker stopped beating. The run must stop and write nothing more."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} is held by another run now")
        self.job_id = job_id


class TooManyActiveJobs(RuntimeError):
    """The owner already has `limit` jobs queued or running: a new one is refused."""

    def __init__(self, owner_id: int, limit: int) -> None:
        super().__init__(f"owner {owner_id} already has {limit} jobs queued or running")
        self.owner_id = owner_id
        self.limit = limit


ITEM_CHARS = 200  # what the ledger keeps of an error's item, and of its message
MESSAGE_CHARS = 500


def _clipped(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


@dataclass(frozen=True)
class JobError:
    position: int
    item: str
    message: str
    at: float
    order: int = 0  # among the errors at one position, in the order they were found

    @classmethod
    def bounded(cls, position: int, item: str, message: str, at: float, order: int) -> JobError:
        """An error whose item and message are cut to ITEM_CHARS and MESSAGE_CHARS (a long
        cell value echoed in a message must not make the ledger large)."""
        return cls(position, _clipped(item, ITEM_CHARS), _clipped(message, MESSAGE_CHARS), at,
                   order)  # fmt: skip

    @property
    def score(self) -> float:
        """Ledger order: by position, then by discovery (exact below a million per batch)."""
        return self.position + min(self.order, 999_999) / 1_000_000

    def to_json(self) -> str:
        return json.dumps(
            {"p": self.position, "item": self.item, "message": self.message, "at": self.at},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobError:
        data = json.loads(raw)
        return cls(data["p"], data["item"], data["message"], data["at"])


@dataclass(frozen=True)
class AuditEntry:
    """Somebody did something to a job: `launched`, `aborted` or `notify` (asked for an email)."""

    action: str
    by: Person
    at: float

    def to_json(self) -> str:
        data = {"action": self.action, "by_id": self.by.id, "by_name": self.by.name, "at": self.at}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> AuditEntry:
        data = json.loads(raw)
        return cls(data["action"], Person(int(data["by_id"]), data["by_name"]), data["at"])


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursor: str | None


def new_job_id() -> str:
    return secrets.token_hex(8)


def is_job_id(value: str) -> bool:
    return len(value) == 16 and all(c in "0123456789abcdef" for c in value)
