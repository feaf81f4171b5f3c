"""agent.cadence: retries by outcome, follow-ups, payday alignment, best-hour choice."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent import cadence
from agent.cadence import RetryRule, RetryRules

JKT = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Mon 10:00 WIB


@pytest.mark.parametrize(("disp", "n", "delay", "kind"), [
    ("NO_ANSWER", 1, timedelta(hours=2), "retry"),
    ("NO_ANSWER", 3, timedelta(days=1), "regular"),
    ("BUSY", 2, timedelta(minutes=15), "retry"),
    ("MACHINE", 2, timedelta(days=1), "regular"),
    ("FAILED", 1, timedelta(hours=1), "retry"),
    ("REFUSED", 0, timedelta(days=1), "regular"),
])
def test_retry_by_outcome(disp: str, n: int, delay: timedelta, kind: str) -> None:
    f = cadence.follow_up(disp, kind="regular", consecutive=n, now=NOW, tz=JKT,
                          rules=RetryRules())
    assert (f.at, f.kind, f.close) == (NOW + delay, kind, False)


def test_retry_rules_from_campaign_json() -> None:
    rules = RetryRules.from_json({"BUSY": {"delay_s": 60, "max": 5}, "cycle_gap_s": 7200})
    assert rules.rules["BUSY"] == RetryRule(60, 5)
    assert rules.rules["NO_ANSWER"] == cadence.DEFAULT_RETRY["NO_ANSWER"]
    assert rules.cycle_gap_s == 7200


def test_opt_out_and_dispute_stop() -> None:
    for disp in ("OPT_OUT", "DISPUTE"):
        f = cadence.follow_up(disp, kind="regular", consecutive=0, now=NOW, tz=JKT,
                              rules=RetryRules())
        assert f.close and f.at is None


def test_callback_at_requested_time() -> None:
    at = NOW + timedelta(hours=9)
    f = cadence.follow_up("CALLBACK", kind="regular", consecutive=0, now=NOW, tz=JKT,
                          rules=RetryRules(), callback_at=at)
    assert (f.at, f.kind) == (at, "callback")


def test_promise_gets_reminder_the_day_before_then_waits() -> None:
    f = cadence.follow_up("PTP_FULL", kind="regular", consecutive=0, now=NOW, tz=JKT,
                          rules=RetryRules(), promise_date=date(2026, 12, 11))
    assert (f.at, f.kind) == (datetime(2026, 12, 9, 17, 0, tzinfo=UTC), "reminder")  # 10th WIB
    after = cadence.follow_up("PTP_FULL", kind="reminder", consecutive=0, now=NOW, tz=JKT,
                              rules=RetryRules(), promise_date=date(2026, 12, 11))
    assert (after.at, after.kind) == (None, "recontact")
    soon = cadence.follow_up("PTP_FULL", kind="regular", consecutive=0, now=NOW, tz=JKT,
                             rules=RetryRules(), promise_date=date(2026, 12, 8))
    assert soon.at is None  # the day before is today: no reminder


@pytest.mark.parametrize(("today", "payday", "expected"), [
    (date(2026, 12, 22), 25, date(2026, 12, 25)),
    (date(2026, 12, 20), 25, None),  # five days ahead: do not wait
    (date(2026, 12, 25), 25, None),  # payday itself: call now
    (date(2027, 2, 26), 31, date(2027, 2, 28)),  # clamped to February's end
    (date(2026, 12, 30), 1, date(2027, 1, 1)),
    (date(2026, 12, 30), None, None),
])
def test_payday_alignment(today: date, payday: int | None, expected: date | None) -> None:
    assert cadence.payday_aligned(today, payday) == expected


def test_best_slot_prefers_learned_hour_and_segment() -> None:
    start = datetime(2026, 12, 7, 8, 0, tzinfo=JKT)
    cands = cadence.hour_candidates([(start, start.replace(hour=20))], timedelta(hours=24))
    assert [c.hour for c in cands] == list(range(8, 20))
    debtor = {19: (4, 4), 9: (5, 0)}
    best = cadence.best_slot(cands, debtor, {}, random.Random(1), 0.0)
    assert best is not None and best.hour == 19
    seg_only = cadence.best_slot(cands, {}, {12: (100, 80)}, random.Random(1), 0.0)
    assert seg_only is not None and seg_only.hour == 12
    assert cadence.best_slot(cands, {}, {}, random.Random(1), 0.0) == cands[0]


def test_exploration_picks_other_hours_sometimes() -> None:
    start = datetime(2026, 12, 7, 8, 0, tzinfo=JKT)
    cands = cadence.hour_candidates([(start, start.replace(hour=20))], timedelta(hours=24))
    rng = random.Random(7)
    hours = {cadence.best_slot(cands, {19: (9, 9)}, {}, rng, 0.3).hour  # type: ignore[union-attr]
             for _ in range(200)}
    assert 19 in hours and len(hours) > 5
