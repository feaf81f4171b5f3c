"""A text conversation with the dialog engine the calls use (`tagih simulate`).

Each input line is one debtor turn; an empty line is a silence. Bot lines go to `say`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable

from agent import dialog
from agent.dialog import CallContext
from agent.events import CallOutcome, Hangup, Promise, Say, Silence, Utterance

SILENCE_SECONDS = 5.0


def _show(actions: list[dialog.Action], say: Callable[[str], None]) -> bool:
    ended = False
    for action in actions:
        if isinstance(action, Say):
            say(f"bot: {action.text}")
        elif isinstance(action, Promise):
            say(f"[promise {action.amount} by {action.date} #{action.instalment}]")
        elif isinstance(action, Hangup):
            say(f"[hangup {action.disposition}]")
            ended = True
    return ended


def converse(ctx: CallContext, lines: Iterable[str], say: Callable[[str], None],
             echo: bool = False) -> CallOutcome:
    """Run the dialog over debtor `lines`; input running out means the debtor hung up."""
    state, actions = dialog.start(ctx)
    if _show(actions, say):
        return dialog.outcome(state)
    for raw in lines:
        text = raw.rstrip("\r\n")
        if echo:
            say(f"debtor: {text}" if text.strip() else "debtor: (silence)")
        event = Utterance(text=text) if text.strip() else Silence(seconds=SILENCE_SECONDS)
        state, actions = dialog.step(state, event, ctx)
        if _show(actions, say):
            break
    return dialog.outcome(state)


def outcome_json(outcome: CallOutcome) -> str:
    """The outcome as one line of JSON."""
    return json.dumps(dataclasses.asdict(outcome), ensure_ascii=False)
