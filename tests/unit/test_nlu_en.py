"""English NLU: intents and slots, including Indonesian words mixed in."""

from __future__ import annotations

from datetime import date

import pytest

from agent.nlu import INTENTS, NluContext, understand

TODAY = date(2026, 12, 10)  # a Thursday
CTX = NluContext(today=TODAY, amount_due=1_250_000, payday=25)
D = date

CASES = [
    # text, intent, amount, date, time
    ("yes", "affirm", None, None, None),
    ("Yes, speaking.", "affirm", None, None, None),
    ("yeah that's me", "affirm", None, None, None),
    ("that's correct", "affirm", None, None, None),
    ("sure, sounds good", "affirm", None, None, None),
    ("okay", "affirm", None, None, None),
    ("of course", "affirm", None, None, None),
    ("no", "deny", None, None, None),
    ("nope", "deny", None, None, None),
    ("No, he's not here", "deny", None, None, None),
    ("I can't", "deny", None, None, None),
    ("no way", "deny", None, None, None),
    ("I won't pay", "deny", None, None, None),
    ("I'll pay tomorrow", "promise_full", None, D(2026, 12, 11), None),
    ("I can pay today", "promise_full", None, TODAY, None),
    ("I will pay next Friday", "promise_full", None, D(2026, 12, 11), None),
    ("I'll pay on Monday", "promise_full", None, D(2026, 12, 14), None),
    ("on the 20th", "promise_full", None, D(2026, 12, 20), None),
    ("I'll pay it on the twentieth", "promise_full", None, D(2026, 12, 20), None),
    ("December 20th", "promise_full", None, D(2026, 12, 20), None),
    ("I can pay on 22 December", "promise_full", None, D(2026, 12, 22), None),
    ("I'll pay after payday", "promise_full", None, D(2026, 12, 25), None),
    ("at the end of the month", "promise_full", None, D(2026, 12, 31), None),
    ("I'll pay in full next week", "promise_full", None, D(2026, 12, 17), None),
    ("I'll settle it in 3 days", "promise_full", None, D(2026, 12, 13), None),
    ("in two weeks", "promise_full", None, D(2026, 12, 24), None),
    ("the day after tomorrow", "promise_full", None, D(2026, 12, 12), None),
    ("I'll pay on 2026-12-18", "promise_full", None, D(2026, 12, 18), None),
    ("I'll pay the whole amount", "promise_full", None, None, None),
    ("not tomorrow, but on Saturday I can pay", "promise_full", None, D(2026, 12, 12), None),
    ("I'll pay one million two hundred fifty thousand tomorrow", "promise_full", 1_250_000,
     D(2026, 12, 11), None),
    ("1.5 million", "promise_full", 1_500_000, None, None),
    ("I can pay half", "promise_partial", 625_000, None, None),
    ("half now and the rest later", "promise_partial", 625_000, TODAY, None),
    ("I can pay 50 percent", "promise_partial", 625_000, None, None),
    ("maybe 50% by friday", "promise_partial", 625_000, D(2026, 12, 11), None),
    ("I can pay two hundred thousand", "promise_partial", 200_000, None, None),
    ("I can pay two hundred thousand next friday", "promise_partial", 200_000,
     D(2026, 12, 11), None),
    ("500k tomorrow", "promise_partial", 500_000, D(2026, 12, 11), None),
    ("I can do 750,000 on the 15th", "promise_partial", 750_000, D(2026, 12, 15), None),
    ("half a million", "promise_partial", 500_000, None, None),
    ("a million by the end of the month", "promise_partial", 1_000_000, D(2026, 12, 31), None),
    ("sorry bisa bayar half dulu", "promise_partial", 625_000, None, None),
    ("can I pay in instalments?", "promise_partial", None, None, None),
    ("I can pay part of it", "promise_partial", None, None, None),
    ("I need more time", "request_delay", None, None, None),
    ("can you give me until next month", "request_delay", None, D(2027, 1, 10), None),
    ("I can't pay until payday", "request_delay", None, D(2026, 12, 25), None),
    ("could I get an extension to the 28th", "request_delay", None, D(2026, 12, 28), None),
    ("I already paid", "already_paid", None, None, None),
    ("I paid it yesterday", "already_paid", None, D(2026, 12, 9), None),
    ("I made the payment last week", "already_paid", None, None, None),
    ("you have the wrong number", "wrong_person", None, None, None),
    ("I don't know anyone called Budi", "wrong_person", None, None, None),
    ("there's nobody by that name here", "wrong_person", None, None, None),
    ("that's not my debt", "dispute", None, None, None),
    ("I never borrowed any money from you", "dispute", None, None, None),
    ("the amount is wrong", "dispute", None, None, None),
    ("I lost my job last month", "hardship", None, None, None),
    ("I'm in the hospital and can't afford it", "hardship", None, None, None),
    ("call me back at 7 pm", "callback_later", None, None, "19:00"),
    ("I'm driving, call me later", "callback_later", None, None, None),
    ("call me tomorrow at 10 am", "callback_later", None, D(2026, 12, 11), "10:00"),
    ("I'm busy, try after 5", "callback_later", None, None, "17:00"),
    ("call me back this afternoon", "callback_later", None, None, "15:00"),
    ("call back at 6:30", "callback_later", None, None, "18:30"),
    ("stop calling me", "opt_out", None, None, None),
    ("don't call this number again", "opt_out", None, None, None),
    ("stop", "opt_out", None, None, None),
    ("what?", "ask_repeat", None, None, None),
    ("sorry, can you repeat that", "ask_repeat", None, None, None),
    ("I didn't catch that", "ask_repeat", None, None, None),
    ("I want to talk to a real person", "ask_human", None, None, None),
    ("let me speak to your supervisor", "ask_human", None, None, None),
    ("good morning", "unknown", None, None, None),
    ("the weather is nice", "unknown", None, None, None),
]


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert {case[1] for case in CASES} == set(INTENTS)


@pytest.mark.parametrize(("text", "intent", "amount", "when", "clock"), CASES)
def test_understand_en(text: str, intent: str, amount: int | None, when: date | None,
                       clock: str | None) -> None:
    result = understand(text, "en", CTX)
    assert (result.intent, result.amount, result.date, result.time) == (
        intent, amount, when, clock)


def test_dollars_below_a_thousand_are_money_with_a_currency_word() -> None:
    ctx = NluContext(today=TODAY, amount_due=900)
    assert understand("I can pay $200 tomorrow", "en", ctx).amount == 200
    assert understand("I can pay 200 dollars", "en", ctx).amount == 200


def test_small_bare_number_is_not_money() -> None:
    assert understand("give me 3 more days", "en", CTX).amount is None


def test_confirm_hint_turns_bare_pay_into_affirm() -> None:
    ctx = NluContext(today=TODAY, amount_due=1_000, expected="confirm")
    assert understand("ok I'll pay", "en", ctx).intent == "affirm"
