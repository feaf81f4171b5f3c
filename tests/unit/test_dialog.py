"""The dialog state machine, branch by branch (English and Indonesian packs)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from agent import dialog
from agent.dialog import CallContext, DialogState
from agent.events import Hangup, Promise, Say, Silence, Utterance
from agent.locale import load_pack
from agent.terms import NegotiationPolicy

TODAY, DUE = date(2026, 12, 10), date(2026, 12, 15)


def ctx(lang: str = "en", **kw: Any) -> CallContext:
    base: dict[str, Any] = dict(name="Budi", amount_due=1_000_000, due_date=DUE, today=TODAY,
                                pack=load_pack(lang), creditor="Acme Finance", payday=25,
                                policy=NegotiationPolicy(min_partial_share=0.5, max_delay_days=10,
                                                         max_instalments=2))
    base.update(kw)
    return CallContext(**base)


def talk(lines: list[str], c: CallContext | None = None) -> tuple[DialogState, list[Any]]:
    c = c or ctx()
    state, actions = dialog.start(c)
    every = list(actions)
    for line in lines:
        state, actions = dialog.step(state, Utterance(line) if line else Silence(5.0), c)
        every += actions
    return state, every


def says(actions: list[Any]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def promises(actions: list[Any]) -> list[tuple[int, str, int]]:
    return [(a.amount, a.date, a.instalment) for a in actions if isinstance(a, Promise)]


def hangup(actions: list[Any]) -> str:
    ends = [a.disposition for a in actions if isinstance(a, Hangup)]
    assert len(ends) == 1 and isinstance(actions[-1], Hangup)
    return ends[0]


def test_opening_discloses_automation_and_creditor_then_verifies() -> None:
    state, actions = dialog.start(ctx())
    assert says(actions) == ["Hello, good afternoon. This is an automated call from Acme Finance."
                             " Am I speaking with Budi?"]
    assert "yes" in actions[0].expect and "wrong number" in actions[0].expect
    assert state.phase == "verify" and not state.rpc


def test_machine_gets_neutral_message_only() -> None:
    _, actions = dialog.start(ctx(is_machine=True))
    assert hangup(actions) == "MACHINE"
    assert "million" not in says(actions)[0] and "Acme Finance" in says(actions)[0]


def test_machine_without_voicemail_just_hangs_up() -> None:
    _, actions = dialog.start(ctx(is_machine=True, policy=NegotiationPolicy(leave_voicemail=False)))
    assert says(actions) == [] and hangup(actions) == "MACHINE"


def test_happy_path_full_payment_reads_back_and_records() -> None:
    state, actions = talk(["yes", "yes", "yes"])
    text = says(actions)
    assert "one million rupiah is due on the fifteenth of December" in text[1]
    assert text[2] == ("Let me read that back: you will pay one million rupiah by the fifteenth"
                       " of December. Is that correct?")
    assert promises(actions) == [(1_000_000, "2026-12-15", 1)]
    assert hangup(actions) == "PTP_FULL"
    out = dialog.outcome(state)
    assert out.disposition == "PTP_FULL" and out.rpc
    assert [t.intent for t in out.turns if t.speaker == "debtor"] == ["affirm"] * 3


def test_third_party_hears_no_debt_detail() -> None:
    state, actions = talk(["no, he's not here"])
    assert hangup(actions) == "WRONG_PARTY"
    assert all("million" not in t and "December" not in t for t in says(actions))
    assert "Please ask Budi to call Acme Finance back" in says(actions)[-1]
    assert dialog.outcome(state).flags == ("third_party",)


def test_wrong_number_is_flagged() -> None:
    state, actions = talk(["wrong number"])
    assert hangup(actions) == "WRONG_PARTY" and dialog.outcome(state).flags == ("wrong_number",)


def test_overdue_reminder_with_last_promise_and_time_barred_notice() -> None:
    c = ctx(today=date(2026, 12, 20), last_promise=Promise(amount=500_000, date="2026-12-18"),
            time_barred=True)
    _, actions = talk(["yes"], c)
    text = says(actions)[1]
    assert "now five days overdue" in text
    assert "Last time you promised to pay five hundred thousand rupiah on the eighteenth" in text
    assert "you cannot be sued" in text
    assert text.endswith("Can you pay one million rupiah by the twentieth of December?")


def test_partial_within_policy() -> None:
    _state, actions = talk(["yes", "I can pay half on the 20th", "yes"])
    assert promises(actions) == [(500_000, "2026-12-20", 1)]
    assert hangup(actions) == "PTP_PARTIAL"


def test_partial_below_minimum_gets_counter_offer() -> None:
    _, actions = talk(["yes", "I can pay two hundred thousand tomorrow", "yes", "yes"])
    assert says(actions)[2] == ("Could you pay at least five hundred thousand rupiah by the"
                                " eleventh of December?")
    assert promises(actions) == [(500_000, "2026-12-11", 1)]


def test_date_beyond_policy_gets_counter_with_latest_date() -> None:
    _, actions = talk(["yes", "I'll pay on the 30th", "yes", "yes"])
    assert says(actions)[2] == ("We can give you until the twenty-fifth of December. Could you"
                                " pay one million rupiah by then?")
    assert promises(actions) == [(1_000_000, "2026-12-25", 1)]
    assert hangup(actions) == "DELAY_AGREED"


def test_delay_within_policy_is_delay_agreed() -> None:
    _, actions = talk(["yes", "can you give me until the 22nd", "yes"])
    assert promises(actions) == [(1_000_000, "2026-12-22", 1)]
    assert hangup(actions) == "DELAY_AGREED"


def test_refusals_walk_the_counter_offer_ladder_then_end() -> None:
    _, actions = talk(["yes", "no", "no", "no", "no"])
    prompts = [a.prompt for a in actions if isinstance(a, Say)]
    assert prompts == ["verify", "ask_payment", "counter_full", "counter_partial", "offer_plan",
                       "refused"]
    assert promises(actions) == [] and hangup(actions) == "REFUSED"


def test_instalment_request_gets_plan_and_records_each_part() -> None:
    state, actions = talk(["yes", "can I pay in instalments?", "yes", "yes"])
    assert "2 instalments" not in says(actions)[2]
    assert ("two instalments: five hundred thousand rupiah on the fifteenth of December, five"
            " hundred thousand rupiah on the twenty-fifth of December") in says(actions)[2]
    assert promises(actions) == [(500_000, "2026-12-15", 1), (500_000, "2026-12-25", 2)]
    assert dialog.outcome(state).flags == ("instalment_plan",)


def test_counter_offers_off_states_the_limit_instead() -> None:
    policy = NegotiationPolicy(counter_offers=False, max_delay_days=10)
    _, actions = talk(["yes", "I'll pay on the 30th"], ctx(policy=policy))
    assert says(actions)[2] == ("I'm sorry, we can only accept at least five hundred thousand"
                                " rupiah by the twenty-fifth of December. How much can you pay,"
                                " and when?")


def test_counter_offers_off_two_refusals_end_the_call() -> None:
    _, actions = talk(["yes", "no", "no"], ctx(policy=NegotiationPolicy(counter_offers=False)))
    assert [a.prompt for a in actions if isinstance(a, Say)][-2:] == ["ask_amount", "refused"]
    assert hangup(actions) == "REFUSED"


def test_readback_denied_returns_to_negotiation() -> None:
    _, actions = talk(["yes", "yes", "no", "I'll pay tomorrow", "yes"])
    assert [a.prompt for a in actions if isinstance(a, Say)][3] == "ask_amount"
    assert promises(actions) == [(1_000_000, "2026-12-11", 1)]


@pytest.mark.parametrize(("line", "disposition", "flag"), [
    ("I already paid", "ALREADY_PAID", "paid_claim"),
    ("that's not my debt", "DISPUTE", "dispute"),
    ("I lost my job", "HARDSHIP", "hardship_handoff"),
    ("stop calling me", "OPT_OUT", "opt_out"),
    ("I want to talk to a real person", "CALLBACK", "human_requested"),
])
def test_endings_after_reminder(line: str, disposition: str, flag: str) -> None:
    state, actions = talk(["yes", line])
    assert hangup(actions) == disposition
    assert dialog.outcome(state).flags == (flag,)


def test_opt_out_before_verification() -> None:
    _state, actions = talk(["jangan telepon lagi"], ctx("id"))
    assert hangup(actions) == "OPT_OUT" and "tidak akan menelepon" in says(actions)[-1]


def test_callback_captures_date_and_time() -> None:
    state, actions = talk(["call me tomorrow at 7 pm"])
    assert hangup(actions) == "CALLBACK"
    assert dialog.outcome(state).callback_at == "2026-12-11T19:00"
    assert says(actions)[-1] == ("Sure, we will call you back on the eleventh of December at"
                                 " seven p m. Thank you.")


def test_callback_without_time() -> None:
    state, actions = talk(["yes", "I'm driving"])
    assert hangup(actions) == "CALLBACK" and dialog.outcome(state).callback_at is None


def test_ask_repeat_repeats_the_question() -> None:
    _, actions = talk(["what?"])
    assert says(actions)[1] == says(actions)[0]


def test_unknown_is_clarified_once_then_falls_back() -> None:
    state, actions = talk(["the weather is nice", "bananas"])
    assert says(actions)[1].startswith("Sorry, I didn't understand that. Hello, good afternoon.")
    assert hangup(actions) == "NO_RESPONSE"
    assert dialog.outcome(state).flags == ("not_understood",)


def test_silence_reprompts_then_ends_politely() -> None:
    c = ctx(policy=NegotiationPolicy(max_reprompts=2))
    _state, actions = talk(["yes", "", "", ""], c)
    prompts = [a.prompt for a in actions if isinstance(a, Say)]
    assert prompts == ["verify", "ask_payment", "ask_payment", "ask_payment", "no_response"]
    assert says(actions)[2].startswith("Hello, are you still there? Thank you, Budi.")
    assert says(actions)[3].count("are you still there") == 1
    assert hangup(actions) == "NO_RESPONSE"


def test_speech_resets_the_reprompt_count() -> None:
    c = ctx(policy=NegotiationPolicy(max_reprompts=1))
    _, actions = talk(["", "yes", "", "yes", "yes"], c)
    assert hangup(actions) == "PTP_FULL"


def test_partial_results_and_events_after_the_end_change_nothing() -> None:
    c = ctx()
    state, _ = dialog.start(c)
    same, actions = dialog.step(state, Utterance("yes", final=False), c)
    assert same == state and actions == []
    ended, _ = talk(["stop calling me"])
    after, actions = dialog.step(ended, Utterance("yes"), c)
    assert after == ended and actions == []


def test_hangup_mid_call_is_hangup_outcome() -> None:
    state, _ = talk(["yes"])
    out = dialog.outcome(state)
    assert (out.disposition, out.promises, out.rpc) == ("HANGUP", (), True)


def test_indonesian_conversation_with_slang() -> None:
    _state, actions = talk(["iya saya sendiri", "sorry bisa bayar half dulu", "iya bener"],
                          ctx("id"))
    assert "lima ratus ribu rupiah" in says(actions)[2]
    assert promises(actions) == [(500_000, "2026-12-15", 1)]
    assert hangup(actions) == "PTP_PARTIAL"


def test_negotiation_turn_grammar_includes_slot_words() -> None:
    _, actions = talk(["iya"], ctx("id"))
    expect = actions[-1].expect
    assert "sudah bayar" in expect and "besok" in expect and "juta" in expect
