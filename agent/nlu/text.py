"""Text normalisation and token-phrase matching shared by every NLU layer."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_TOKEN = re.compile(r"\d{4}-\d{2}-\d{2}|\d+(?:[.,:]\d+)*|[^\W\d_]+|[%$]")
_APOSTROPHES = re.compile(r"['\u2019`]")

Tokens = tuple[str, ...]


def tokens(text: str) -> Tokens:
    """Lower-case tokens: words, numbers (separators kept), ISO dates, % and $.

    "Rp1,5jt" -> ("rp", "1,5", "jt"); "don't" -> ("dont",); "7pm" -> ("7", "pm").
    """
    return tuple(_TOKEN.findall(_APOSTROPHES.sub("", text.lower())))


def find(haystack: Sequence[str], needle: Sequence[str], start: int = 0) -> int:
    """Index of the first contiguous occurrence of `needle` in `haystack` at or after `start`."""
    n = len(needle)
    if n == 0:
        return -1
    for i in range(start, len(haystack) - n + 1):
        if haystack[i] == needle[0] and tuple(haystack[i:i + n]) == tuple(needle):
            return i
    return -1


def phrase_table(phrases: Iterable[str]) -> tuple[Tokens, ...]:
    """Phrases as token tuples, longest first (so "minggu depan" wins over "minggu")."""
    table = {tokens(p) for p in phrases}
    table.discard(())
    return tuple(sorted(table, key=lambda t: (-len(t), t)))


def spans(toks: Sequence[str], table: Iterable[Tokens],
          used: set[int]) -> list[tuple[int, Tokens]]:
    """Non-overlapping matches of `table` phrases in `toks`, skipping tokens in `used`.

    Longer phrases are tried first; every match's positions are added to `used`.
    """
    found: list[tuple[int, Tokens]] = []
    for phrase in sorted(table, key=len, reverse=True):
        start = 0
        while (i := find(toks, phrase, start)) >= 0:
            positions = set(range(i, i + len(phrase)))
            if not positions & used:
                used |= positions
                found.append((i, phrase))
            start = i + 1
    return sorted(found)
