"""agent.rows and agent.provinces: row validation and time-zone inference."""

from __future__ import annotations

import pytest

from agent import rows
from agent.provinces import PROVINCES, WIB, WIT, WITA, province_zone

GOOD = {"external_id": "D1", "name": "Budi", "phone": "0812-3456-7890", "account_id": "A1",
        "amount_due": "1500000", "due_date": "2026-11-30", "province": "Jawa Barat"}


def test_good_row_is_normalised() -> None:
    r = rows.debtor_row(GOOD)
    assert (r.phones, r.tz, r.amount_due, r.currency, r.locale) == (
        ("+6281234567890",), WIB, 1_500_000, "IDR", "id")


@pytest.mark.parametrize(("change", "reason"), [
    ({"phone": "12345"}, "phone '12345' is not a valid number"),
    ({"phone": "abc"}, "phone 'abc' is not a phone number"),
    ({"amount_due": "-5"}, "amount_due '-5' is not a whole non-negative amount"),
    ({"amount_due": "12.50"}, "amount_due '12.50' is not a whole non-negative amount"),
    ({"due_date": "30/11/2026"}, "due_date '30/11/2026' is not an ISO date (YYYY-MM-DD)"),
    ({"tz": "Asia/Atlantis"}, "tz 'Asia/Atlantis' is not a known time zone"),
    ({"province": "Narnia"}, "province 'Narnia' is not an Indonesian province"),
    ({"payday": "32"}, "payday '32' is not a day of month 1-31"),
    ({"preferred_start": "19:00", "preferred_end": "09:00"},
     "preferred_start and preferred_end must both be given, start < end"),
    ({"locale": "fr"}, "locale 'fr' is not one of ['en', 'id']"),
    ({"name": " "}, "external_id, name and account_id must not be empty"),
])
def test_bad_rows_say_why(change: dict[str, str], reason: str) -> None:
    with pytest.raises(rows.RowError) as err:
        rows.debtor_row({**GOOD, **change})
    assert str(err.value) == reason


@pytest.mark.parametrize(("tz", "province", "number", "expected"), [
    ("Asia/Makassar", "Papua", "+6281234567890", "Asia/Makassar"),  # explicit wins
    ("", "Papua", "+6281234567890", WIT),  # province before the (non-geographic) mobile
    ("", "", "+62215551234", "Asia/Jakarta"),  # Jakarta landline
    ("", "", "+14155552671", "America/Los_Angeles"),
])
def test_tz_inference(tz: str, province: str, number: str, expected: str) -> None:
    assert rows.infer_tz(tz, province, number) == expected


def test_tz_unknown_for_ambiguous_number() -> None:
    with pytest.raises(rows.RowError, match="time zone unknown"):
        rows.infer_tz("", "", "+79161234567")  # a Russian mobile: many zones


def test_all_38_provinces_map_to_the_three_zones() -> None:
    assert len(PROVINCES) == 38
    zones = [province_zone(name) for name, _, _, _ in PROVINCES]
    assert zones.count(WIB) == 18 and zones.count(WITA) == 12 and zones.count(WIT) == 8
    assert province_zone("ID-JB") == WIB and province_zone("Prov. Sulawesi Selatan") == WITA
    assert province_zone("papua pegunungan") == WIT


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-12-01", "2026-12-01T00:00:00Z"),
    ("2026-12-01T10:00:00+07:00", "2026-12-01T03:00:00Z"),
    ("2026-12-01 10:00", "2026-12-01T10:00:00Z"),
])
def test_paid_at(raw: str, expected: str) -> None:
    assert rows.paid_at(raw) == expected
