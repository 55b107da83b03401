"""The line on which each email of an upload first appears, in a fixed amount of memory.

An import finds the duplicates in its file by remembering, for each email, the line of its
first occurrence. A dict of the emails themselves costs about 140 bytes a row (the string, the
line's int, the entry): 140 MB for a million rows, growing while the job runs. `FirstLines`
keeps 16 bytes a slot instead, in flat arrays sized once from the number of rows the job was
told it has (it grows, by doubling, only if that number was short): about 32 MB for a million
rows, taken at the start and then flat.

An email is kept as two independent hashes, 96 bits in all: the process's own `hash()` (64
bits, which also places it in the table) and CRC-32 of its UTF-8 bytes. Two different emails
are taken for one only if both hashes agree; among a million emails the chance that any two
do is about 1 in 10^16. The table lives in one process (`hash()` of a string differs from one
process to the next): a job resumed elsewhere fills it again from the lines it re-reads.
"""

from __future__ import annotations

import zlib
from array import array

# A slot is free while its key is 0; an email whose hash() is 0 is kept as 1 (its CRC-32
# still tells it apart).
_FREE = 0
_MAX_LOAD = 0.75
_SMALLEST = 1024


def _capacity(rows: int) -> int:
    """The smallest power of two that holds `rows` keys below the maximum load."""
    capacity = _SMALLEST
    while capacity * _MAX_LOAD < rows:
        capacity *= 2
    return capacity


class FirstLines:
    """`first(email, line)`: the line `email` was first seen on (`line` if this is the first)."""

    def __init__(self, rows: int) -> None:
        self._allocate(_capacity(rows))

    def _allocate(self, capacity: int) -> None:
        self._mask = capacity - 1
        self._keys = array("q", [_FREE]) * capacity
        self._checks = array("I", [0]) * capacity
        self._lines = array("I", [0]) * capacity
        self._size = 0
        self._limit = int(capacity * _MAX_LOAD)

    def __len__(self) -> int:
        return self._size

    @property
    def capacity(self) -> int:
        return self._mask + 1

    def first(self, email: str, line: int) -> int:
        key = hash(email) or 1
        check = zlib.crc32(email.encode())
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == _FREE:
                break
            if found == key and self._checks[slot] == check:
                return self._lines[slot]
            slot = (slot + 1) & mask
        if self._size >= self._limit:
            self._grow()
            return self.first(email, line)
        keys[slot], self._checks[slot], self._lines[slot] = key, check, line
        self._size += 1
        return line

    def _grow(self) -> None:
        old = zip(self._keys, self._checks, self._lines, strict=True)
        kept = [(key, check, line) for key, check, line in old if key != _FREE]
        self._allocate(2 * self.capacity)
        keys, mask = self._keys, self._mask
        for key, check, line in kept:
            slot = key & mask
            while keys[slot] != _FREE:
                slot = (slot + 1) & mask
            keys[slot], self._checks[slot], self._lines[slot] = key, check, line
        self._size = len(kept)
