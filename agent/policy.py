"""Pure compliance rules: calling windows, caps, Reg F, DNC and consent overrides.

Nothing here does I/O or reads the clock: callers pass `now_utc` and what the store knows.

Profiles (debtor local time):
  id-ojk    Mon-Sat 08:00-20:00, never on Indonesian national holidays (`holidays` library).
  us-fdcpa  08:00-21:00 every day; Reg F 1006.14: at most 7 calls in 7 days per debt and none
            within 7 days after a conversation about it.
Per-debtor preferred hours narrow the legal window. A recorded consent of kind
`outside_hours` valid at the time replaces the legal window by the preferred hours (or by no
time-of-day limit when the debtor gave none); caps, Reg F and DNC still apply.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from agent.errors import PolicyViolation

CONSENT_OUTSIDE_HOURS = "outside_hours"
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_SEARCH_DAYS = 62


@dataclass(frozen=True, slots=True)
class WindowProfile:
    """A legal calling window in the debtor's local time."""

    name: str
    start: time
    end: time
    weekdays: frozenset[int]  # 0 = Monday
    holiday_country: str | None = None
    reg_f: bool = False  # 7 calls in 7 days per debt; none within 7 days after a conversation


PROFILES: dict[str, WindowProfile] = {
    "id-ojk": WindowProfile("id-ojk", time(8), time(20), frozenset(range(6)), "ID"),
    "us-fdcpa": WindowProfile("us-fdcpa", time(8), time(21), frozenset(range(7)), None, True),
}


@dataclass(frozen=True, slots=True)
class Consent:
    """A recorded consent; `valid_from`/`valid_to` are aware datetimes or None (open)."""

    kind: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def valid_at(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True, slots=True)
class DebtorRules:
    """What the policy needs to know about one debtor and the number to dial."""

    tz: str
    number: str = ""
    preferred_start: time | None = None
    preferred_end: time | None = None
    consents: tuple[Consent, ...] = ()
    dnc: bool = False  # the number (or the debtor) is on the do-not-call list


@dataclass(frozen=True, slots=True)
class History:
    """Past dials of this debtor/debt (aware UTC) and conversations (right-party contacts)."""

    attempts: tuple[datetime, ...] = ()
    conversations: tuple[datetime, ...] = ()


@dataclass(frozen=True, slots=True)
class CampaignRules:
    """Per-campaign limits; caps of 0 mean no cap (Reg F still applies under us-fdcpa)."""

    profile: str = "id-ojk"
    max_per_day: int = 3
    max_per_week: int = 10


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one dial/no-dial decision, with every check that was made."""

    allowed: bool
    reason: str
    checks: dict[str, str] = field(default_factory=dict)
    next_allowed: datetime | None = None


def profile(name: str) -> WindowProfile:
    """The window profile called `name`, or PolicyViolation naming the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise PolicyViolation(
            f"unknown window profile {name!r} (known: {', '.join(sorted(PROFILES))})") from None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or PolicyViolation."""
    return _zone(name)


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyViolation(f"unknown time zone {name!r}") from None


@functools.lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year).keys())


def is_holiday(prof: WindowProfile, day: date) -> bool:
    """True when `day` is a national holiday under the profile's calendar."""
    return prof.holiday_country is not None and day in _holidays(prof.holiday_country, day.year)


def _day_window(prof: WindowProfile, debtor: DebtorRules, day: date,
                consent: bool) -> tuple[time, time] | None:
    """The local [start, end) time window for `day`, or None when no call is allowed."""
    pref = (debtor.preferred_start, debtor.preferred_end)
    if consent:
        if pref[0] is not None and pref[1] is not None:
            return pref[0], pref[1]
        return time(0), time.max
    if day.weekday() not in prof.weekdays or is_holiday(prof, day):
        return None
    start, end = prof.start, prof.end
    if pref[0] is not None and pref[1] is not None:
        start, end = max(start, pref[0]), min(end, pref[1])
    return (start, end) if start < end else None


def _local_interval(day: date, window: tuple[time, time], tz: ZoneInfo
                    ) -> tuple[datetime, datetime]:
    start = datetime.combine(day, window[0], tz)
    end = (datetime.combine(day + _DAY, time(0), tz) if window[1] == time.max
           else datetime.combine(day, window[1], tz))
    # normalise through UTC so a wall time inside a DST gap becomes a real instant
    return (start.astimezone(UTC).astimezone(tz), end.astimezone(UTC).astimezone(tz))


def allowed_intervals(prof_name: str, tz_name: str, start_date: date, days: int,
                      debtor: DebtorRules | None = None, consent: bool = False
                      ) -> list[tuple[datetime, datetime]]:
    """The allowed [start, end) intervals, local aware datetimes, for `days` days from start_date.

    Only the time window is considered here (profile, holidays, preferred hours, consent);
    caps and DNC depend on history and are checked by `decide`.
    """
    prof, tz = profile(prof_name), zone(tz_name)
    rules = debtor or DebtorRules(tz=tz_name)
    out: list[tuple[datetime, datetime]] = []
    for i in range(max(days, 0)):
        day = start_date + timedelta(days=i)
        window = _day_window(prof, rules, day, consent)
        if window is not None:
            out.append(_local_interval(day, window, tz))
    return out


def consent_at(debtor: DebtorRules, at: datetime) -> bool:
    """True when the debtor consented to calls outside the legal window, valid at `at`."""
    return any(c.kind == CONSENT_OUTSIDE_HOURS and c.valid_at(at) for c in debtor.consents)


def _window_check(prof: WindowProfile, debtor: DebtorRules, now: datetime
                  ) -> tuple[bool, str, datetime | None]:
    tz = zone(debtor.tz)
    local = now.astimezone(tz)
    consent = consent_at(debtor, now)
    for offset in range(_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset - 1)
        window = _day_window(prof, debtor, day, consent)
        if window is None:
            continue
        start, end = _local_interval(day, window, tz)
        if start <= now < end:
            return True, f"inside window at {local:%a %H:%M} local", None
        if now < start:
            return False, f"outside window at {local:%a %Y-%m-%d %H:%M} local", start
    return False, "no window in the next two months", None


def _cap_checks(prof: WindowProfile, debtor: DebtorRules, history: History,
                rules: CampaignRules, now: datetime) -> list[tuple[str, str, datetime | None]]:
    """Failed cap checks as (name, reason, earliest time the cap no longer blocks)."""
    fails: list[tuple[str, str, datetime | None]] = []
    tz = zone(debtor.tz)
    past = sorted(a for a in history.attempts if a <= now)
    today = now.astimezone(tz).date()
    same_day = [a for a in past if a.astimezone(tz).date() == today]
    if rules.max_per_day > 0 and len(same_day) >= rules.max_per_day:
        tomorrow = datetime.combine(today + _DAY, time(0), tz).astimezone(UTC)
        fails.append(("cap_day", f"{len(same_day)} attempts today >= cap {rules.max_per_day}",
                      tomorrow))
    week = [a for a in past if a > now - _WEEK]
    if rules.max_per_week > 0 and len(week) >= rules.max_per_week:
        fails.append(("cap_week", f"{len(week)} attempts in 7 days >= cap {rules.max_per_week}",
                      week[len(week) - rules.max_per_week] + _WEEK))
    if prof.reg_f:
        if len(week) >= 7:
            fails.append(("reg_f_7in7", f"{len(week)} calls in 7 days (Reg F limit 7)",
                          week[len(week) - 7] + _WEEK))
        talks = [c for c in history.conversations if now - _WEEK < c <= now]
        if talks:
            fails.append(("reg_f_conversation", "conversation about this debt within 7 days",
                          max(talks) + _WEEK))
    return fails


def _check_once(now: datetime, debtor: DebtorRules, history: History, rules: CampaignRules
                ) -> tuple[dict[str, str], str | None, datetime | None]:
    prof = profile(rules.profile)
    checks: dict[str, str] = {"profile": prof.name, "tz": debtor.tz}
    if debtor.dnc:
        checks["dnc"] = "fail: number on do-not-call list"
        return checks, "number on do-not-call list", None
    checks["dnc"] = "pass"
    ok, why, nxt = _window_check(prof, debtor, now)
    checks["window"] = ("pass: " if ok else "fail: ") + why
    if consent_at(debtor, now):
        checks["consent"] = CONSENT_OUTSIDE_HOURS
    if not ok:
        return checks, why, nxt
    fails = _cap_checks(prof, debtor, history, rules, now)
    for name, reason, _ in fails:
        checks[name] = "fail: " + reason
    checks.setdefault("caps", "pass" if not fails else "fail")
    if fails:
        later = [t for _, _, t in fails if t is not None]
        return checks, fails[0][1], max(later) if later else None
    return checks, None, None


def decide(now_utc: datetime, debtor: DebtorRules, history: History,
           rules: CampaignRules) -> Decision:
    """May we dial `debtor` at `now_utc`? With the reason, every check, and the next allowed time.

    `next_allowed` is the earliest instant at or after now_utc at which every rule passes
    (None when dialling is allowed now, or never again, e.g. DNC).
    """
    if now_utc.tzinfo is None:
        raise PolicyViolation("decide() needs an aware datetime")
    checks, reason, nxt = _check_once(now_utc, debtor, history, rules)
    if reason is None:
        return Decision(True, "allowed", checks, None)
    return Decision(False, reason, checks, _search_next(nxt, debtor, history, rules, now_utc))


def _search_next(candidate: datetime | None, debtor: DebtorRules, history: History,
                 rules: CampaignRules, now: datetime) -> datetime | None:
    limit = now + timedelta(days=_SEARCH_DAYS)
    for _ in range(64):
        if candidate is None or candidate > limit:
            return None
        _, reason, nxt = _check_once(candidate, debtor, history, rules)
        if reason is None:
            return candidate.astimezone(UTC)
        candidate = nxt
    return None


def next_allowed(after_utc: datetime, debtor: DebtorRules, history: History,
                 rules: CampaignRules) -> datetime | None:
    """The earliest instant >= after_utc at which a dial is allowed (None: not in 62 days)."""
    d = decide(after_utc, debtor, history, rules)
    return after_utc if d.allowed else d.next_allowed


def intervals_json(intervals: Sequence[tuple[datetime, datetime]]) -> list[list[str]]:
    """Intervals as [[start, end], ...] ISO 8601 strings with UTC offsets."""
    return [[s.isoformat(), e.isoformat()] for s, e in intervals]
