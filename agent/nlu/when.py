"""Dates and clock times, resolved against a given today and the debtor's payday.

Dates: ISO, relative words (besok, lusa, tomorrow, next week), "in 3 days"/"3 hari lagi", end of
month, next month, payday/gajian (next occurrence of the payday day of month), "tanggal 25",
"on the 20th", "25 Desember", "December 20", weekdays (the next one after today).
Times: "jam 7 malam" -> 19:00, "at 7 pm", "7:30", "jam setengah 8" -> 07:30, "sore" -> 16:00.
An hour 1-7 with no part of day is taken as afternoon/evening (calls run 08:00-20:00).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import date, timedelta

from agent.nlu.lexicon import Lexicon
from agent.nlu.numbers import read_number
from agent.nlu.text import Tokens, find, spans

_CLOCK = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ORDINAL_SUFFIX = frozenset({"st", "nd", "rd", "th"})


def _clip(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _add_months(d: date, months: int, day: int | None = None) -> date:
    index = d.year * 12 + d.month - 1 + months
    return _clip(index // 12, index % 12 + 1, day or d.day)


def next_day_of_month(today: date, day: int) -> date:
    """The next date (today included) falling on `day` of a month (clipped to month length)."""
    this = _clip(today.year, today.month, day)
    return this if this >= today else _add_months(today, 1, day)


def _day_month(today: date, day: int, month: int | None) -> date | None:
    if not 1 <= day <= 31:
        return None
    if month is None:
        return next_day_of_month(today, day)
    candidate = _clip(today.year, month, day)
    return candidate if candidate >= today else _clip(today.year + 1, month, day)


def _hour(hour: int, minute: int, period: str | None) -> str | None:
    if period == "am":
        hour = 0 if hour == 12 else hour
    elif period == "pm" or (period == "noon" and hour <= 6):
        hour = hour + 12 if hour < 12 else hour
    elif period is None and 1 <= hour <= 7:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return f"{hour:02d}:{minute:02d}"


def _period_at(toks: Sequence[str], i: int, lex: Lexicon) -> tuple[str | None, int]:
    for phrase, kind in sorted(lex.periods.items(), key=lambda kv: -len(kv[0])):
        if find(toks, phrase, i) == i:
            return (None if kind == "none" else kind), i + len(phrase)
    return None, i


def _clock_at(toks: Sequence[str], i: int, lex: Lexicon) -> tuple[int, int, int] | None:
    """(hour, minute, end) for a clock expression starting at toks[i]."""
    if i >= len(toks):
        return None
    match = _CLOCK.match(toks[i])
    if match:
        return int(match.group(1)), int(match.group(2)), i + 1
    if toks[i] in lex.half_before:
        number = read_number(toks, i + 1, lex)
        return (number[0] - 1, 30, number[1]) if number and number[0] >= 1 else None
    number = read_number(toks, i, lex)
    if number is None or number[0] > 24:
        return None
    hour, end = number
    if end < len(toks) and toks[end] in lex.minute_joiners:
        minutes = read_number(toks, end + 1, lex)
        if minutes and minutes[0] < 60:
            return hour, minutes[0], minutes[1]
    return hour, 0, end


def clock_time(toks: Sequence[str], lex: Lexicon, used: set[int]) -> str | None:
    """The first explicit clock time in `toks` ("jam 7", "7 pm"); marks the tokens it used."""
    for i in range(len(toks)):
        marker = next((m for m in lex.time_markers if find(toks, m, i) == i), None)
        start = i + len(marker) if marker else i
        clock = _clock_at(toks, start, lex)
        if clock is None or any(p in used for p in range(i, clock[2])):
            continue
        hour, minute, end = clock
        period, after = _period_at(toks, end, lex)
        explicit = marker is not None or after > end or _CLOCK.match(toks[start]) is not None
        if not explicit or (end < len(toks) and toks[end] in _ORDINAL_SUFFIX):
            continue
        value = _hour(hour, minute, period)
        if value:
            used.update(range(i, after))
            return value
    return None


def part_of_day(toks: Sequence[str], lex: Lexicon, used: set[int]) -> str | None:
    """The default time of a part-of-day word ("sore" -> 16:00), tokens left unmarked."""
    hits = spans(toks, lex.time_defaults, set(used))
    return lex.time_defaults[hits[0][1]] if hits else None


def _fixed(toks: Sequence[str], lex: Lexicon, today: date, payday: int | None,
           used: set[int]) -> list[tuple[int, date | None]]:
    found: list[tuple[int, date | None]] = []
    for i, tok in enumerate(toks):
        if _ISO.match(tok):
            try:
                found.append((i, date.fromisoformat(tok)))
                used.add(i)
            except ValueError:
                continue
    for i, phrase in spans(toks, lex.relative, used):
        found.append((i, today + timedelta(days=lex.relative[phrase])))
    last = calendar.monthrange(today.year, today.month)[1]
    for i, _ in spans(toks, lex.month_end, used):
        found.append((i, today.replace(day=last)))
    for i, _ in spans(toks, lex.next_month_start, used):
        found.append((i, _add_months(today, 1, 1)))
    for i, _ in spans(toks, lex.next_month, used):
        found.append((i, _add_months(today, 1)))
    for i, _ in spans(toks, lex.payday, used):
        found.append((i, next_day_of_month(today, payday) if payday else None))
    return found


def _in_n(toks: Sequence[str], lex: Lexicon, today: date,
          used: set[int]) -> list[tuple[int, date | None]]:
    found: list[tuple[int, date | None]] = []
    for i in range(len(toks)):
        prefix = next((p for p in lex.in_prefix if find(toks, p, i) == i), ())
        start = i + len(prefix)
        number = read_number(toks, start, lex)
        if number is None or number[1] >= len(toks) or toks[number[1]] not in lex.span_units:
            continue
        end = number[1] + 1
        suffix = next((s for s in lex.in_suffix if find(toks, s, end) == end), ())
        if not prefix and not suffix:
            continue
        stop = end + len(suffix)
        if any(p in used for p in range(i, stop)):
            continue
        used.update(range(i, stop))
        found.append((i, today + timedelta(days=number[0] * lex.span_units[toks[number[1]]])))
    return found


def _month_at(toks: Sequence[str], i: int, lex: Lexicon) -> tuple[int | None, int]:
    if i < len(toks) and toks[i] == "of":
        i += 1
    if i < len(toks) and toks[i] in lex.months:
        return lex.months[toks[i]], i + 1
    return None, i


def _day_at(toks: Sequence[str], i: int, lex: Lexicon) -> tuple[int, int] | None:
    for words in sorted(lex.ordinals, key=lambda w: -len(w.split())):
        phrase: Tokens = tuple(words.split())
        if find(toks, phrase, i) == i:
            return lex.ordinals[words], i + len(phrase)
    number = read_number(toks, i, lex)
    if number is None:
        return None
    end = number[1] + (1 if number[1] < len(toks) and toks[number[1]] in _ORDINAL_SUFFIX else 0)
    return number[0], end


def _days_of_month(toks: Sequence[str], lex: Lexicon, today: date,
                   used: set[int]) -> list[tuple[int, date | None]]:
    found: list[tuple[int, date | None]] = []
    for i in range(len(toks)):
        if i in used:
            continue
        marker = next((m for m in lex.day_markers if find(toks, m, i) == i), ())
        month_first, after_month = _month_at(toks, i, lex) if not marker else (None, i)
        start = after_month if month_first else i + len(marker)
        day = _day_at(toks, start, lex)
        if day is None:
            continue
        month, end = (month_first, day[1]) if month_first else _month_at(toks, day[1], lex)
        suffixed = day[1] > start and toks[day[1] - 1] in _ORDINAL_SUFFIX
        if not (marker or month or suffixed) or any(p in used for p in range(i, end)):
            continue
        later = next((m for m in lex.next_month if find(toks, m, end) == end), ())
        if later and month is None and 1 <= day[0] <= 31:
            used.update(range(i, end + len(later)))
            found.append((i, _add_months(today, 1, day[0])))
            continue
        resolved = _day_month(today, day[0], month)
        if resolved:
            used.update(range(i, end))
            found.append((i, resolved))
    return found


def _weekdays(toks: Sequence[str], lex: Lexicon, today: date,
              used: set[int]) -> list[tuple[int, date | None]]:
    found: list[tuple[int, date | None]] = []
    for i, tok in enumerate(toks):
        if i not in used and tok in lex.weekdays:
            ahead = (lex.weekdays[tok] - today.weekday() - 1) % 7 + 1
            used.add(i)
            found.append((i, today + timedelta(days=ahead)))
    return found


def dates(toks: Sequence[str], lex: Lexicon, today: date, payday: int | None,
          used: set[int]) -> list[tuple[int, date | None]]:
    """Every date mention as (position, date or None if unresolvable), in spoken order."""
    found = _days_of_month(toks, lex, today, used)
    found += _fixed(toks, lex, today, payday, used)
    found += _in_n(toks, lex, today, used)
    found += _weekdays(toks, lex, today, used)
    return sorted(found, key=lambda item: item[0])
