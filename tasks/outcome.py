"""What a check or a revert ends with, counted batch by batch: pure data, no I/O.

A `Tally` is saved with each batch's checkpoint (tasks/uploads.py), so that a job resumed
after a crash counts on from its last committed batch, and shown as the job's `outcome`.
`after` is where the next batch begins, for a job that walks something other than its
upload's rows (a revert walks its source's journal by line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CHECK_OUTCOME = ("create", "update", "unchanged", "error")
REVERT_OUTCOME = ("reverted", "kept", "error")


@dataclass(frozen=True)
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    after: int = 0

    @classmethod
    def of(cls, keys: tuple[str, ...], saved: Mapping[str, object]) -> Tally:
        """The tally a checkpoint saved (`saved`, {} before any), with every one of `keys`."""
        counts = {key: int(str(saved.get(key, 0))) for key in keys}
        return cls(counts, int(str(saved.get("after", 0))))

    def plus(self, after: int | None = None, **more: int) -> Tally:
        unknown = set(more) - set(self.counts)
        if unknown:
            raise ValueError(f"unknown counts {sorted(unknown)}: expected {sorted(self.counts)}")
        counts = {key: n + more.get(key, 0) for key, n in self.counts.items()}
        return Tally(counts, self.after if after is None else after)

    def saved(self) -> dict[str, int]:
        """What the checkpoint keeps."""
        return {**self.counts, "after": self.after}
