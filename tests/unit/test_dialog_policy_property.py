"""Property: whatever the debtor says, no Promise the dialog emits lies outside the policy."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agent import dialog, terms
from agent.dialog import CallContext
from agent.events import Hangup, Promise, Silence, Utterance
from agent.locale import load_pack
from agent.terms import NegotiationPolicy

TODAY = date(2026, 12, 10)


def _phrases(code: str) -> list[str]:
    pack = load_pack(code)
    return sorted({p for phrases in pack.phrases.values() for p in phrases})


PHRASES = {code: _phrases(code) for code in ("en", "id")}
AMOUNT_WORDS = {"en": ["{n}", "{k}k", "{n} dollars", "half", "50 percent", "{k} thousand"],
                "id": ["{n}", "{k}rb", "{k} ribu", "setengah", "separuh", "{j} juta", "sejuta"]}
DATE_WORDS = {"en": ["tomorrow", "today", "next week", "on the {d}th", "in {d} days",
                     "after payday", "next friday", "end of the month", "next month"],
              "id": ["besok", "lusa", "minggu depan", "tanggal {d}", "{d} hari lagi", "gajian",
                     "akhir bulan", "bulan depan", "jumat"]}


@st.composite
def utterance(draw: st.DrawFn, code: str) -> str:
    kind = draw(st.sampled_from(["phrase", "slots", "silence"]))
    if kind == "silence":
        return ""
    if kind == "phrase":
        return draw(st.sampled_from(PHRASES[code]))
    words = {"n": draw(st.integers(1, 3_000_000)), "k": draw(st.integers(1, 3000)),
             "j": draw(st.sampled_from(["1", "1,5", "2", "0,5"])), "d": draw(st.integers(1, 40))}
    amount = draw(st.sampled_from(AMOUNT_WORDS[code])).format(**words)
    when = draw(st.sampled_from(DATE_WORDS[code])).format(**words)
    verb = draw(st.sampled_from(["", "bayar", "pay", "cicil", "no", "ya"]))
    return " ".join(draw(st.permutations([amount, when, verb])))


policies = st.builds(
    NegotiationPolicy,
    min_partial_share=st.floats(0.05, 1.0),
    max_delay_days=st.integers(0, 40),
    max_instalments=st.integers(1, 6),
    counter_offers=st.booleans(),
    max_reprompts=st.integers(0, 3),
    max_clarify=st.integers(0, 2),
    max_offers=st.integers(0, 6),
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), code=st.sampled_from(["en", "id"]), policy=policies,
       amount_due=st.integers(1, 5_000_000), due_shift=st.integers(-60, 30),
       payday=st.none() | st.integers(1, 31))
def test_no_promise_outside_policy(data: st.DataObject, code: str, policy: NegotiationPolicy,
                                   amount_due: int, due_shift: int, payday: int | None) -> None:
    due = TODAY + timedelta(days=due_shift)
    ctx = CallContext(name="Budi", amount_due=amount_due, due_date=due, today=TODAY,
                      pack=load_pack(code), policy=policy, payday=payday)
    lines = data.draw(st.lists(utterance(code), min_size=1, max_size=10))
    state, actions = dialog.start(ctx)
    emitted: list[Promise] = []
    for line in ["yes" if code == "en" else "iya", *lines]:
        event = Utterance(line) if line else Silence(5.0)
        state, actions = dialog.step(state, event, ctx)
        emitted += [a for a in actions if isinstance(a, Promise)]
        if any(isinstance(a, Hangup) for a in actions):
            break
    last = terms.deadline(policy, TODAY, due)
    for promise in emitted:
        assert TODAY <= date.fromisoformat(promise.date) <= last
    if len(emitted) == 1:
        assert emitted[0].amount == amount_due or (
            terms.min_partial(policy, amount_due) <= emitted[0].amount < amount_due)
    elif emitted:
        assert len(emitted) <= policy.max_instalments
        assert sum(p.amount for p in emitted) == amount_due
    assert tuple(emitted) == dialog.outcome(state).promises
