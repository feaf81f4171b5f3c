"""Locale packs: loading by code or path, rendering amounts/dates/times, grammars; the ko pack."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.locale import REQUIRED_PROMPTS, load_pack
from agent.nlu import NluContext, understand

KO = Path(__file__).resolve().parent.parent / "fixtures" / "locales" / "ko"
TODAY = date(2026, 12, 10)


@pytest.mark.parametrize(("code", "amount", "spoken"), [
    ("id", 1_250_000, "satu juta dua ratus lima puluh ribu rupiah"),
    ("en", 1_250_000, "one million two hundred and fifty thousand rupiah"),
    ("id", 300_000, "tiga ratus ribu rupiah"),
])
def test_amount_in_words(code: str, amount: int, spoken: str) -> None:
    assert load_pack(code).say_amount(amount, "IDR") == spoken


@pytest.mark.parametrize(("code", "day", "spoken"), [
    ("en", date(2026, 12, 15), "the fifteenth of December"),
    ("id", date(2026, 12, 15), "lima belas Desember"),
    ("en", date(2027, 1, 1), "the first of January"),
])
def test_date_in_words(code: str, day: date, spoken: str) -> None:
    assert load_pack(code).say_date(day) == spoken


def test_time_in_words() -> None:
    assert load_pack("en").say_time("19:00") == "seven p m"
    assert load_pack("id").say_time("19:30") == "jam tujuh lewat tiga puluh menit malam"


@pytest.mark.parametrize("code", ["en", "id"])
def test_bundled_packs_have_every_prompt_and_all_intents(code: str) -> None:
    pack = load_pack(code)
    assert set(REQUIRED_PROMPTS) <= set(pack.prompts)
    assert all(pack.phrases.get(i) for i in ("affirm", "deny", "promise_full", "opt_out"))


def test_pack_loads_by_path_and_is_cached() -> None:
    assert load_pack(str(KO)) is load_pack(KO)
    assert load_pack("id") is load_pack("id")
    assert load_pack(KO).code == "ko"


def test_grammar_for_a_turn_is_the_union_of_phrases_without_duplicates() -> None:
    assert load_pack(KO).expect(["affirm", "deny", "promise_full", "opt_out"]) == (
        "네", "아니요", "네 오늘 낼게요")


def test_unknown_pack_fails_with_its_name() -> None:
    with pytest.raises(ConfigError, match="'zz'"):
        load_pack("zz")


def test_missing_placeholder_fails_naming_the_prompt() -> None:
    with pytest.raises(ConfigError, match="'verify'"):
        load_pack("en").prompt("verify")


def test_pack_without_a_prompt_fails(tmp_path: Path) -> None:
    (tmp_path / "pack.toml").write_text('[prompts]\nverify = "hi"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="missing prompt"):
        load_pack(tmp_path)


@pytest.mark.parametrize(("text", "intent", "when"), [
    ("네", "affirm", None),
    ("아니요", "deny", None),
    ("네 오늘 낼게요", "promise_full", TODAY),
    ("네 네", "affirm", None),
    ("안녕하세요", "unknown", None),
])
def test_ko_test_pack_phrases_map_to_intents(text: str, intent: str, when: date | None) -> None:
    result = understand(text, load_pack(KO), NluContext(today=TODAY, amount_due=10_000))
    assert (result.intent, result.date) == (intent, when)
