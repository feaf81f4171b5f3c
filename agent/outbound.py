"""Placing an outbound call through the dialplan: originate Local/<number>@tagih-outbound.

The `;1` half of the Local channel is ours (it enters our Stasis app when the callee answers,
after AMD); the `;2` half runs [tagih-outbound], which re-checks policy over FastAGI, dials the
trunk and runs AMD on the answered callee, putting the results on `;1` as channel variables.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.ari import AriClient
from agent.ari_events import ChannelDestroyed, ConnectionLost, StasisStart
from agent.config import DialConfig
from agent.errors import AriError

log = logging.getLogger(__name__)

# Q.850 cause codes -> dispositions of an unanswered attempt
_CAUSES = {17: "BUSY", 21: "BUSY", 18: "NO_ANSWER", 19: "NO_ANSWER", 16: "NO_ANSWER",
           0: "NO_ANSWER"}


def disposition_for_cause(cause: int | None) -> str:
    """What an unanswered attempt is recorded as, from its hangup cause."""
    if cause is None:
        return "FAILED"
    return _CAUSES.get(cause, "FAILED")


@dataclass(frozen=True, slots=True)
class DialRequest:
    call_id: str
    number: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DialResult:
    call_id: str
    channel_id: str
    answered: bool
    cause: int | None = None
    cause_txt: str = ""
    amd_status: str = ""
    amd_cause: str = ""

    @property
    def disposition(self) -> str:
        if self.answered:
            return "MACHINE" if self.amd_status == "MACHINE" else "ANSWERED"
        return disposition_for_cause(self.cause)


def channel_ids(call_id: str) -> tuple[str, str]:
    """The ids we give the two halves of the call's Local channel."""
    return f"tagih-{call_id}", f"tagih-{call_id}-2"


async def dial(ari: AriClient, cfg: DialConfig, request: DialRequest) -> DialResult:
    """Originate and wait until the callee answers or the attempt ends."""
    chan, other = channel_ids(request.call_id)
    events = ari.subscribe(chan)
    ari.ignore(other)
    variables = {"TAGIH_CALL_ID": request.call_id,
                 "TAGIH_RING_TIMEOUT": str(cfg.ring_timeout_s), **request.variables}
    try:
        await ari.originate(f"Local/{request.number}@{cfg.context}", app_args=("outbound",
                            request.call_id), channel_id=chan, other_channel_id=other,
                            formats=cfg.formats, caller_id=cfg.caller_id or None,
                            timeout_s=cfg.ring_timeout_s + 30, variables=variables)
        async with asyncio.timeout(cfg.ring_timeout_s + 45):
            while True:
                event = await events.get()
                if isinstance(event, StasisStart):
                    amd = await ari.get_var(chan, "TAGIH_AMDSTATUS") or ""
                    amd_cause = await ari.get_var(chan, "TAGIH_AMDCAUSE") or ""
                    return DialResult(request.call_id, chan, True, amd_status=amd,
                                      amd_cause=amd_cause)
                if isinstance(event, ChannelDestroyed):
                    ari.unsubscribe(chan)
                    return DialResult(request.call_id, chan, False, cause=event.cause,
                                      cause_txt=event.cause_txt)
                if isinstance(event, ConnectionLost):
                    ari.unsubscribe(chan)
                    return DialResult(request.call_id, chan, False, cause_txt="ARI lost")
    except TimeoutError:
        await ari.hangup(chan)
        ari.unsubscribe(chan)
        return DialResult(request.call_id, chan, False, cause_txt="no answer in time")
    except AriError:
        ari.unsubscribe(chan)
        raise
    finally:
        ari.unsubscribe(other)
