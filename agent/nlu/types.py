"""The NLU vocabulary: intent names, the context an utterance is read in, and the result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

INTENTS = (
    "affirm", "deny", "promise_full", "promise_partial", "request_delay", "already_paid",
    "wrong_person", "dispute", "hardship", "callback_later", "opt_out", "ask_repeat", "ask_human",
    "unknown",
)


@dataclass(frozen=True, slots=True)
class NluContext:
    """What an utterance is resolved against.

    `payday` is a day of the month (1-31). `expected` is an optional hint naming what the current
    turn asked: "verify", "payment", "confirm" or "callback".
    """

    today: date
    amount_due: int | None = None
    payday: int | None = None
    expected: str | None = None


@dataclass(frozen=True, slots=True)
class NluResult:
    """An intent (one of INTENTS) and its slots: amount in currency units, date, time "HH:MM"."""

    intent: str
    amount: int | None = None
    date: date | None = None
    time: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The stable public JSON shape printed by `tagih nlu`."""
        return {
            "intent": self.intent,
            "amount": self.amount,
            "date": self.date.isoformat() if self.date else None,
            "time": self.time,
        }
