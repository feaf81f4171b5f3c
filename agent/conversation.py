"""Scripts a CallSession can run: adapters from the pure dialog engine to the session.

A Script keeps the dialog's state between steps and collects the transcript; the decisions stay
in agent.dialog (pure).
"""

from __future__ import annotations

import dataclasses

from agent import dialog
from agent.dialog import CallContext, DialogState
from agent.events import CallOutcome, Promise, Say, Silence, Turn, Utterance


class Greeting:
    """Say one greeting, then listen until the far end hangs up (no negotiation)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.turns: list[Turn] = []

    def start(self) -> list[object]:
        self.turns.append(Turn("bot", self.text))
        return [Say(self.text, prompt="greeting")]

    def step(self, event: Utterance | Silence) -> list[object]:
        if isinstance(event, Utterance):
            self.turns.append(Turn("debtor", event.text))
        return []

    def outcome(self) -> CallOutcome:
        return CallOutcome(disposition="HANGUP", turns=tuple(self.turns))


class DialogScript:
    """The negotiation dialog (agent.dialog, pure) driven by a live call.

    The dialog's own state carries the transcript; the call keeps only the latest state. When
    the debtor hangs up mid-call, the outcome is the dialog's so far, with HANGUP when the
    dialog had not reached a disposition yet.
    """

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.state: DialogState | None = None
        self.promises: list[Promise] = []

    def start(self) -> list[object]:
        self.state, actions = dialog.start(self.ctx)
        return self._note(actions)

    def step(self, event: Utterance | Silence) -> list[object]:
        if self.state is None:
            return self.start()
        self.state, actions = dialog.step(self.state, event, self.ctx)
        return self._note(actions)

    def _note(self, actions: list[dialog.Action]) -> list[object]:
        self.promises += [a for a in actions if isinstance(a, Promise)]
        return list(actions)

    @property
    def last_intent(self) -> str:
        """The intent the dialog read in the debtor's latest turn ('' before any)."""
        if self.state is None:
            return ""
        return next((t.intent for t in reversed(self.state.turns) if t.speaker == "debtor"), "")

    def outcome(self) -> CallOutcome:
        if self.state is None:
            return CallOutcome(disposition="HANGUP")
        result = dialog.outcome(self.state)
        if self.state.phase != "ended" and not self.state.disposition:
            return dataclasses.replace(result, disposition="HANGUP")
        return result
