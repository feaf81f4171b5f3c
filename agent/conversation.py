"""Scripts a CallSession can run: adapters from the pure dialog engine to the session.

A Script keeps the dialog's state between steps and collects the transcript; the decisions stay
in agent.dialog (pure).
"""

from __future__ import annotations

from agent.events import CallOutcome, Say, Silence, Turn, Utterance


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
