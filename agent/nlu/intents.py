"""understand(): slots first (time, dates, amount), then the intent from pack phrases and rules.

Layer 1 (generic, any pack): a whole utterance equal to one of the pack's phrases or "=" keywords
takes that phrase's intent. Layer 2: keyword patterns found anywhere, decided in a fixed order
that puts the specific intents (opt-out, wrong person, already paid, ...) before the slot-driven
ones (an amount makes a partial or full promise; a date makes a promise unless negated).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from agent.locale import LocalePack, load_pack
from agent.nlu.lexicon import Lexicon, lexicon
from agent.nlu.numbers import amount as find_amount
from agent.nlu.text import Tokens, find, spans, tokens
from agent.nlu.types import NluContext, NluResult
from agent.nlu.when import clock_time, dates, part_of_day

_FIRST = ("opt_out", "wrong_person", "already_paid", "dispute", "hardship", "ask_human",
          "callback_later")


def _hits(toks: Sequence[str], keywords: Mapping[str, tuple[Tokens, ...]]) -> set[str]:
    return {intent for intent, patterns in keywords.items()
            if any(find(toks, p) >= 0 for p in patterns)}


def _decide(hits: set[str], amount: int | None, mentions: list[tuple[int, date | None]],
            clock: str | None, ctx: NluContext) -> str:
    for intent in _FIRST:
        if intent in hits:
            return intent
    slots = amount is not None or bool(mentions)
    if "ask_repeat" in hits and not slots:
        return "ask_repeat"
    if amount is not None:
        full = ctx.amount_due is not None and amount >= ctx.amount_due
        return "promise_full" if full else "promise_partial"
    for intent in ("promise_partial", "request_delay"):
        if intent in hits:
            return intent
    if ctx.expected == "callback" and (clock or mentions):
        return "callback_later"
    negated = "deny" in hits and "promise_full" not in hits and len(mentions) < 2
    if mentions and not negated:
        return "promise_full"
    if "promise_full" in hits and "deny" not in hits:
        return "affirm" if ctx.expected == "confirm" else "promise_full"
    if "deny" in hits:
        return "deny"
    if "affirm" in hits:
        return "affirm"
    return "callback_later" if clock else "unknown"


def read(toks: Tokens, lex: Lexicon, ctx: NluContext) -> NluResult:
    """The intent and slots of tokenised text under a compiled pack."""
    used: set[int] = set()
    spans(toks, lex.ignore, used)
    clock = clock_time(toks, lex, used)
    mentions = dates(toks, lex, ctx.today, ctx.payday, used)
    resolved = [d for _, d in mentions if d is not None]
    when = resolved[-1] if resolved else None
    amount = find_amount(toks, lex, ctx.amount_due, used)
    intent = lex.exact.get(toks) or _decide(_hits(toks, lex.keywords), amount, mentions,
                                            clock, ctx)
    return NluResult(intent=intent, amount=amount, date=when,
                     time=clock or part_of_day(toks, lex, used))


def understand(text: str, locale: str | LocalePack, context: NluContext) -> NluResult:
    """What the debtor meant: one of INTENTS, plus amount, date and time slots.

    `locale` is a pack code ("en", "id"), a pack directory, or a loaded LocalePack.
    """
    pack = load_pack(locale)
    toks = tokens(text)
    if not toks:
        return NluResult(intent="unknown")
    return read(toks, lexicon(pack), context)
