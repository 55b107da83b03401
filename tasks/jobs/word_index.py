"""The job store's word index, which history search reads instead of every job (the pure
rules of what a word is and what a needle can match are in search.py; the keys are listed in
store.py's docstring).

Each job's text (description and owner) adds the job to one sorted set per word, scored by
creation time, its words to two vocabularies (as written, and backwards, for a word's start
and its end), and each word to the set of each of its trigrams (for a piece inside a word);
it also adds the job to one sorted set per pair of words next to each other, and the pairs to
a vocabulary of their own (for a needle of two words, such as an owner's full name), until a
pair holds more jobs than a search would read through it (then it is only marked full).
Removing the job takes it out again, and a word or pair no job has any more leaves the
vocabularies and its trigram sets (Lua scripts). A store that predates the index, its
trigrams or its pairs builds them once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import redis

from tasks.jobs.lua import lua
from tasks.jobs.search import Lookup, lookup, pairs_of, text_of, trigrams, words_of

REMOVE_WORDS = lua("remove_words")
REMOVE_PAIRS = lua("remove_pairs")
ADD_PAIRS = lua("add_pairs")
FEWEST_JOBS = lua("fewest_jobs")
SEARCH_TTL_S = 60
# A search whose candidate words number more than this, or hold more jobs than SEARCH_UNION,
# reads the jobs newest first instead (such a needle matches many of them anyway).
SEARCH_WORDS = 5000
SEARCH_UNION = 20_000
# A pair's set that would hold more jobs than this is dropped and the pair marked full (a search
# reads no option of more than SEARCH_UNION jobs): a common pair ("users from") costs nothing.
PAIR_MOST_JOBS = SEARCH_UNION


def _starting(prefix: str) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX's bounds for the words that start with `prefix`."""
    start = prefix.encode()
    # In UTF-8 no byte is 0xff: "(prefix\xff" bounds every word that starts with it.
    return b"[" + start, b"(" + start + b"\xff"


@dataclass(frozen=True)
class Candidates:
    """The key of a sorted set, scored by creation time, of the jobs a search may find; if
    `are_matches`, the index proved that every one of them holds the needle."""

    key: str
    are_matches: bool = False


class WordIndex:
    def __init__(self, client: redis.Redis, key: Callable[..., str]) -> None:
        self.redis = client
        self.key = key
        self._remove = client.register_script(REMOVE_WORDS)
        self._remove_pairs = client.register_script(REMOVE_PAIRS)
        self._add_pairs = client.register_script(ADD_PAIRS)
        self._pairs, self._full_pairs = key("jobs", "pairs"), key("jobs", "pairs", "full")
        self._fewest_jobs = client.register_script(FEWEST_JOBS)

    def index(self, pipe: redis.client.Pipeline, job_id: str, created_at: float, text: str) -> None:
        """Add the job, in `pipe`, to the sets of its text's words (`create` does; a writer
        of records of its own, such as bench/history.py, calls it too)."""
        words = sorted(words_of(text))
        for word in words:
            pipe.zadd(self.key("jobs", "word", word), {job_id: created_at})
            for trigram in trigrams(word):
                pipe.sadd(self.key("jobs", "trigram", trigram), word)
        if words:
            pipe.zadd(self.key("jobs", "words"), dict.fromkeys(words, 0))
            pipe.zadd(self.key("jobs", "words", "reversed"), {w[::-1]: 0 for w in words})
        pipe.set(self.key("job", job_id, "words"), " ".join(words))
        self.index_pairs(pipe, job_id, created_at, text)

    def index_pairs(
        self, pipe: redis.client.Pipeline, job_id: str, created_at: float, text: str
    ) -> None:
        """Add the job, in `pipe`, to the sets of its text's pairs (add_pairs.lua)."""
        pairs = sorted(pairs_of(text))
        if pairs:
            keys = [self._pairs, self._full_pairs, *(self.key("jobs", "pair", p) for p in pairs)]
            args: list[str | int] = [job_id, repr(created_at), PAIR_MOST_JOBS, *pairs]
            self._add_pairs(keys=keys, args=args, client=pipe)
        # (JSON: a pair may hold spaces and line breaks)
        pipe.set(self.key("job", job_id, "pairs"), json.dumps(pairs))

    def unindex(
        self, pipe: redis.client.Pipeline, job_id: str, words: set[str], pairs: set[str]
    ) -> None:
        keys = [self.key("jobs", "words"), self.key("jobs", "words", "reversed")]
        args: list[str | int] = [job_id]
        for word in sorted(words):
            its_trigrams = sorted(trigrams(word))
            keys.append(self.key("jobs", "word", word))
            keys += [self.key("jobs", "trigram", trigram) for trigram in its_trigrams]
            args += [word, word[::-1], len(its_trigrams)]
        self._remove(keys=keys, args=args, client=pipe)
        pipe.delete(self.key("job", job_id, "words"))
        keys = [
            self._pairs,
            self._full_pairs,
            *(self.key("jobs", "pair", p) for p in sorted(pairs)),
        ]
        self._remove_pairs(keys=keys, args=[job_id, *sorted(pairs)], client=pipe)
        pipe.delete(self.key("job", job_id, "pairs"))

    def _built_once(self) -> None:
        """Index the words of the jobs stored before the index existed, once."""
        self._index_stored_once(self.key("jobs", "words", "built"), self.index)

    def _pairs_built_once(self) -> None:
        """Index the pairs of the jobs stored before the pair index existed, once."""
        self._index_stored_once(self.key("jobs", "pairs", "built"), self.index_pairs)

    def _index_stored_once(
        self, built: str, index: Callable[[redis.client.Pipeline, str, float, str], None]
    ) -> None:
        """`index` every stored job's text, a thousand jobs a round trip, unless `built` is set;
        then set it."""
        if self.redis.exists(built):
            return
        ids = cast(list[str], self.redis.zrange(self.key("jobs"), 0, -1))
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            pipe = self.redis.pipeline(transaction=False)
            for job_id in chunk:
                pipe.hmget(self.key("job", job_id), "description", "owner_name", "created_at")
            records = cast(list[list[str | None]], pipe.execute())
            pipe = self.redis.pipeline(transaction=False)
            for job_id, (description, owner, created) in zip(chunk, records, strict=True):
                if description is not None and created is not None:
                    index(pipe, job_id, float(created), text_of(description, owner or ""))
            pipe.execute()
        self.redis.set(built, "1")

    def _trigrams_built_once(self) -> None:
        """File the words of a vocabulary from before the trigram sets under their
        trigrams, once (a word that leaves it meanwhile may stay filed: its word set is
        then empty, and a search that looks it up finds nothing there)."""
        built = self.key("jobs", "trigrams", "built")
        if self.redis.exists(built):
            return
        pipe = self.redis.pipeline(transaction=False)
        for n, (word, _) in enumerate(self.redis.zscan_iter(self.key("jobs", "words"))):
            for trigram in trigrams(word):
                pipe.sadd(self.key("jobs", "trigram", trigram), word)
            if n % 1000 == 999:
                pipe.execute()
        pipe.execute()
        self.redis.set(built, "1")

    def candidates(self, needle: str) -> Candidates | None:
        """The jobs whose text can contain the case-folded `needle` (and maybe others, unless
        the index proves they all match: the caller checks each); None if only reading every
        job can tell."""
        flags = [self.key("jobs", part, "built") for part in ("words", "trigrams", "pairs")]
        if self.redis.exists(*flags) < len(flags):  # (one round trip once all are built)
            self._built_once()
            self._trigrams_built_once()
            self._pairs_built_once()
        found = lookup(needle)
        if found is None:
            return None
        dest = self.key("jobs", "search", hashlib.sha1(needle.encode()).hexdigest()[:20])
        if found.whole:
            keys = [self.key("jobs", "word", word) for word in found.whole]
            if len(keys) == 1:
                return Candidates(keys[0])
            pipe = self.redis.pipeline(transaction=True)
            pipe.zinterstore(dest, keys, aggregate="MIN")
            pipe.expire(dest, SEARCH_TTL_S)
            pipe.execute()
            return Candidates(dest)
        ending = self._words_ending(found.ends) if found.ends else []
        if found.between and len(ending) <= SEARCH_WORDS:
            # The pairs that start with the needle (bar their first word's start) hold
            # exactly the jobs it is in: no other option can do better, nor need be read.
            starts = [(word + found.between + found.starts) for word in ending]
            pairs: list[str | bytes | int] = [self.key("jobs", "pair", ""), "range"]
            pairs += [self._pairs, self._full_pairs, len(starts)]
            pairs += [bound for start in starts for bound in _starting(start)]
            key = self._fewest(dest, pairs)
            if key is not None:
                return Candidates(key, are_matches=True)
        options = self._options(found, ending)
        key = self._fewest(dest, options) if options else None
        return Candidates(key) if key is not None else None

    def _fewest(self, dest: str, options: list[str | bytes | int]) -> str | None:
        """The key that holds the jobs of the option with the fewest (fewest_jobs.lua), or
        None if every option holds more than SEARCH_UNION."""
        args = [SEARCH_UNION, SEARCH_TTL_S, SEARCH_WORDS, *options]
        chosen, key = cast(list[int | str], self._fewest_jobs(keys=[dest], args=args))
        return cast(str, key) if chosen else None

    def _words_ending(self, end: str) -> list[str]:
        """The words that end with `end` (SEARCH_WORDS + 1 at most)."""
        vocabulary = self.key("jobs", "words", "reversed")
        low, high = _starting(end[::-1])
        backwards = cast(
            list[str], self.redis.zrangebylex(vocabulary, low, high, 0, SEARCH_WORDS + 1)
        )
        return [word[::-1] for word in backwards]

    def _options(self, found: Lookup, ending: list[str]) -> list[str | bytes | int]:
        """The fewest_jobs script's options (the fewest jobs of them are what a search needs
        to read), each of words with a word set each: those that hold every job with a word
        that starts with `found.starts` (read by the script: a word's start can have
        thousands); the words that end with `found.ends` (`ending`); those that contain
        `found.inside`. An option of more than SEARCH_WORDS words is not looked at."""
        prefix = self.key("jobs", "word", "")
        options: list[str | bytes | int] = []
        if found.starts:
            low, high = _starting(found.starts)
            options += [prefix, "range", self.key("jobs", "words"), "", 1, low, high]
        if found.ends:
            options += [prefix, "words", len(ending), *ending]
        if found.inside:
            inside = self._words_containing(found.inside)
            options += [prefix, "words", len(inside), *inside]
        return options

    def _words_containing(self, piece: str) -> list[str]:
        """The words that contain `piece` (SEARCH_WORDS + 1 at most): those filed under
        every trigram of it, or, for a piece shorter than three, the whole vocabulary read
        by Redis in steps."""
        if len(piece) >= 3:
            keys = [self.key("jobs", "trigram", trigram) for trigram in sorted(trigrams(piece))]
            filed = cast(set[str], self.redis.sinter(keys))
            return [word for word in filed if piece in word][: SEARCH_WORDS + 1]
        words = []
        # \w holds none of glob's special characters (* ? [ ] \\).
        for word, _ in self.redis.zscan_iter(
            self.key("jobs", "words"), match=f"*{piece}*", count=10_000
        ):
            words.append(word)
            if len(words) > SEARCH_WORDS:
                break
        return words
