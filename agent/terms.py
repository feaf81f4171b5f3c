"""Negotiation terms a campaign allows: minimum partial share, maximum delay, instalments.

Pure. The dialog builds every promise through these functions, so it cannot agree to anything
outside the policy. Stored by campaigns as JSON via to_dict()/from_dict().
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from agent.errors import ConfigError
from agent.events import Promise


@dataclass(frozen=True, slots=True)
class NegotiationPolicy:
    """What the bot may agree to. A partial promise is at least `min_partial_share` of the amount
    due; every promised date is at most `max_delay_days` after max(today, due date); a plan has at
    most `max_instalments` parts (1 = no plans)."""

    min_partial_share: float = 0.5
    max_delay_days: int = 14
    max_instalments: int = 3
    counter_offers: bool = True
    max_reprompts: int = 2  # silences answered with a reprompt before a polite end
    max_clarify: int = 1  # not-understood replies answered with a clarification before fallback
    max_offers: int = 4  # counter-offers before the bot records a refusal
    leave_voicemail: bool = True  # on an answering machine: neutral message, else just hang up

    def __post_init__(self) -> None:
        if not 0 < self.min_partial_share <= 1:
            raise ConfigError(f"negotiation min_partial_share {self.min_partial_share} "
                              "must be in (0, 1]")
        for name in ("max_delay_days", "max_reprompts", "max_clarify", "max_offers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"negotiation {name} must not be negative")
        if self.max_instalments < 1:
            raise ConfigError("negotiation max_instalments must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NegotiationPolicy:
        """Build from a mapping (JSON, TOML); unknown keys and bad types fail naming the key."""
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"negotiation policy: unknown key {unknown[0]!r}")
        values: dict[str, Any] = {}
        for key, raw in data.items():
            typ = hints[key]
            ok = isinstance(raw, typ) and not (typ is int and isinstance(raw, bool))
            if typ is float and isinstance(raw, int) and not isinstance(raw, bool):
                raw, ok = float(raw), True
            if not ok:
                raise ConfigError(f"negotiation policy: {key} must be {typ.__name__}, "
                                  f"not {raw!r}")
            values[key] = raw
        return cls(**values)


def load_policy(path: str | Path) -> NegotiationPolicy:
    """A policy from a TOML file: keys at the top level or in a [negotiation] table."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"policy file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"policy file {path}: {exc}") from None
    return NegotiationPolicy.from_dict(data.get("negotiation", data))


def deadline(policy: NegotiationPolicy, today: date, due: date) -> date:
    """The latest date any promise may name."""
    return max(today, due) + timedelta(days=policy.max_delay_days)


def min_partial(policy: NegotiationPolicy, amount_due: int) -> int:
    """The smallest partial amount the policy accepts."""
    return min(amount_due, math.ceil(amount_due * policy.min_partial_share - 1e-9))


def allowed(policy: NegotiationPolicy, promises: Sequence[Promise], amount_due: int,
            today: date, due: date) -> bool:
    """Whether an agreement (one promise, or a plan of instalments) lies inside the policy."""
    if not promises:
        return False
    last = deadline(policy, today, due)
    if any(not today <= date.fromisoformat(p.date) <= last for p in promises):
        return False
    if len(promises) == 1:
        amount = promises[0].amount
        return min_partial(policy, amount_due) <= amount <= amount_due
    return (len(promises) <= policy.max_instalments
            and sum(p.amount for p in promises) == amount_due
            and all(p.amount > 0 for p in promises))


def plan(policy: NegotiationPolicy, amount_due: int, today: date, due: date,
         first: date | None = None) -> tuple[Promise, ...]:
    """An instalment plan of max_instalments parts from `first` (default today) to the deadline.

    Empty when the policy allows no plans or the amount cannot be split.
    """
    parts = min(policy.max_instalments, amount_due)
    last = deadline(policy, today, due)
    start = first if first and today <= first <= last else today
    if parts < 2:
        return ()
    span = (last - start).days
    share = amount_due // parts
    promises = []
    for i in range(parts):
        when = start + timedelta(days=span * i // (parts - 1))
        amount = share if i < parts - 1 else amount_due - share * (parts - 1)
        promises.append(Promise(amount=amount, date=when.isoformat(), instalment=i + 1))
    return tuple(promises)
