"""The scheduler's Dialer on the real PBX: a claimed attempt becomes a call of the daemon.

The debtor's context comes from the store; every turn goes back to the store as it is spoken,
the outcome when the call ends, and the scheduler gets the DialResult to plan what follows.
"""

from __future__ import annotations

import logging

from agent.call import new_call_id
from agent.daemon import Daemon, request_from_context
from agent.events import CallOutcome, Turn
from agent.scheduler import ClaimedAttempt, DialResult
from agent.store import Store

log = logging.getLogger(__name__)


def dial_string(e164: str, number_format: str) -> str:
    """The number as the dialplan gets it: 'e164' (+62...), or 'digits' (62..., no plus)."""
    return e164.lstrip("+") if number_format == "digits" else e164


class _StoreSink:
    def __init__(self, store: Store, attempt_id: int) -> None:
        self.store = store
        self.attempt_id = attempt_id

    async def on_turn(self, turn: Turn) -> None:
        await self.store.record_turn(self.attempt_id, turn)

    async def on_outcome(self, outcome: CallOutcome) -> None:
        await self.store.record_outcome(self.attempt_id, outcome)


class AriDialer:
    """Places scheduled attempts through the daemon (Local/<number>@tagih-outbound)."""

    def __init__(self, daemon: Daemon, store: Store) -> None:
        self.daemon = daemon
        self.store = store

    async def dial(self, attempt: ClaimedAttempt) -> DialResult:
        ctx = await self.store.debtor_context(attempt.debtor_id)
        variables = {"TAGIH_DEBTOR_ID": str(attempt.debtor_id),
                     "TAGIH_ATTEMPT_ID": str(attempt.attempt_id)}
        number = dial_string(attempt.number, self.daemon.cfg.dial.number_format)
        request = request_from_context(ctx, number, variables)
        call_id = f"a{attempt.attempt_id}-{new_call_id()[:8]}"  # unique across stores too
        report = await self.daemon.place_call(call_id, request,
                                              sink=_StoreSink(self.store, attempt.attempt_id))
        return DialResult(answered=report.answered, amd=report.amd or None,
                          hangup_cause=report.cause, disposition=report.disposition)
