"""The live-call adapter over the pure dialog: state kept, intents tagged, mid-call hangups."""

from datetime import date

from agent.conversation import DialogScript, Greeting
from agent.dialog import CallContext
from agent.events import Hangup, Say, Silence, Utterance
from agent.locale import load_pack


def _script() -> DialogScript:
    return DialogScript(CallContext(name="Budi", amount_due=1_250_000,
                                    due_date=date(2026, 12, 15), today=date(2026, 12, 4),
                                    pack=load_pack("id")))


def test_turns_are_tagged_and_a_mid_call_hangup_is_hangup() -> None:
    script = _script()
    opening = script.start()
    assert isinstance(opening[0], Say) and "Budi" in opening[0].text
    assert script.last_intent == ""
    script.step(Utterance("iya saya sendiri"))
    assert script.last_intent == "affirm"
    outcome = script.outcome()  # the debtor hangs up here
    assert outcome.disposition == "HANGUP" and outcome.rpc is True


def test_silences_end_with_no_response() -> None:
    script = _script()
    script.start()
    actions: list[object] = []
    for _ in range(5):
        actions = script.step(Silence(6.0))
        if any(isinstance(a, Hangup) for a in actions):
            break
    assert isinstance(actions[-1], Hangup) and actions[-1].disposition == "NO_RESPONSE"
    assert script.outcome().disposition == "NO_RESPONSE"


def test_greeting_only_test_call() -> None:
    greeting = Greeting("Hello. This is an automated test call from tagih.")
    assert [a.text for a in greeting.start() if isinstance(a, Say)] == [greeting.text]
    assert greeting.step(Utterance("hello?")) == []
    outcome = greeting.outcome()
    assert outcome.disposition == "HANGUP"
    assert [(t.speaker, t.text) for t in outcome.turns] == [("bot", greeting.text),
                                                            ("debtor", "hello?")]
