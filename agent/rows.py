"""Pure validation of import rows: phone numbers, amounts, dates, hours and time zones.

Each validator returns a clean tuple ready for the store, or raises RowError with a reason.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import NamedTuple

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumber
from phonenumbers import timezone as phone_tz

from agent.errors import PolicyViolation
from agent.policy import zone
from agent.provinces import province_zone

DEBTOR_REQUIRED = ("external_id", "name", "phone", "account_id", "amount_due", "due_date")
DEBTOR_OPTIONAL = ("phone2", "phone3", "locale", "tz", "province", "preferred_start",
                   "preferred_end", "segment", "currency", "payday", "time_barred")
PAYMENT_REQUIRED = ("external_id", "account_id", "amount", "paid_at")
LOCALES = frozenset({"id", "en"})
_AMOUNT = re.compile(r"^\d+(?:\.0+)?$")
_PLUS_DIGITS = re.compile(r"^\+[1-9]\d{6,14}$")
_TRUE = frozenset({"1", "true", "yes", "y"})
_FALSE = frozenset({"", "0", "false", "no", "n"})


class RowError(ValueError):
    """One row is invalid; str() is the reason."""


class DebtorRow(NamedTuple):
    external_id: str
    name: str
    locale: str
    tz: str
    province: str | None
    pref_start: str | None
    pref_end: str | None
    segment: str
    phones: tuple[str, ...]
    account_id: str
    amount_due: int
    currency: str
    due_date: str
    payday: int | None
    time_barred: bool


class PaymentRow(NamedTuple):
    external_id: str
    account_id: str
    amount: int
    paid_at: str  # store text, UTC


def _fast_parse(text: str) -> PhoneNumber | None:
    for n in (1, 2, 3):
        code = int(text[1:1 + n])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            return PhoneNumber(country_code=code, national_number=int(text[1 + n:]))
    return None


def e164(raw: str, region: str = "ID") -> str:
    """The E.164 form of a valid phone number, or RowError."""
    text = raw.strip()
    if _PLUS_DIGITS.match(text):  # fast path: already international digits
        fast = _fast_parse(text)
        if fast is not None and phonenumbers.is_valid_number(fast):
            return text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise RowError(f"phone {raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise RowError(f"phone {raw!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def amount(raw: str, field: str) -> int:
    """A non-negative integer amount in currency units ("150000" or "150000.00")."""
    text = raw.strip()
    if not _AMOUNT.match(text):
        raise RowError(f"{field} {raw!r} is not a whole non-negative amount")
    return int(text.split(".")[0])


def iso_date(raw: str, field: str) -> str:
    try:
        return date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        raise RowError(f"{field} {raw!r} is not an ISO date (YYYY-MM-DD)") from None


def hour_minute(raw: str, field: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    try:
        return time.fromisoformat(text).strftime("%H:%M")
    except ValueError:
        raise RowError(f"{field} {raw!r} is not a time (HH:MM)") from None


@functools.lru_cache(maxsize=4096)
def _number_zone(number: str) -> str | None:
    zones = [z for z in phone_tz.time_zones_for_number(phonenumbers.parse(number))
             if z != "Etc/Unknown"]
    return zones[0] if len(zones) == 1 else None


def infer_tz(explicit: str, province: str, number: str) -> str:
    """The debtor's zone: explicit column, else the Indonesian province, else the number.

    The province comes before the number because Indonesian mobile numbers are not
    geographic (phonenumbers maps them all to Asia/Jakarta) and the rules follow the address.
    """
    if explicit:
        try:
            zone(explicit)
        except PolicyViolation:
            raise RowError(f"tz {explicit!r} is not a known time zone") from None
        return explicit
    if province:
        found = province_zone(province)
        if found is None:
            raise RowError(f"province {province!r} is not an Indonesian province")
        return found
    by_number = _number_zone(number)
    if by_number is None:
        raise RowError("time zone unknown: give a tz or province column")
    return by_number


def debtor_row(row: Mapping[str, str], region: str = "ID") -> DebtorRow:
    """Validate one debtors.csv row (columns as in docs: DEBTOR_REQUIRED + DEBTOR_OPTIONAL)."""
    get = row.get
    ext, name, acc = row["external_id"].strip(), row["name"].strip(), row["account_id"].strip()
    if not ext or not name or not acc:
        raise RowError("external_id, name and account_id must not be empty")
    phones = [e164(row["phone"], region)]
    for extra in (get("phone2"), get("phone3")):
        if extra and extra.strip():
            number = e164(extra, region)
            if number not in phones:
                phones.append(number)
    locale = (get("locale") or "id").strip().lower() or "id"
    if locale not in LOCALES:
        raise RowError(f"locale {locale!r} is not one of {sorted(LOCALES)}")
    province = (get("province") or "").strip()
    tz = infer_tz((get("tz") or "").strip(), province, phones[0])
    start, end = get("preferred_start"), get("preferred_end")
    if start or end:
        start, end = hour_minute(start or "", "preferred_start"), \
            hour_minute(end or "", "preferred_end")
        if start is None or end is None or start >= end:
            raise RowError("preferred_start and preferred_end must both be given, start < end")
    payday = _payday(get("payday") or "")
    barred = (get("time_barred") or "").strip().lower()
    if barred not in _TRUE and barred not in _FALSE:
        raise RowError(f"time_barred {barred!r} is not true/false")
    currency = (get("currency") or "IDR").strip().upper() or "IDR"
    if len(currency) != 3 or not currency.isalpha():
        raise RowError(f"currency {currency!r} is not a 3-letter code")
    return DebtorRow(ext, name, locale, tz, province or None, start or None, end or None,
                     (get("segment") or "").strip(), tuple(phones), acc,
                     amount(row["amount_due"], "amount_due"), currency,
                     iso_date(row["due_date"], "due_date"), payday, barred in _TRUE)


def _payday(raw: str) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 31:
        raise RowError(f"payday {text!r} is not a day of month 1-31")
    return int(text)


def paid_at(raw: str) -> str:
    """A payment time as store text: a date stays that date; a naive datetime is UTC."""
    text = raw.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat() + "T00:00:00Z"
        at = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(f"paid_at {raw!r} is not an ISO date or date-time") from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payment_row(row: Mapping[str, str]) -> PaymentRow:
    """Validate one payments.csv row."""
    ext, acc = (row.get("external_id") or "").strip(), (row.get("account_id") or "").strip()
    if not ext or not acc:
        raise RowError("external_id and account_id must not be empty")
    value = amount(row.get("amount") or "", "amount")
    if value <= 0:
        raise RowError("amount must be positive")
    return PaymentRow(ext, acc, value, paid_at(row.get("paid_at") or ""))
