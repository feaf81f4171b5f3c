"""Numbers and amounts: digits with separators, number words, scales, fractions, percents.

"1,5 juta" -> 1500000, "300rb" -> 300000, "sejuta" -> 1000000, "dua ratus ribu" -> 200000,
"two hundred thousand" -> 200000, "setengah"/"half" -> half the amount due, "50 persen" -> half.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.nlu.lexicon import Lexicon
from agent.nlu.text import find

_THOUSANDS = re.compile(r"^\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*$")
_DECIMAL = re.compile(r"^\d+[.,]\d{1,2}$")
_PLAIN = re.compile(r"^\d+$")


def digits(token: str) -> float | None:
    """The value of a digit token: "1.250.000" and "1,250,000" -> 1250000; "1,5" -> 1.5."""
    if _PLAIN.match(token):
        return float(token)
    if _THOUSANDS.match(token):
        return float(re.sub(r"[.,]", "", token))
    if _DECIMAL.match(token):
        return float(token.replace(",", "."))
    return None


def _is_number_word(tok: str, lex: Lexicon, scales: bool) -> bool:
    return (tok in lex.units or tok in lex.mul_last or tok in lex.add_last
            or (scales and (tok in lex.scales or tok in lex.articles)))


def read_number(toks: Sequence[str], i: int, lex: Lexicon) -> tuple[int, int] | None:
    """A whole number without scale words at toks[i:] ("25", "dua puluh lima"): (value, end)."""
    j = i
    while j < len(toks) and (digits(toks[j]) is not None or _is_number_word(toks[j], lex, False)):
        if j > i and digits(toks[j]) is not None:
            break  # "7 30": two numbers, not one
        j += 1
    if j == i:
        return None
    value, _ = evaluate(toks[i:j], lex)
    if value != int(value):
        return None
    return int(value), j


def evaluate(words: Sequence[str], lex: Lexicon) -> tuple[float, bool]:
    """The value of a run of number tokens and whether it held a scale word."""
    total = group = pending = 0.0
    has_scale = False
    for word in words:
        value = digits(word)
        if value is not None or word in lex.units:
            group += pending
            pending = value if value is not None else lex.units[word]
        elif word in lex.articles:
            if total == group == pending == 0:
                pending = 1.0
        elif word in lex.mul_last:
            pending = (pending or 1.0) * lex.mul_last[word]
        elif word in lex.add_last:
            pending += lex.add_last[word]
        elif word in lex.scales:
            base = group + pending
            total += (base or 1.0) * lex.scales[word]
            group = pending = 0.0
            has_scale = True
    return total + group + pending, has_scale


def _runs(toks: Sequence[str], lex: Lexicon, used: set[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(toks):
        j = i
        while j < len(toks) and j not in used and (
            digits(toks[j]) is not None or _is_number_word(toks[j], lex, True)
            or (j > i and toks[j] in lex.fillers)
        ):
            j += 1
        while j > i and toks[j - 1] in lex.fillers | lex.articles:
            j -= 1
        if j > i:
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


def _percent_after(toks: Sequence[str], end: int, lex: Lexicon) -> bool:
    return any(find(toks, p, end) == end for p in lex.percent)


def amount(toks: Sequence[str], lex: Lexicon, amount_due: int | None,
           used: set[int]) -> int | None:
    """The first amount of money in `toks` (skipping positions in `used`), or None."""
    for start, end in _runs(toks, lex, used):
        value, has_scale = evaluate(toks[start:end], lex)
        if _percent_after(toks, end, lex):
            if amount_due is not None and 0 < value <= 100:
                return int(amount_due * value / 100)
            continue
        if not has_scale and 0 < value < 1:
            if amount_due is not None:
                return int(amount_due * value)
            continue
        money = (start > 0 and toks[start - 1] in lex.currency) or (
            end < len(toks) and toks[end] in lex.currency)
        if value > 0 and (has_scale or money or value >= lex.min_bare):
            return round(value)
    return None
