"""A locale pack compiled into lookup tables for the NLU; compiled once per pack and cached."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from num2words import num2words

from agent.errors import ConfigError
from agent.locale import LocalePack, load_pack
from agent.nlu.text import Tokens, phrase_table, tokens
from agent.nlu.types import INTENTS


@dataclass(frozen=True, slots=True)
class Lexicon:
    exact: Mapping[Tokens, str]  # whole utterance -> intent
    ignore: tuple[Tokens, ...]  # phrases that never fill a slot ("selamat siang")
    keywords: Mapping[str, tuple[Tokens, ...]]  # intent -> patterns found anywhere
    units: Mapping[str, float]
    mul_last: Mapping[str, float]
    add_last: Mapping[str, float]
    scales: Mapping[str, float]
    fillers: frozenset[str]
    articles: frozenset[str]
    percent: tuple[Tokens, ...]
    currency: frozenset[str]
    min_bare: int
    relative: Mapping[Tokens, int]
    month_end: tuple[Tokens, ...]
    next_month_start: tuple[Tokens, ...]
    next_month: tuple[Tokens, ...]
    payday: tuple[Tokens, ...]
    day_markers: tuple[Tokens, ...]
    in_prefix: tuple[Tokens, ...]
    in_suffix: tuple[Tokens, ...]
    span_units: Mapping[str, int]
    months: Mapping[str, int]
    weekdays: Mapping[str, int]
    ordinals: Mapping[str, int]
    time_markers: tuple[Tokens, ...]
    half_before: frozenset[str]
    minute_joiners: frozenset[str]
    periods: Mapping[Tokens, str]
    time_defaults: Mapping[Tokens, str]


def _section(words: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = words.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"locale pack: [words.{name}] must be a table")
    return value


def _single(values: Any) -> frozenset[str]:
    return frozenset(t for v in values for t in tokens(str(v)))


def _numbers(value: Any) -> dict[str, float]:
    return {str(k).lower(): float(v) for k, v in dict(value).items()}


def _intent_tables(pack: LocalePack) -> tuple[dict[Tokens, str], dict[str, tuple[Tokens, ...]]]:
    exact: dict[Tokens, str] = {}
    keywords: dict[str, tuple[Tokens, ...]] = {}
    for intent in INTENTS:
        patterns: list[str] = []
        for phrase in pack.phrases.get(intent, ()):
            exact.setdefault(tokens(phrase), intent)
            if len(tokens(phrase)) > 1:
                patterns.append(phrase)
        for word in pack.keywords.get(intent, ()):
            if word.startswith("="):
                exact.setdefault(tokens(word[1:]), intent)
            else:
                patterns.append(word)
        keywords[intent] = phrase_table(patterns)
    exact.pop((), None)
    return exact, keywords


def _calendar(pack: LocalePack) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    words = pack.words
    months = {str(m).lower(): i + 1 for i, m in enumerate(words.get("months", []))}
    months.update({str(k).lower(): int(v) for k, v in words.get("month_aliases", {}).items()})
    weekdays = {str(d).lower(): i for i, d in enumerate(words.get("weekdays", []))}
    ordinals: dict[str, int] = {}
    for day in range(1, 32):
        try:
            word = str(num2words(day, lang=pack.number_lang, to="ordinal"))
        except NotImplementedError:
            break
        ordinals.setdefault(" ".join(tokens(word)), day)
    return months, weekdays, ordinals


def compile_pack(pack: LocalePack) -> Lexicon:
    """Build the lookup tables for `pack` (pure; use lexicon() for the cached copy)."""
    numbers = _section(pack.words, "numbers")
    dates = _section(pack.words, "dates")
    clock = _section(pack.words, "time")
    exact, keywords = _intent_tables(pack)
    months, weekdays, ordinals = _calendar(pack)
    return Lexicon(
        exact=exact, keywords=keywords, ignore=phrase_table(pack.words.get("ignore", [])),
        units=_numbers(numbers.get("units", {})),
        mul_last=_numbers(numbers.get("mul_last", {})),
        add_last=_numbers(numbers.get("add_last", {})),
        scales=_numbers(numbers.get("scales", {})),
        fillers=_single(numbers.get("fillers", [])),
        articles=_single(numbers.get("articles", [])),
        percent=phrase_table(numbers.get("percent", [])),
        currency=_single(numbers.get("currency", [])),
        min_bare=int(numbers.get("min_bare", 1000)),
        relative={tokens(k): int(v) for k, v in dates.get("relative", {}).items()},
        month_end=phrase_table(dates.get("month_end", [])),
        next_month_start=phrase_table(dates.get("next_month_start", [])),
        next_month=phrase_table(dates.get("next_month", [])),
        payday=phrase_table(dates.get("payday", [])),
        day_markers=phrase_table(dates.get("day_markers", [])),
        in_prefix=phrase_table(dates.get("in_prefix", [])),
        in_suffix=phrase_table(dates.get("in_suffix", [])),
        span_units={str(k).lower(): int(v) for k, v in dates.get("units", {}).items()},
        months=months, weekdays=weekdays, ordinals=ordinals,
        time_markers=phrase_table(clock.get("markers", [])),
        half_before=_single(clock.get("half_before", [])),
        minute_joiners=_single(clock.get("minute_joiners", [])),
        periods={tokens(k): str(v) for k, v in clock.get("periods", {}).items()},
        time_defaults={tokens(k): str(v) for k, v in clock.get("defaults", {}).items()},
    )


@functools.lru_cache(maxsize=32)
def _cached(path: str) -> Lexicon:
    return compile_pack(load_pack(path))


def lexicon(pack: LocalePack) -> Lexicon:
    """The compiled tables for `pack`, cached by the pack's directory."""
    if pack is load_pack(pack.path):
        return _cached(pack.path)
    return compile_pack(pack)
