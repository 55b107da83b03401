"""The job store's word index, which history search reads instead of every job (the pure
rules of what a word is and what a needle can match are in search.py; the keys are listed in
store.py's docstring).

Each job's text (description and owner) adds the job to one sorted set per word, scored by
creation time, its words to two vocabularies (as written, and backwards, for a word's start
and its end), and each word to the set of each of its trigrams (for a piece inside a word);
removing the job takes it out again, and a word no job has any more leaves the vocabularies
and its trigram sets (one Lua script). A store that predates the index, or its trigrams,
builds them once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import cast

import redis

from tasks.jobs.lua import lua
from tasks.jobs.search import Lookup, lookup, text_of, trigrams, words_of

REMOVE_WORDS = lua("remove_words")
FEWEST_JOBS = lua("fewest_jobs")
SEARCH_TTL_S = 60
# A search whose candidate words number more than this, or hold more jobs than SEARCH_UNION,
# reads the jobs newest first instead (such a needle matches many of them anyway).
SEARCH_WORDS = 5000
SEARCH_UNION = 20_000


def _starting(prefix: str) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX's bounds for the words that start with `prefix`."""
    start = prefix.encode()
    # In UTF-8 no byte is 0xff: "(prefix\xff" bounds every word that starts with it.
    return b"[" + start, b"(" + start + b"\xff"


class WordIndex:
    def __init__(self, client: redis.Redis, key: Callable[..., str]) -> None:
        self.redis = client
        self.key = key
        self._remove = client.register_script(REMOVE_WORDS)
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

    def unindex(self, pipe: redis.client.Pipeline, job_id: str, words: set[str]) -> None:
        keys = [self.key("jobs", "words"), self.key("jobs", "words", "reversed")]
        args: list[str | int] = [job_id]
        for word in sorted(words):
            its_trigrams = sorted(trigrams(word))
            keys.append(self.key("jobs", "word", word))
            keys += [self.key("jobs", "trigram", trigram) for trigram in its_trigrams]
            args += [word, word[::-1], len(its_trigrams)]
        self._remove(keys=keys, args=args, client=pipe)
        pipe.delete(self.key("job", job_id, "words"))

    def _built_once(self) -> None:
        """Index the words of the jobs stored before the index existed, once."""
        built = self.key("jobs", "words", "built")
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
                    text = text_of(description, owner or "")
                    self.index(pipe, job_id, float(created), text)
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

    def search_key(self, needle: str) -> str | None:
        """The key of a sorted set, scored by creation time, that holds every job whose text
        can contain the case-folded `needle` (and maybe others: the caller checks each); None
        if only reading every job can tell."""
        self._built_once()
        self._trigrams_built_once()
        found = lookup(needle)
        if found is None:
            return None
        dest = self.key("jobs", "search", hashlib.sha1(needle.encode()).hexdigest()[:20])
        if found.whole:
            keys = [self.key("jobs", "word", word) for word in found.whole]
            if len(keys) == 1:
                return keys[0]
            pipe = self.redis.pipeline(transaction=True)
            pipe.zinterstore(dest, keys, aggregate="MIN")
            pipe.expire(dest, SEARCH_TTL_S)
            pipe.execute()
            return dest
        options = self._options(found)
        args = [self.key("jobs", "word", ""), SEARCH_UNION, SEARCH_TTL_S, SEARCH_WORDS, *options]
        chosen = cast(int, self._fewest_jobs(keys=[dest], args=args)) if options else 0
        return dest if chosen else None

    def _options(self, found: Lookup) -> list[str | bytes | int]:
        """The fewest_jobs script's options (the fewest jobs of them are what a search needs
        to read): the words with a word set each that hold every job with a word that starts
        with `found.starts` (read by the script: a word's start can have thousands); those
        for a word that ends with `found.ends`; those for a word that contains
        `found.inside`. An option of more than SEARCH_WORDS words is not looked at."""
        options: list[str | bytes | int] = []
        if found.starts:
            options += ["range", self.key("jobs", "words"), *_starting(found.starts)]
        if found.ends:
            vocabulary = self.key("jobs", "words", "reversed")
            low, high = _starting(found.ends[::-1])
            backwards = cast(
                list[str], self.redis.zrangebylex(vocabulary, low, high, 0, SEARCH_WORDS + 1)
            )
            options += [len(backwards), *(word[::-1] for word in backwards)]
        if found.inside:
            inside = self._words_containing(found.inside)
            options += [len(inside), *inside]
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
