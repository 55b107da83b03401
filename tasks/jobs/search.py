"""What a history search looks up, so that it reads only the jobs that can match (pure: no I/O).

A job's text is "description\\nowner name", case-folded; its words are its runs of `\\w`
characters. A needle found in a text is made of whole words of that text, except its first run,
which may end a word, and its last, which may begin one (a needle of a single run may lie inside
a word). The store keeps, for every word, the jobs whose text has it, and a vocabulary of the
words: `lookup` says which of them a needle needs, and the store checks each job it finds
against the needle itself, so that the index only narrows and never decides. It also keeps
the pairs of words next to each other (the first, what lies between them, the second): a needle
of two runs with a short gap, such as an owner's full name "owner 7", is found in a text exactly
when the text has a pair that starts with it, bar the first word's start (the index decides).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"\w+")
# A pair is indexed only if at most this many characters lie between its words (a needle with
# a longer gap is looked up by its words).
MAX_BETWEEN = 3


def text_of(description: str, owner_name: str) -> str:
    """What a search looks in: the case-folded description and owner's name."""
    return f"{description}\n{owner_name}".casefold()


def words_of(text: str) -> set[str]:
    return set(_WORD.findall(text))


def pairs_of(text: str) -> set[str]:
    """The pairs of words next to each other in `text`, each written as it stands there
    ("owner 7", "class-77"), whose gap is at most MAX_BETWEEN characters."""
    runs = list(_WORD.finditer(text))
    return {
        text[a.start() : b.end()]
        for a, b in zip(runs, runs[1:], strict=False)
        if b.start() - a.end() <= MAX_BETWEEN
    }


@dataclass(frozen=True)
class Lookup:
    """The words a text must have to hold a needle: each of `whole`, a word that starts with
    `starts`, one that ends with `ends`, one that contains `inside` ("": no such condition).
    With `between`, the needle is exactly `ends`, `between`, `starts`: a text holds it if and
    only if it has a pair (search.pairs_of) whose first word ends with `ends` and that goes on
    with `between` and `starts`."""

    whole: tuple[str, ...] = ()
    starts: str = ""
    ends: str = ""
    inside: str = ""
    between: str = ""


def lookup(needle: str) -> Lookup | None:
    """The words a case-folded `needle` needs, or None if it has no `\\w` at all (then only
    reading every job can tell)."""
    runs = list(_WORD.finditer(needle))
    if not runs:
        return None
    whole: list[str] = []
    starts = ends = inside = ""
    for run in runs:
        word_begins = run.start() > 0  # something that is not \w comes before it
        word_ends = run.end() < len(needle)
        if word_begins and word_ends:
            whole.append(run.group())
        elif word_begins:
            starts = run.group()
        elif word_ends:
            ends = run.group()
        else:
            inside = run.group()
    between = ""
    if len(runs) == 2 and ends and starts:
        gap = needle[runs[0].end() : runs[1].start()]
        between = gap if len(gap) <= MAX_BETWEEN else ""
    return Lookup(tuple(dict.fromkeys(whole)), starts, ends, inside, between)


def trigrams(word: str) -> set[str]:
    """The runs of three characters in `word` (none if it is shorter): a word that contains
    a piece of three characters or more has every one of the piece's trigrams."""
    return {word[i : i + 3] for i in range(len(word) - 2)}


def error_text(item: str, message: str) -> str:
    """What an error search looks in (a needle is found in the item or in the message)."""
    return f"{item}\n{message}".casefold()


def char_token(char: str) -> str:
    """The index token of a character that is not `\\w` (a needle of punctuation only looks
    these up): '!' and its code point in hex, so that no token holds a space."""
    return f"!{ord(char):x}"


def tokens_of(text: str) -> set[str]:
    """What the error index files a case-folded text under: its words, and a `char_token` for
    each other character in it."""
    return words_of(text) | {char_token(c) for c in set(_WORD.sub("", text))}
