"""The negotiation dialog: a pure state machine, the same for live calls and `tagih simulate`.

start(ctx) -> (state, actions); step(state, Utterance | Silence, ctx) -> (state, actions);
outcome(state) -> CallOutcome. Actions are Say (with the grammar the next turn expects), Promise
and Hangup; the dialog always ends with a Hangup.

Flow: disclosure and right-party check -> reminder and a first offer -> negotiation inside the
NegotiationPolicy (counter-offers, instalments) -> read-back -> confirmation -> close. Nothing
about the debt is said before the debtor confirmed who they are. Every promise is built from
agent.terms and checked with terms.allowed() before it is emitted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date

from agent import terms
from agent.events import CallOutcome, Hangup, Promise, Say, Silence, Turn, Utterance
from agent.locale import LocalePack
from agent.nlu import NluContext, NluResult, understand
from agent.terms import NegotiationPolicy

Action = Say | Hangup | Promise
Step = tuple["DialogState", list[Action]]

VERIFY = ("affirm", "deny", "wrong_person", "callback_later", "opt_out", "ask_repeat", "ask_human")
NEGOTIATE = ("affirm", "deny", "promise_full", "promise_partial", "request_delay", "already_paid",
             "dispute", "hardship", "callback_later", "opt_out", "ask_repeat", "ask_human")
CONFIRM = ("affirm", "deny", "ask_repeat")
_EXPECT = {"verify": (VERIFY, False), "negotiate": (NEGOTIATE, True), "confirm": (CONFIRM, False)}
_HINT = {"verify": "verify", "negotiate": "payment", "confirm": "confirm"}
_DISPOSITION = {"full": "PTP_FULL", "delay": "DELAY_AGREED", "partial": "PTP_PARTIAL",
                "plan": "PTP_PARTIAL"}
# intent -> (prompt, disposition, flag) for replies that end the call the same way in any phase
_ENDINGS = {
    "opt_out": ("opt_out", "OPT_OUT", "opt_out"),
    "wrong_person": ("wrong_number", "WRONG_PARTY", "wrong_number"),
    "ask_human": ("human", "CALLBACK", "human_requested"),
    "already_paid": ("already_paid", "ALREADY_PAID", "paid_claim"),
    "dispute": ("dispute", "DISPUTE", "dispute"),
    "hardship": ("hardship", "HARDSHIP", "hardship_handoff"),
}


@dataclass(frozen=True, slots=True)
class CallContext:
    """Everything the dialog knows about this call. `hour` is the debtor's local hour (greeting)."""

    name: str
    amount_due: int
    due_date: date
    today: date
    pack: LocalePack
    policy: NegotiationPolicy = field(default_factory=NegotiationPolicy)
    currency: str = "IDR"
    creditor: str = "tagih"
    payday: int | None = None
    last_promise: Promise | None = None
    is_machine: bool = False
    time_barred: bool = False
    hour: int = 12


@dataclass(frozen=True, slots=True)
class Offer:
    """An agreement on the table: kind is full, delay, partial or plan."""

    kind: str
    promises: tuple[Promise, ...]


@dataclass(frozen=True, slots=True)
class DialogState:
    phase: str = "verify"  # verify | negotiate | confirm | ended
    question: Say | None = None  # the last question asked (for repeats and reprompts)
    offer: Offer | None = None  # proposed by the bot (negotiate) or read back (confirm)
    rung: int = 0  # next step of the counter-offer ladder after a "no"
    offers_made: int = 0
    reprompts: int = 0
    clarifications: int = 0
    rpc: bool = False
    agreed: tuple[Promise, ...] = ()
    disposition: str | None = None
    flags: tuple[str, ...] = ()
    callback_at: str | None = None
    turns: tuple[Turn, ...] = ()


# --- rendering -------------------------------------------------------------------------------

def _greeting(ctx: CallContext) -> str:
    word = ""
    for start, name in ctx.pack.words.get("greetings", []):
        if ctx.hour >= int(start):
            word = str(name)
    return word


def _text(ctx: CallContext, prompt: str, **extra: object) -> str:
    pack = ctx.pack
    overdue = max(0, (ctx.today - ctx.due_date).days)
    values: dict[str, object] = {
        "name": ctx.name, "creditor": ctx.creditor, "greeting": _greeting(ctx),
        "amount": pack.say_amount(ctx.amount_due, ctx.currency),
        "due_date": pack.say_date(ctx.due_date), "days_overdue": pack.number(overdue),
    }
    values.update(extra)
    return pack.prompt(prompt, **values)


def _offer_values(ctx: CallContext, offer: Offer) -> dict[str, object]:
    pack = ctx.pack
    first = offer.promises[0]
    items = [pack.prompt("plan_item", amount=pack.say_amount(p.amount, ctx.currency),
                         date=pack.say_date(date.fromisoformat(p.date))) for p in offer.promises]
    return {"amount": pack.say_amount(first.amount, ctx.currency),
            "date": pack.say_date(date.fromisoformat(first.date)),
            "count": pack.number(len(offer.promises)), "schedule": ", ".join(items)}


# --- state helpers ---------------------------------------------------------------------------

def _ask(state: DialogState, ctx: CallContext, parts: list[str], prompt: str, phase: str,
         **changes: object) -> Step:
    intents, slots = _EXPECT[phase]
    say = Say(text=" ".join(parts), prompt=prompt, expect=ctx.pack.expect(intents, slots))
    turn = Turn(speaker="bot", text=say.text, intent=prompt)
    new = dataclasses.replace(state, phase=phase, question=say, turns=(*state.turns, turn),
                              **changes)  # type: ignore[arg-type]
    return new, [say]


def _again(state: DialogState, ctx: CallContext, lead: str | None, **changes: object) -> Step:
    """Ask the last question again, after `lead` (a prompt id) if given."""
    question = state.question
    if question is None:
        return _end(state, ctx, "fallback", "NO_RESPONSE", "nothing to repeat")
    parts = [_text(ctx, lead), question.text] if lead else [question.text]
    new, actions = _ask(state, ctx, parts, question.prompt, state.phase, **changes)
    return dataclasses.replace(new, question=question), actions


def _end(state: DialogState, ctx: CallContext, prompt: str, disposition: str, reason: str,
         flags: tuple[str, ...] = (), promises: tuple[Promise, ...] = (),
         callback_at: str | None = None, **values: object) -> Step:
    say = Say(text=_text(ctx, prompt, **values), prompt=prompt, barge_in=False)
    new = dataclasses.replace(
        state, phase="ended", question=None, disposition=disposition,
        flags=(*state.flags, *flags), agreed=promises, callback_at=callback_at,
        turns=(*state.turns, Turn(speaker="bot", text=say.text, intent=prompt)))
    return new, [*promises, say, Hangup(disposition=disposition, reason=reason)]


def _default_date(ctx: CallContext) -> date:
    return max(ctx.today, ctx.due_date)


def _single(kind: str, amount: int, when: date) -> Offer:
    return Offer(kind=kind, promises=(Promise(amount=amount, date=when.isoformat()),))


def _allowed(ctx: CallContext, offer: Offer) -> bool:
    return terms.allowed(ctx.policy, offer.promises, ctx.amount_due, ctx.today, ctx.due_date)


# --- the flow --------------------------------------------------------------------------------

def start(ctx: CallContext) -> Step:
    """Open the call: disclosure and identity question, or a neutral message on a machine."""
    state = DialogState()
    if ctx.is_machine:
        if ctx.policy.leave_voicemail:
            return _end(state, ctx, "machine", "MACHINE", "answering machine")
        return dataclasses.replace(state, phase="ended", disposition="MACHINE"), [
            Hangup(disposition="MACHINE", reason="answering machine")]
    parts = [_text(ctx, "disclosure"), _text(ctx, "verify")]
    return _ask(state, ctx, parts, "verify", "verify")


def step(state: DialogState, event: Utterance | Silence, ctx: CallContext) -> Step:
    """Advance the dialog by one debtor event. Partial utterances and events after the end
    change nothing."""
    if state.phase == "ended":
        return state, []
    if isinstance(event, Utterance):
        if not event.final:
            return state, []
        if event.text.strip():
            nlu = NluContext(today=ctx.today, amount_due=ctx.amount_due, payday=ctx.payday,
                             expected=_HINT[state.phase])
            result = understand(event.text, ctx.pack, nlu)
            turn = Turn(speaker="debtor", text=event.text.strip(), intent=result.intent,
                        at=event.ended_at)
            heard = dataclasses.replace(state, turns=(*state.turns, turn), reprompts=0)
            return _reply(heard, result, ctx)
    turn = Turn(speaker="debtor", text="", intent="silence")
    return _silence(dataclasses.replace(state, turns=(*state.turns, turn)), ctx)


def outcome(state: DialogState) -> CallOutcome:
    """The structured result; a dialog cut short (the debtor hung up) is HANGUP."""
    return CallOutcome(disposition=state.disposition or "HANGUP", promises=state.agreed,
                       callback_at=state.callback_at, flags=state.flags, turns=state.turns,
                       rpc=state.rpc)


def _reply(state: DialogState, r: NluResult, ctx: CallContext) -> Step:
    if r.intent in _ENDINGS:
        prompt, disposition, flag = _ENDINGS[r.intent]
        return _end(state, ctx, prompt, disposition, r.intent, flags=(flag,))
    if r.intent == "callback_later":
        return _callback(state, r, ctx)
    if r.intent == "ask_repeat" and state.question is not None:
        return _again(state, ctx, None)
    if state.phase == "verify":
        return _verify(state, r, ctx)
    if state.phase == "confirm" and r.intent in ("affirm", "deny"):
        return _confirm(state, r, ctx)
    return _negotiate(state, r, ctx)


def _verify(state: DialogState, r: NluResult, ctx: CallContext) -> Step:
    if r.intent == "deny":
        return _end(state, ctx, "third_party", "WRONG_PARTY", "third party",
                    flags=("third_party",))
    if r.intent != "affirm":
        return _unknown(state, ctx)
    parts = [_text(ctx, "reminder_overdue" if ctx.today > ctx.due_date else "reminder")]
    if ctx.last_promise is not None:
        parts.append(_text(ctx, "last_promise", last_date=ctx.pack.say_date(
            date.fromisoformat(ctx.last_promise.date)), last_amount=ctx.pack.say_amount(
                ctx.last_promise.amount, ctx.currency)))
    if ctx.time_barred:
        parts.append(_text(ctx, "time_barred"))
    offer = _single("full", ctx.amount_due, _default_date(ctx))
    parts.append(_text(ctx, "ask_payment", **_offer_values(ctx, offer)))
    return _ask(state, ctx, parts, "ask_payment", "negotiate", rpc=True, offer=offer)


def _negotiate(state: DialogState, r: NluResult, ctx: CallContext) -> Step:
    base = state.offer.promises[0] if state.offer else None
    when = r.date or (date.fromisoformat(base.date) if base else _default_date(ctx))
    if r.intent == "affirm":
        return _readback(state, ctx, state.offer) if state.offer else _unknown(state, ctx)
    if r.intent == "deny":
        return _after_no(state, ctx)
    if r.intent == "promise_full":
        return _propose(state, ctx, "full", ctx.amount_due, when)
    if r.intent == "promise_partial":
        if r.amount is not None:
            return _propose(state, ctx, "partial", r.amount, when)
        return _plan_or_ask(state, ctx, when)
    if r.intent == "request_delay":
        if r.date is not None:
            return _propose(state, ctx, "delay", ctx.amount_due, r.date)
        last = terms.deadline(ctx.policy, ctx.today, ctx.due_date)
        return _counter(state, ctx, _single("delay", ctx.amount_due, last))
    return _unknown(state, ctx)


def _propose(state: DialogState, ctx: CallContext, kind: str, amount: int, when: date) -> Step:
    amount = min(amount, ctx.amount_due)
    if amount == ctx.amount_due:
        kind = "delay" if kind == "delay" else "full"
    else:
        kind = "partial"
    offer = _single(kind, amount, when)
    if _allowed(ctx, offer):
        return _readback(state, ctx, offer)
    floor = terms.min_partial(ctx.policy, ctx.amount_due)
    last = terms.deadline(ctx.policy, ctx.today, ctx.due_date)
    target = max(amount, floor)
    target_date = when if ctx.today <= when <= last else last
    kind = ("delay" if target_date > _default_date(ctx) else "full") \
        if target == ctx.amount_due else "partial"
    return _counter(state, ctx, _single(kind, target, target_date))


def _counter(state: DialogState, ctx: CallContext, offer: Offer) -> Step:
    """Put a policy-conforming offer on the table, or state the limits if counters are off."""
    if state.offers_made >= ctx.policy.max_offers or not _allowed(ctx, offer):
        return _end(state, ctx, "refused", "REFUSED", "no agreement")
    made = state.offers_made + 1
    if not ctx.policy.counter_offers:
        floor = terms.min_partial(ctx.policy, ctx.amount_due)
        last = terms.deadline(ctx.policy, ctx.today, ctx.due_date)
        limit = _text(ctx, "limit", amount=ctx.pack.say_amount(floor, ctx.currency),
                      date=ctx.pack.say_date(last))
        return _ask(state, ctx, [limit, _text(ctx, "ask_amount")], "ask_amount", "negotiate",
                    offer=None, offers_made=made)
    values = _offer_values(ctx, offer)
    if offer.kind == "plan":
        prompt = "offer_plan"
    else:
        full = offer.promises[0].amount == ctx.amount_due
        prompt = "counter_full" if full else "counter_partial"
    return _ask(state, ctx, [_text(ctx, prompt, **values)], prompt, "negotiate", offer=offer,
                offers_made=made)


def _plan_or_ask(state: DialogState, ctx: CallContext, when: date) -> Step:
    schedule = terms.plan(ctx.policy, ctx.amount_due, ctx.today, ctx.due_date, when)
    if schedule:
        return _counter(state, ctx, Offer(kind="plan", promises=schedule))
    return _ask(state, ctx, [_text(ctx, "ask_amount")], "ask_amount", "negotiate", offer=None)


def _ladder(state: DialogState, ctx: CallContext) -> list[Offer]:
    if not ctx.policy.counter_offers:
        return []
    first = _default_date(ctx)
    last = terms.deadline(ctx.policy, ctx.today, ctx.due_date)
    floor = terms.min_partial(ctx.policy, ctx.amount_due)
    rungs = []
    if last > first:
        rungs.append(_single("delay", ctx.amount_due, last))
    if floor < ctx.amount_due:
        rungs.append(_single("partial", floor, first))
    schedule = terms.plan(ctx.policy, ctx.amount_due, ctx.today, ctx.due_date)
    if schedule:
        rungs.append(Offer(kind="plan", promises=schedule))
    return rungs


def _after_no(state: DialogState, ctx: CallContext) -> Step:
    """The debtor said no: the next rung of the counter-offer ladder, or a recorded refusal."""
    rungs = _ladder(state, ctx)
    if not ctx.policy.counter_offers:
        if state.rung == 0:
            return _ask(state, ctx, [_text(ctx, "ask_amount")], "ask_amount", "negotiate",
                        offer=None, rung=1)
        return _end(state, ctx, "refused", "REFUSED", "no agreement")
    if state.rung >= len(rungs):
        return _end(state, ctx, "refused", "REFUSED", "no agreement")
    return _counter(dataclasses.replace(state, rung=state.rung + 1), ctx, rungs[state.rung])


def _readback(state: DialogState, ctx: CallContext, offer: Offer) -> Step:
    prompt = "readback_plan" if offer.kind == "plan" else "readback"
    return _ask(state, ctx, [_text(ctx, prompt, **_offer_values(ctx, offer))], prompt, "confirm",
                offer=offer)


def _confirm(state: DialogState, r: NluResult, ctx: CallContext) -> Step:
    offer = state.offer
    if r.intent == "affirm" and offer is not None and _allowed(ctx, offer):
        flags = ("instalment_plan",) if offer.kind == "plan" else ()
        return _end(state, ctx, "confirmed", _DISPOSITION[offer.kind], "promise recorded",
                    flags=flags, promises=offer.promises)
    parts = [_text(ctx, "change"), _text(ctx, "ask_amount")]
    return _ask(state, ctx, parts, "ask_amount", "negotiate", offer=None)


def _callback(state: DialogState, r: NluResult, ctx: CallContext) -> Step:
    pack = ctx.pack
    if r.time is None and r.date is None:
        return _end(state, ctx, "callback_untimed", "CALLBACK", "callback requested")
    parts = []
    if r.date is not None:
        parts.append(str(pack.formats.get("callback_date", "{date}")).format(
            date=pack.say_date(r.date)))
    if r.time is not None:
        parts.append(str(pack.formats.get("callback_time", "{time}")).format(
            time=pack.say_time(r.time)))
    day = (r.date or ctx.today).isoformat()
    at = f"{day}T{r.time}" if r.time else day
    return _end(state, ctx, "callback", "CALLBACK", "callback requested", callback_at=at,
                when=" ".join(parts))


def _unknown(state: DialogState, ctx: CallContext) -> Step:
    if state.clarifications < ctx.policy.max_clarify and state.question is not None:
        return _again(state, ctx, "clarify", clarifications=state.clarifications + 1)
    return _end(state, ctx, "fallback", "NO_RESPONSE", "not understood",
                flags=("not_understood",))


def _silence(state: DialogState, ctx: CallContext) -> Step:
    if state.reprompts < ctx.policy.max_reprompts and state.question is not None:
        return _again(state, ctx, "reprompt", reprompts=state.reprompts + 1)
    return _end(state, ctx, "no_response", "NO_RESPONSE", "no response")
