"""CallSession: one live call. One TaskGroup per call wires media -> asr -> script -> tts -> media.

The session owns the call's externalMedia channel, its mixing bridge and its RTP transport.
It enters when the call's channel is in Stasis (answered), and leaves when the channel ends
(StasisEnd / ChannelDestroyed), when the script hangs up, or at the call's time limit.
Every turn goes to the `on_turn` sink as it happens, not at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from agent.ari import AriClient
from agent.ari_events import AriEvent, ChannelDestroyed, ConnectionLost, StasisEnd, StasisStart
from agent.errors import AriError, MediaError
from agent.events import (
    AudioFrame,
    CallOutcome,
    Hangup,
    Say,
    Silence,
    SpeechStarted,
    Turn,
    Utterance,
)
from agent.media.rtp import RtpTransport
from agent.media.transport import MediaTransport

log = logging.getLogger(__name__)

Action = Say | Hangup | object


class Script(Protocol):
    """The conversation: pure decisions, driven by what the debtor says."""

    def start(self) -> list[Action]: ...
    def step(self, event: Utterance | Silence) -> list[Action]: ...
    def outcome(self) -> CallOutcome: ...


class Speaker(Protocol):
    async def render(self, text: str, voice: str) -> bytes: ...


class Listener(Protocol):
    """One call's recogniser (agent.asr)."""

    events: asyncio.Queue[SpeechStarted | Utterance]

    async def feed(self, frame: AudioFrame) -> None: ...
    def set_grammar(self, phrases: list[str] | None) -> None: ...
    async def aclose(self) -> None: ...


@dataclass(slots=True)
class CallTiming:
    """Monotonic timestamps of the call, for latency figures."""

    stasis_at: float = 0.0
    media_ready_at: float = 0.0
    first_audio_out_at: float | None = None
    replies: list[tuple[float, float]] = field(default_factory=list)  # (debtor end, bot start)
    barge_ins: list[tuple[float, float]] = field(default_factory=list)  # (speech start, stop)


@dataclass(slots=True)
class SessionOptions:
    voice: str = "en-us"
    media_host: str = "127.0.0.1"
    silence_s: float = 6.0
    max_call_s: float = 300.0
    record: Callable[[AudioFrame], None] | None = None  # tap of the debtor's audio
    on_turn: Callable[[Turn], Awaitable[None]] | None = None


class _CallEnded(Exception):
    """Raised inside the TaskGroup to end the call's tasks."""


class CallSession:
    def __init__(self, ari: AriClient, channel_id: str, script: Script, speaker: Speaker,
                 options: SessionOptions, listener: Listener | None = None,
                 prerendered: dict[str, bytes] | None = None,
                 events: asyncio.Queue[AriEvent] | None = None,
                 opening: list[Action] | None = None) -> None:
        self.ari = ari
        self.channel_id = channel_id
        self.script = script
        self.speaker = speaker
        self.options = options
        self.listener = listener
        self.prerendered = dict(prerendered or {})
        self.events = events if events is not None else ari.subscribe(channel_id)
        self.opening = opening  # the script's first actions, when taken (and rendered) early
        self.timing = CallTiming()
        self.transport: MediaTransport | None = None
        self.hangup_reason = ""
        self._media_id = f"{channel_id}-media"
        self._bridge_id = f"{channel_id}-bridge"
        self._heard_at = 0.0  # end of the debtor's last utterance
        self._utterances: asyncio.Queue[Utterance] = asyncio.Queue(8)
        self._barge_in = True
        self.barge_ins = 0
        self._loop = asyncio.get_running_loop()

    async def run(self) -> CallOutcome:
        """Run the call to its end and return the script's outcome."""
        self.timing.stasis_at = self._loop.time()
        try:
            if not await self._wire_media():
                return self.script.outcome()
            async with asyncio.TaskGroup() as tg:
                assert self.transport is not None
                tg.create_task(self.transport.run(), name=f"call:{self.channel_id}:pacer")
                tg.create_task(self._watch_channel(), name=f"call:{self.channel_id}:events")
                tg.create_task(self._hear(), name=f"call:{self.channel_id}:hear")
                tg.create_task(self._converse(), name=f"call:{self.channel_id}:script")
                if self.listener is not None:
                    tg.create_task(self._listen(), name=f"call:{self.channel_id}:asr")
                tg.create_task(self._limit(), name=f"call:{self.channel_id}:limit")
        except* _CallEnded:
            pass
        finally:
            await self._teardown()
        return self.script.outcome()

    # --- media wiring --------------------------------------------------------------------------

    async def _wire_media(self) -> bool:
        """Set up media; False when the far end hung up first (an outcome, not an error)."""
        try:
            await self._setup_media()
        except AriError:
            if await self.ari.get_channel(self.channel_id) is not None:
                raise
            self.hangup_reason = "far end hung up before the bot could speak"
            return False
        return True

    async def _setup_media(self) -> None:
        transport = RtpTransport(host=self.options.media_host)
        self.transport = transport
        host, port = await transport.open()
        media_events = self.ari.subscribe(self._media_id)
        reply = await self.ari.external_media(external_host=f"{host}:{port}", format="ulaw",
                                              channel_id=self._media_id)
        vars_ = reply.get("channelvars") or {}
        try:
            transport.set_remote(str(vars_["UNICASTRTP_LOCAL_ADDRESS"]),
                                 int(vars_["UNICASTRTP_LOCAL_PORT"]))
        except (KeyError, ValueError):
            raise MediaError("externalMedia reply has no UNICASTRTP_LOCAL_ADDRESS/PORT") from None
        # the media channel must be in Stasis before it can join a bridge (else 422)
        async with asyncio.timeout(5):
            while not isinstance(await media_events.get(), StasisStart):
                pass
        await self.ari.create_bridge(self._bridge_id, kind="mixing")
        await self.ari.add_channels(self._bridge_id, self.channel_id, self._media_id)
        self.timing.media_ready_at = self._loop.time()

    async def _teardown(self) -> None:
        if self.transport is not None:
            await self.transport.aclose()
        if self.listener is not None:
            await self.listener.aclose()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3):
                await self.ari.hangup(self._media_id)
                await self.ari.hangup(self.channel_id)
                await self.ari.destroy_bridge(self._bridge_id)
        self.ari.unsubscribe(self._media_id)
        self.ari.unsubscribe(self.channel_id)

    # --- the call's tasks ----------------------------------------------------------------------

    async def _watch_channel(self) -> None:
        while True:
            event = await self.events.get()
            if isinstance(event, StasisEnd | ChannelDestroyed):
                self.hangup_reason = "far end hung up"
                raise _CallEnded
            if isinstance(event, ConnectionLost):
                # Asterisk went away: its channels are gone with it (restart) or will be
                # cleaned up on its side; this call cannot go on.
                self.hangup_reason = "ARI connection lost"
                raise _CallEnded

    async def _limit(self) -> None:
        await asyncio.sleep(self.options.max_call_s)
        self.hangup_reason = "call time limit"
        raise _CallEnded

    async def _hear(self) -> None:
        assert self.transport is not None
        inbound = self.transport.inbound
        while True:
            frame = await inbound.get()
            if self.options.record is not None:
                self.options.record(frame)
            if self.listener is not None:
                await self.listener.feed(frame)

    async def _converse(self) -> None:
        await self._perform(self.opening if self.opening is not None else self.script.start())
        while True:
            event = await self._next_event()
            actions = self.script.step(event)  # pure and fast: it tags the turn's intent
            if isinstance(event, Utterance):
                await self._turn("debtor", event.text, getattr(self.script, "last_intent", ""))
            await self._perform(actions)

    async def _listen(self) -> None:
        """Route recogniser events: speech start stops the bot (barge-in), finals queue up."""
        assert self.listener is not None and self.transport is not None
        while True:
            event = await self.listener.events.get()
            if isinstance(event, SpeechStarted):
                if self.transport.speaking and self._barge_in:
                    dropped = self.transport.stop_playback()
                    self.barge_ins += 1
                    self.timing.barge_ins.append((event.at, self._loop.time()))
                    log.info("call %s: barge-in, %d frames dropped", self.channel_id, dropped)
            elif isinstance(event, Utterance) and event.final and event.text.strip():
                if self._utterances.full():
                    self._utterances.get_nowait()
                self._utterances.put_nowait(event)

    async def _next_event(self) -> Utterance | Silence:
        """The debtor's next final utterance, or Silence after silence_s of nothing."""
        try:
            async with asyncio.timeout(self.options.silence_s):
                event = await self._utterances.get()
        except TimeoutError:
            return Silence(self.options.silence_s)
        self._heard_at = event.ended_at
        return event

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Say):
                if self.listener is not None:
                    self.listener.set_grammar(list(action.expect) or None)
                await self._say(action)
            elif isinstance(action, Hangup):
                self.hangup_reason = action.reason or action.disposition
                raise _CallEnded

    async def _say(self, say: Say) -> None:
        assert self.transport is not None
        pcm = self.prerendered.get(say.text)
        if pcm is None:
            pcm = await self.speaker.render(say.text, self.options.voice)
        self._barge_in = say.barge_in
        playback = self.transport.play(pcm)
        await self._turn("bot", say.text)
        await playback.done
        if playback.first_sent_at is not None:
            if self.timing.first_audio_out_at is None:
                self.timing.first_audio_out_at = playback.first_sent_at
            if self._heard_at:
                self.timing.replies.append((self._heard_at, playback.first_sent_at))
                self._heard_at = 0.0

    async def _turn(self, speaker: str, text: str, intent: str = "") -> None:
        if self.options.on_turn is not None:
            # shielded: a hangup cancels the call's tasks, but a turn once said is written
            turn = Turn(speaker=speaker, text=text, intent=intent, at=self._loop.time())
            await asyncio.shield(self.options.on_turn(turn))


def new_call_id() -> str:
    return uuid.uuid4().hex[:16]
