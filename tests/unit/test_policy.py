"""agent.policy: windows, holidays, zones, DST, caps, Reg F, DNC, consent (tables + properties)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import policy
from agent.errors import PolicyViolation
from agent.policy import CampaignRules, Consent, DebtorRules, History

JKT, MKS, JAP = "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"
OJK = CampaignRules("id-ojk", 3, 10)
US = CampaignRules("us-fdcpa", 0, 0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("now", "tz", "allowed", "why"), [
    (utc(2026, 12, 7, 1, 0), JKT, True, "Mon 08:00 WIB"),
    (utc(2026, 12, 7, 0, 59), JKT, False, "Mon 07:59 WIB"),
    (utc(2026, 12, 7, 12, 59), JKT, True, "Mon 19:59 WIB"),
    (utc(2026, 12, 7, 13, 0), JKT, False, "Mon 20:00 WIB (end is exclusive)"),
    (utc(2026, 12, 7, 0, 0), MKS, True, "Mon 08:00 WITA"),
    (utc(2026, 12, 6, 23, 59), MKS, False, "Sun 07:59 WITA"),
    (utc(2026, 12, 6, 23, 0), JAP, True, "Mon 08:00 WIT"),
    (utc(2026, 12, 7, 11, 0), JAP, False, "Mon 20:00 WIT"),
    (utc(2026, 12, 6, 3, 0), JKT, False, "Sunday 10:00 WIB"),
    (utc(2026, 12, 5, 3, 0), JKT, True, "Saturday 10:00 WIB"),
    (utc(2026, 12, 25, 3, 0), JKT, False, "Christmas 2026"),
    (utc(2026, 8, 17, 3, 0), MKS, False, "Independence Day"),
    (utc(2026, 3, 21, 3, 0), JAP, False, "Eid al-Fitr 2026 (a Saturday)"),
])
def test_id_ojk_window(now: datetime, tz: str, allowed: bool, why: str) -> None:
    d = policy.decide(now, DebtorRules(tz), History(), OJK)
    assert d.allowed is allowed, (why, d.reason)
    assert d.checks["window"].startswith("pass" if allowed else "fail")
    if not allowed:
        assert d.next_allowed is not None and d.next_allowed > now
        assert policy.decide(d.next_allowed, DebtorRules(tz), History(), OJK).allowed


def test_christmas_next_allowed_is_saturday_morning() -> None:
    d = policy.decide(utc(2026, 12, 24, 14, 0), DebtorRules(JKT), History(), OJK)
    assert d.next_allowed == utc(2026, 12, 26, 1, 0)  # Sat 08:00 WIB (25th holiday)


@pytest.mark.parametrize(("now", "tz", "allowed"), [
    (utc(2026, 3, 7, 12, 30), "America/New_York", False),  # 07:30 EST the day before DST
    (utc(2026, 3, 8, 12, 30), "America/New_York", True),  # same UTC time: 08:30 EDT
    (utc(2026, 3, 8, 11, 59), "America/New_York", False),  # 07:59 EDT
    (utc(2026, 11, 1, 12, 30), "America/New_York", False),  # 07:30 EST after fall back
    (utc(2026, 11, 1, 13, 0), "America/New_York", True),  # 08:00 EST
    (utc(2026, 12, 27, 16, 0), "America/Los_Angeles", True),  # Sunday 08:00 PST: allowed
    (utc(2026, 12, 28, 5, 0), "America/Los_Angeles", False),  # 21:00 PST
    (utc(2026, 12, 25, 20, 0), "America/Chicago", True),  # no holiday rule under FDCPA
])
def test_us_fdcpa_window_and_dst(now: datetime, tz: str, allowed: bool) -> None:
    assert policy.decide(now, DebtorRules(tz), History(), US).allowed is allowed


def test_us_intervals_follow_dst() -> None:
    spans = policy.allowed_intervals("us-fdcpa", "America/New_York", date(2026, 3, 7), 2)
    assert [(s.isoformat(), e.isoformat()) for s, e in spans] == [
        ("2026-03-07T08:00:00-05:00", "2026-03-07T21:00:00-05:00"),
        ("2026-03-08T08:00:00-04:00", "2026-03-08T21:00:00-04:00")]


def test_ojk_intervals_skip_sunday_and_christmas() -> None:
    spans = policy.allowed_intervals("id-ojk", JAP, date(2026, 12, 24), 4)
    assert policy.intervals_json(spans) == [
        ["2026-12-24T08:00:00+09:00", "2026-12-24T20:00:00+09:00"],
        ["2026-12-26T08:00:00+09:00", "2026-12-26T20:00:00+09:00"]]


def test_preferred_hours_narrow_the_window() -> None:
    debtor = DebtorRules(JKT, preferred_start=time(18), preferred_end=time(22))
    assert not policy.decide(utc(2026, 12, 7, 10, 0), debtor, History(), OJK).allowed  # 17:00
    assert policy.decide(utc(2026, 12, 7, 11, 30), debtor, History(), OJK).allowed  # 18:30
    assert not policy.decide(utc(2026, 12, 7, 13, 30), debtor, History(), OJK).allowed  # 20:30


def test_consent_allows_outside_hours_only_while_valid() -> None:
    consent = Consent(policy.CONSENT_OUTSIDE_HOURS, utc(2026, 12, 1), utc(2026, 12, 10))
    debtor = DebtorRules(JKT, preferred_start=time(20), preferred_end=time(21),
                         consents=(consent,))
    inside = policy.decide(utc(2026, 12, 6, 13, 30), debtor, History(), OJK)  # Sunday 20:30
    assert inside.allowed and inside.checks["consent"] == "outside_hours"
    assert not policy.decide(utc(2026, 12, 13, 13, 30), debtor, History(), OJK).allowed


def test_dnc_is_never_allowed_and_has_no_next_time() -> None:
    d = policy.decide(utc(2026, 12, 7, 3), DebtorRules(JKT, dnc=True), History(), OJK)
    assert (d.allowed, d.next_allowed, d.reason) == (False, None, "number on do-not-call list")


def test_day_cap_moves_to_next_day() -> None:
    now = utc(2026, 12, 7, 5)  # Mon 12:00 WIB
    hist = History(attempts=(utc(2026, 12, 7, 1), utc(2026, 12, 7, 2), utc(2026, 12, 7, 3)))
    d = policy.decide(now, DebtorRules(JKT), hist, OJK)
    assert not d.allowed and "cap_day" in d.checks
    assert d.next_allowed == utc(2026, 12, 8, 1)  # Tue 08:00 WIB


def test_week_cap() -> None:
    hist = History(attempts=tuple(utc(2026, 12, 1 + i, 2) for i in range(5)))
    d = policy.decide(utc(2026, 12, 7, 5), DebtorRules(JKT), hist, CampaignRules("id-ojk", 0, 5))
    assert not d.allowed and d.checks["cap_week"].startswith("fail")
    assert d.next_allowed == utc(2026, 12, 8, 2)  # the oldest (Dec 1 02:00) leaves the 7 days


def test_reg_f_seven_in_seven_and_conversation() -> None:
    tz = "America/New_York"
    calls = tuple(utc(2026, 12, 1 + i, 15) for i in range(7))
    d = policy.decide(utc(2026, 12, 7, 20), DebtorRules(tz), History(calls), US)
    assert not d.allowed and "reg_f_7in7" in d.checks
    talk = History(conversations=(utc(2026, 12, 2, 15),))
    d2 = policy.decide(utc(2026, 12, 7, 20), DebtorRules(tz), talk, US)
    assert not d2.allowed and "reg_f_conversation" in d2.checks
    assert d2.next_allowed == utc(2026, 12, 9, 15)


def test_unknown_profile_and_zone_raise() -> None:
    with pytest.raises(PolicyViolation, match="unknown window profile"):
        policy.allowed_intervals("nope", JKT, date(2026, 1, 1), 1)
    with pytest.raises(PolicyViolation, match="unknown time zone"):
        policy.decide(utc(2026, 1, 1), DebtorRules("Mars/Base"), History(), OJK)


# --- properties ------------------------------------------------------------------------------

ZONES = st.sampled_from([JKT, MKS, JAP, "America/New_York", "America/Los_Angeles",
                         "America/Chicago", "Europe/London", "Australia/Lord_Howe",
                         "Asia/Kathmandu", "Pacific/Chatham"])
INSTANTS = st.datetimes(datetime(2025, 12, 15), datetime(2027, 1, 15)).map(
    lambda d: d.replace(tzinfo=UTC))


@st.composite
def histories(draw: st.DrawFn, now: datetime) -> History:
    offsets = draw(st.lists(st.integers(0, 8 * 24 * 60), max_size=14))
    talks = draw(st.lists(st.integers(0, 8 * 24 * 60), max_size=2))
    return History(tuple(sorted(now - timedelta(minutes=m) for m in offsets)),
                   tuple(sorted(now - timedelta(minutes=m) for m in talks)))


def _legal(at: datetime, tz: str, prof: str) -> bool:
    p = policy.PROFILES[prof]
    local = at.astimezone(policy.zone(tz))
    return (p.start <= local.time() < p.end and local.weekday() in p.weekdays
            and not policy.is_holiday(p, local.date()))


def _caps_ok(at: datetime, tz: str, hist: History, rules: CampaignRules) -> bool:
    local_day = at.astimezone(policy.zone(tz)).date()
    past = [a for a in hist.attempts if a <= at]
    day = [a for a in past if a.astimezone(policy.zone(tz)).date() == local_day]
    week = [a for a in past if a > at - timedelta(days=7)]
    ok = (rules.max_per_day == 0 or len(day) < rules.max_per_day) and (
        rules.max_per_week == 0 or len(week) < rules.max_per_week)
    if rules.profile == "us-fdcpa":
        ok = ok and len(week) < 7 and not any(
            at - timedelta(days=7) < c <= at for c in hist.conversations)
    return ok


@settings(max_examples=300, deadline=None)
@given(data=st.data(), tz=ZONES, now=INSTANTS, prof=st.sampled_from(["id-ojk", "us-fdcpa"]),
       dnc=st.booleans(), day_cap=st.integers(0, 4), week_cap=st.integers(0, 12))
def test_property_allowed_and_next_allowed_are_legal(
        data: st.DataObject, tz: str, now: datetime, prof: str, dnc: bool, day_cap: int,
        week_cap: int) -> None:
    hist = data.draw(histories(now))
    rules = CampaignRules(prof, day_cap, week_cap)
    debtor = DebtorRules(tz, "+6281234567890", dnc=dnc)
    d = policy.decide(now, debtor, hist, rules)
    for at in [now] if d.allowed else [d.next_allowed] if d.next_allowed else []:
        assert not dnc
        assert _legal(at, tz, prof), (at, d)
        assert _caps_ok(at, tz, hist, rules), (at, d)
    if dnc:
        assert not d.allowed and d.next_allowed is None
    if not d.allowed and d.next_allowed is not None:
        assert d.next_allowed >= now


@settings(max_examples=100, deadline=None)
@given(tz=ZONES, start=st.dates(date(2025, 12, 1), date(2026, 12, 31)),
       days=st.integers(1, 20), prof=st.sampled_from(["id-ojk", "us-fdcpa"]))
def test_property_intervals_are_inside_the_legal_window(tz: str, start: date, days: int,
                                                       prof: str) -> None:
    for s, e in policy.allowed_intervals(prof, tz, start, days):
        assert s < e
        assert _legal(s, tz, prof)
        assert _legal(e - timedelta(seconds=1), tz, prof)
        assert s.utcoffset() == s.astimezone(policy.zone(tz)).utcoffset()
