"""Pure scheduling choices: retries by outcome, follow-ups, payday alignment, the best hour.

No I/O and no clock: the scheduler passes `now` and what the store knows.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

RETRYABLE = frozenset({"NO_ANSWER", "BUSY", "MACHINE", "FAILED"})
# a right-party conversation about the debt (Reg F's 7-day quiet period starts from these)
CONVERSATION = frozenset({"PTP_FULL", "PTP_PARTIAL", "DELAY_AGREED", "ALREADY_PAID", "DISPUTE",
                          "HARDSHIP", "CALLBACK", "REFUSED"})
PROMISED = frozenset({"PTP_FULL", "PTP_PARTIAL", "DELAY_AGREED"})
STOP = frozenset({"OPT_OUT", "DISPUTE"})

HourStats = Mapping[int, tuple[int, int]]  # local hour -> (tries, answers)


@dataclass(frozen=True, slots=True)
class RetryRule:
    delay_s: int
    max_attempts: int


DEFAULT_RETRY: dict[str, RetryRule] = {
    "NO_ANSWER": RetryRule(2 * 3600, 3),
    "BUSY": RetryRule(15 * 60, 3),
    "MACHINE": RetryRule(4 * 3600, 2),
    "FAILED": RetryRule(3600, 2),
}


@dataclass(frozen=True, slots=True)
class RetryRules:
    """Retry delay and maximum consecutive attempts per outcome; `cycle_gap_s` between cycles."""

    rules: Mapping[str, RetryRule] = field(default_factory=lambda: dict(DEFAULT_RETRY))
    cycle_gap_s: int = 86400

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetryRules:
        """From campaign retry JSON: {"NO_ANSWER": {"delay_s": 60, "max": 3}, "cycle_gap_s": 9}."""
        rules = dict(DEFAULT_RETRY)
        for key, value in data.items():
            if key in RETRYABLE and isinstance(value, Mapping):
                base = rules[key]
                rules[key] = RetryRule(int(value.get("delay_s", base.delay_s)),
                                       int(value.get("max", base.max_attempts)))
        return cls(rules, int(data.get("cycle_gap_s", 86400)))


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What to do after an attempt: next contact time (None: none planned) and its kind."""

    at: datetime | None
    kind: str
    reason: str
    close: bool = False


def local_day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def follow_up(disposition: str, *, kind: str, consecutive: int, now: datetime, tz: ZoneInfo,
              rules: RetryRules, callback_at: datetime | None = None,
              promise_date: date | None = None) -> FollowUp:
    """The next contact after an attempt of `kind` ended with `disposition`.

    `consecutive` counts the trailing attempts with this same disposition, this one included.
    `promise_date` is the date of a pending promise on the account, if any.
    """
    if disposition in STOP:
        return FollowUp(None, "regular", f"{disposition}: no more calls", close=True)
    if disposition in RETRYABLE:
        rule = rules.rules[disposition]
        if consecutive < rule.max_attempts:
            return FollowUp(now + timedelta(seconds=rule.delay_s), "retry",
                            f"{disposition} {consecutive}/{rule.max_attempts}: retry")
        return FollowUp(now + timedelta(seconds=rules.cycle_gap_s), "regular",
                        f"{disposition} {consecutive}/{rule.max_attempts}: next cycle")
    if disposition == "CALLBACK" and callback_at is not None:
        return FollowUp(max(callback_at, now), "callback", "debtor asked for a callback")
    if promise_date is not None:
        today = now.astimezone(tz).date()
        eve = promise_date - timedelta(days=1)
        if kind != "reminder" and eve > today:
            return FollowUp(local_day_start(eve, tz), "reminder", "reminder the day before")
        return FollowUp(None, "recontact", "waiting for the promise to be kept or broken")
    return FollowUp(now + timedelta(seconds=rules.cycle_gap_s), "regular", disposition)


def next_payday(today: date, payday: int) -> date:
    """The next date on or after `today` that is the payday (clamped to the month's end)."""
    for months in range(2):
        y, m = divmod(today.month - 1 + months, 12)
        year, month = today.year + y, m + 1
        day = min(payday, calendar.monthrange(year, month)[1])
        candidate = date(year, month, day)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable")


def payday_aligned(today: date, payday: int | None, lookahead_days: int = 3) -> date | None:
    """The payday to wait for when it is 1..lookahead days ahead; None means call now."""
    if payday is None:
        return None
    nxt = next_payday(today, payday)
    gap = (nxt - today).days
    return nxt if 0 < gap <= lookahead_days else None


def hour_score(hour: int, debtor: HourStats, segment: HourStats, prior_weight: float = 2.0
               ) -> float:
    """Smoothed answer rate: the debtor's record at `hour`, shrunk toward its segment's rate."""
    st, sa = segment.get(hour, (0, 0))
    seg_rate = (sa + 1) / (st + 2)
    dt, da = debtor.get(hour, (0, 0))
    return (da + prior_weight * seg_rate) / (dt + prior_weight)


def hour_candidates(intervals: Sequence[tuple[datetime, datetime]], horizon: timedelta
                    ) -> list[datetime]:
    """One candidate per local clock hour in the intervals, within `horizon` of the first."""
    out: list[datetime] = []
    for start, end in intervals:
        t = start
        while t < end:
            if out and t - out[0] >= horizon:
                return out
            out.append(t)
            t = (t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
            t = t.astimezone(UTC).astimezone(start.tzinfo)
    return out


def best_slot(candidates: Sequence[datetime], debtor: HourStats, segment: HourStats,
              rng: random.Random, epsilon: float) -> datetime | None:
    """The candidate at the best-answering local hour (earliest on ties); explore with epsilon."""
    if not candidates:
        return None
    if epsilon > 0 and rng.random() < epsilon:
        return rng.choice(list(candidates))
    return max(candidates, key=lambda t: (hour_score(t.hour, debtor, segment), -t.timestamp()))
