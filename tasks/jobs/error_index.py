"""The job store's error index, which an error search reads instead of the whole ledger (the
keys are listed in store.py's docstring; the rules of what a needle needs are search.py's).

`FLUSH` files each error it keeps under its tokens (`search.tokens_of`: its words, and each
other character it holds) by its slot, its rank in the ledger: errors come in ledger order, and
a rewind only removes the ledger's end, so a slot keeps naming the same error. `candidates`
says which slots may hold a needle; the caller reads those errors and checks each against the
needle itself, so that the index only narrows and never decides.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import cast

import redis
from redis.client import NEVER_DECODE

from tasks.jobs.search import char_token, lookup

# A needle's word start or end that more words than this have narrows nothing worth reading.
MOST_WORDS = 5000


class ErrorIndex:
    def __init__(self, client: redis.Redis, key: Callable[..., str]) -> None:
        self.redis = client
        self.key = key

    def candidates(self, job_id: str, wanted: str) -> list[int] | None:
        """The ledger slots, in order, of the errors that may contain the case-folded
        `wanted`; None if only reading the ledger can tell (a job recorded before the index,
        one whose errors came out of order, or a needle too common to narrow)."""
        words = self.key("job", job_id, "errors", "words")
        indexed, unordered = self.redis.hmget(words, "!indexed", "!unordered")
        if not indexed or unordered:
            return None if self.redis.exists(self.key("job", job_id, "errors")) else []
        found = lookup(wanted)
        if found is None:  # punctuation and spaces only: every one of its characters
            return sorted(self._having_all(words, [char_token(c) for c in set(wanted)]))
        conditions: list[set[int]] = []
        if found.whole:
            conditions.append(self._having_all(words, list(found.whole)))
        if found.starts:
            start = found.starts.encode()
            # In UTF-8 no byte is 0xff: "(start\xff" bounds every word that begins with it.
            vocabulary = self.key("job", job_id, "errors", "vocabulary")
            some = self.redis.zrangebylex(
                vocabulary, b"[" + start, b"(" + start + b"\xff", 0, MOST_WORDS + 1
            )
            self._add_any(conditions, words, cast(list[str], some))
        if found.ends and not conditions:
            self._add_any(conditions, words, self._words_matching(job_id, f"*{found.ends}"))
        if found.inside:
            self._add_any(conditions, words, self._words_matching(job_id, f"*{found.inside}*"))
        if not conditions:
            return None
        return sorted(set.intersection(*conditions))

    def _add_any(self, conditions: list[set[int]], words: str, some: list[str]) -> None:
        """A condition met by any of `some` words; none if they are too many to narrow."""
        if len(some) <= MOST_WORDS:
            conditions.append(self._having_any(words, some))

    def _having_all(self, words: str, tokens: list[str]) -> set[int]:
        postings = self._raw_hmget(words, tokens)
        if not postings or any(p is None for p in postings):
            return set()
        return set.intersection(*(_slots(p) for p in postings if p is not None))

    def _having_any(self, words: str, tokens: list[str]) -> set[int]:
        slots: set[int] = set()
        for start in range(0, len(tokens), 1000):
            for posting in self._raw_hmget(words, tokens[start : start + 1000]):
                if posting is not None:
                    slots |= _slots(posting)
        return slots

    def _raw_hmget(self, words: str, tokens: list[str]) -> list[bytes | None]:
        """HMGET without decoding: the postings are bytes, not text."""
        if not tokens:
            return []
        options = {NEVER_DECODE: True}
        raw = self.redis.execute_command("HMGET", words, *tokens, **options)  # type: ignore[no-untyped-call]
        return cast(list[bytes | None], raw)

    def _words_matching(self, job_id: str, pattern: str) -> list[str]:
        """The index's words that match a glob `pattern` (MOST_WORDS + 1 at most): Redis reads
        the job's vocabulary for this one, in steps. (`\\w` holds no glob special character.)"""
        found = []
        vocabulary = self.key("job", job_id, "errors", "vocabulary")
        for word, _ in self.redis.zscan_iter(vocabulary, match=pattern, count=10_000):
            found.append(word)
            if len(found) > MOST_WORDS:
                break
        return found


def _slots(posting: bytes) -> set[int]:
    return set(struct.unpack(f"<{len(posting) // 4}I", posting))
