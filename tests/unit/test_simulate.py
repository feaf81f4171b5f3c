"""Whole conversations through `tagih simulate` and the `tagih nlu` JSON interface."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from agent.cli import cli

KO = str(Path(__file__).resolve().parent.parent / "fixtures" / "locales" / "ko")
BASE = ["simulate", "--name", "Budi", "--amount-due", "1250000", "--due", "2026-12-15",
        "--today", "2026-12-10", "--payday", "25"]


def run(args: list[str], stdin: str = "") -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, args, input=stdin)
    return result.exit_code, result.output.splitlines()


def simulate(lang: str, stdin: str, *extra: str) -> tuple[list[str], dict[str, Any]]:
    code, lines = run([*BASE, "--lang", lang, *extra], stdin)
    assert code == 0, lines
    return lines[:-1], json.loads(lines[-1])


def test_indonesian_partial_promise_with_slang() -> None:
    bot, out = simulate("id", "iya saya sendiri\nsorry bisa bayar half dulu\niya\n")
    assert "satu juta dua ratus lima puluh ribu rupiah" in bot[1]
    assert "enam ratus dua puluh lima ribu rupiah paling lambat tanggal lima belas" in bot[2]
    assert out["disposition"] == "PTP_PARTIAL" and out["rpc"] is True
    assert out["promises"] == [{"amount": 625000, "date": "2026-12-15", "instalment": 1}]
    assert [t["intent"] for t in out["turns"] if t["speaker"] == "debtor"] == [
        "affirm", "promise_partial", "affirm"]


def test_english_delay_after_payday() -> None:
    _, out = simulate("en", "yes\nI'll pay after payday\nyes\n")
    assert out["disposition"] == "PTP_FULL"
    assert out["promises"] == [{"amount": 1250000, "date": "2026-12-25", "instalment": 1}]


def test_script_file_with_silences_ends_with_no_response(tmp_path: Path) -> None:
    script = tmp_path / "debtor.txt"
    script.write_text("iya\n\n\n\n", encoding="utf-8")
    bot, out = simulate("id", "", "--script", str(script))
    assert "debtor: (silence)" in bot
    assert out["disposition"] == "NO_RESPONSE" and out["promises"] == []


def test_policy_file_limits_the_agreement(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("min_partial_share = 0.8\nmax_delay_days = 5\ncounter_offers = true\n",
                      encoding="utf-8")
    _, out = simulate("id", "iya\n300rb tanggal 30\niya\niya\n", "--policy", str(policy))
    assert out["promises"] == [{"amount": 1000000, "date": "2026-12-20", "instalment": 1}]


def test_debtor_hanging_up_is_hangup() -> None:
    _, out = simulate("en", "yes\n")
    assert out["disposition"] == "HANGUP"


def test_korean_test_pack_by_path() -> None:
    bot, out = simulate(KO, "네\n네 오늘 낼게요\n네\n")
    assert bot[0].startswith("bot: 안녕하세요")
    assert out["disposition"] == "PTP_FULL"
    assert out["promises"] == [{"amount": 1250000, "date": "2026-12-10", "instalment": 1}]


def test_callback_request_outcome() -> None:
    _, out = simulate("id", "lagi sibuk, telpon lagi besok jam 7 malam\n")
    assert (out["disposition"], out["callback_at"]) == ("CALLBACK", "2026-12-11T19:00")


def test_bad_policy_file_is_one_line_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("max_instalments = 0\n", encoding="utf-8")
    code, lines = run([*BASE, "--lang", "id", "--policy", str(policy)], "")
    assert code == 1
    assert lines == ["tagih: error: negotiation max_instalments must be at least 1"]


def test_nlu_prints_exactly_the_public_json() -> None:
    code, lines = run(["nlu", "--lang", "id", "--today", "2026-12-10", "--amount-due",
                       "1250000", "--payday", "25", "300rb", "abis", "gajian"])
    assert code == 0
    assert json.loads(lines[0]) == {"intent": "promise_partial", "amount": 300000,
                                    "date": "2026-12-25", "time": None}
    assert len(lines) == 1


def test_nlu_time_slot() -> None:
    code, lines = run(["nlu", "--lang", "en", "--today", "2026-12-10", "call me at 7 pm"])
    assert code == 0
    assert json.loads(lines[0]) == {"intent": "callback_later", "amount": None, "date": None,
                                    "time": "19:00"}


def test_nlu_unknown_locale_is_one_line_error() -> None:
    code, lines = run(["nlu", "--lang", "xx", "halo"])
    assert code == 1 and lines == [
        "tagih: error: locale pack 'xx': not a bundled locale nor a directory"]
