"""A simulated debtor driven through ARI: the far side of a real call, under a test's control.

The bot dials `Local/5xxx@tagih-outbound`; the sandbox's [tagih-debtor-sim] answers 5xxx numbers
with `Stasis(tagih-debtor, <SIM_TAG>)`. This harness owns that app: it bridges the debtor's
channel with its own externalMedia RTP channel, so it hears exactly what the bot sends and says
exactly what the test wants, and it knows when it stopped speaking (the last frame it sent).

Turn latency = first voiced frame of the bot's reply received here - last voiced frame the
debtor sent. Both are monotonic-clock times of this process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from agent.ari import AriClient
from agent.ari_events import ChannelDestroyed, StasisEnd, StasisStart
from agent.config import AriConfig
from agent.events import AudioFrame
from agent.media.codec import rms
from agent.media.rtp import RtpTransport

APP = "tagih-debtor"
VOICED_RMS = 0.01  # -40 dBFS: a frame above this is speech (the bot sends digital silence)


@dataclass(frozen=True, slots=True)
class Spoken:
    """When the debtor's clip went out: first and last voiced frame, and the clip's end."""

    start: float
    last_voiced: float
    end: float


@dataclass(slots=True)
class Heard:
    """What the debtor heard: voiced segments as (first voiced frame, last voiced frame)."""

    segments: list[tuple[float, float]] = field(default_factory=list)
    frames: list[AudioFrame] = field(default_factory=list)


class DebtorLine:
    """One answered simulated debtor: listen to the bot, speak, hang up."""

    def __init__(self, ari: AriClient, channel_id: str, transport: RtpTransport) -> None:
        self.ari = ari
        self.channel_id = channel_id
        self.transport = transport
        self.heard = Heard()
        self.ended = asyncio.Event()
        self._voiced_at: float | None = None  # start of the current voiced segment
        self._last_voiced = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self.media_id = self.bridge_id = ""

    async def listen(self) -> None:
        while True:
            frame = await self.transport.inbound.get()
            self.heard.frames.append(frame)
            if rms(frame.pcm) > VOICED_RMS:
                if self._voiced_at is None:
                    self._voiced_at = frame.at
                self._last_voiced = frame.at
            elif self._voiced_at is not None and frame.at - self._last_voiced > 0.25:
                self.heard.segments.append((self._voiced_at, self._last_voiced))
                self._voiced_at = None

    @property
    def bot_speaking(self) -> bool:
        return self._voiced_at is not None

    async def wait_bot_prompt(
        self, after: float = 0.0, quiet_s: float = 0.8, timeout_s: float = 20
    ) -> tuple[float, float]:
        """Wait until the bot spoke after `after` and then stayed quiet for `quiet_s`.

        Returns (first voiced frame, last voiced frame) of what it said."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_s):
            # polling is right here: "quiet for quiet_s" is the absence of an event
            while not self._quiet_since(after, quiet_s, loop.time()):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        return await self.first_voice_after(after), self._last_voiced

    def _quiet_since(self, after: float, quiet_s: float, now: float) -> bool:
        return self._last_voiced > after and now - self._last_voiced >= quiet_s

    async def first_voice_after(self, t: float, timeout_s: float = 10) -> float:
        """Arrival time of the first voiced frame received after monotonic time t."""
        async with asyncio.timeout(timeout_s):
            while True:
                for frame in self.heard.frames:
                    if frame.at > t and rms(frame.pcm) > VOICED_RMS:
                        return frame.at
                await asyncio.sleep(0.005)

    def last_voice_before(self, t: float) -> float:
        """Arrival time of the last voiced frame received before monotonic time t."""
        last = 0.0
        for frame in self.heard.frames:
            if frame.at >= t:
                break
            if rms(frame.pcm) > VOICED_RMS:
                last = frame.at
        return last

    async def say(self, pcm: bytes) -> Spoken:
        """Speak `pcm` (8 kHz) and wait until its last frame left."""
        playback = self.transport.play(pcm)
        await playback.done
        end = asyncio.get_running_loop().time()
        first = playback.first_sent_at or end
        voiced = [
            i for i in range(0, len(pcm) // 320) if rms(pcm[i * 320 : (i + 1) * 320]) > VOICED_RMS
        ]
        # frames leave on a 20 ms schedule, so frame i left at first + i * 20 ms
        return Spoken(
            start=first + (voiced[0] if voiced else 0) * 0.02,
            last_voiced=first + (voiced[-1] if voiced else 0) * 0.02,
            end=end,
        )

    async def hangup(self) -> None:
        await self.ari.hangup(self.channel_id)


class SimulatedDebtors:
    """Owns the `tagih-debtor` ARI app; hands out a DebtorLine per SIM_TAG."""

    def __init__(self, cfg: AriConfig | None = None) -> None:
        self.ari = AriClient(cfg or AriConfig(), apps=(APP,))
        self._waiting: dict[str, asyncio.Future[DebtorLine]] = {}
        self._lines: list[DebtorLine] = []

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SimulatedDebtors]:
        async with self.ari, asyncio.TaskGroup() as tg:
            events = tg.create_task(self.ari.run_events())
            router = tg.create_task(self._route(tg))
            async with asyncio.timeout(10):
                await self.ari.connected.wait()
            try:
                yield self
            finally:
                for line in self._lines:
                    for task in line._tasks:
                        task.cancel()
                    await line.transport.aclose()
                    with contextlib.suppress(Exception):  # leave nothing in the shared PBX
                        await line.hangup()
                        await self.ari.hangup(line.media_id)
                        await self.ari.destroy_bridge(line.bridge_id)
                events.cancel()
                router.cancel()

    def expect(self, tag: str) -> asyncio.Future[DebtorLine]:
        future: asyncio.Future[DebtorLine] = asyncio.get_running_loop().create_future()
        self._waiting[tag] = future
        return future

    async def _route(self, tg: asyncio.TaskGroup) -> None:
        while True:
            event = await self.ari.unrouted.get()
            if isinstance(event, StasisStart) and event.args and event.args[0] in self._waiting:
                tg.create_task(self._attach(event.channel_id, event.args[0], tg))

    async def _attach(self, channel_id: str, tag: str, tg: asyncio.TaskGroup) -> None:
        future = self._waiting.pop(tag)
        try:
            line = await self._wire(channel_id, tg)
        except Exception as exc:  # hand the failure to the test that waits for this debtor
            future.set_exception(exc)
            return
        future.set_result(line)

    async def _wire(self, channel_id: str, tg: asyncio.TaskGroup) -> DebtorLine:
        events = self.ari.subscribe(channel_id)
        transport = RtpTransport()
        host, port = await transport.open()
        media_id = f"{channel_id}-dm"
        media_events = self.ari.subscribe(media_id)
        reply = await self.ari.external_media(
            external_host=f"{host}:{port}", app=APP, channel_id=media_id
        )
        cv = reply["channelvars"]
        transport.set_remote(cv["UNICASTRTP_LOCAL_ADDRESS"], int(cv["UNICASTRTP_LOCAL_PORT"]))
        async with asyncio.timeout(5):
            while not isinstance(await media_events.get(), StasisStart):
                pass
        bridge = f"{channel_id}-db"
        await self.ari.create_bridge(bridge)
        await self.ari.add_channels(bridge, channel_id, media_id)
        line = DebtorLine(self.ari, channel_id, transport)
        line.media_id, line.bridge_id = media_id, bridge
        self._lines.append(line)
        line._tasks += [
            tg.create_task(transport.run()),
            tg.create_task(line.listen()),
            tg.create_task(_watch_end(events, line, self.ari, media_id, bridge)),
        ]
        return line


async def _watch_end(
    events: asyncio.Queue, line: DebtorLine, ari: AriClient, media_id: str, bridge: str
) -> None:
    while not isinstance(await events.get(), StasisEnd | ChannelDestroyed):
        pass
    line.ended.set()
    with contextlib.suppress(Exception):
        await ari.hangup(media_id)
        await ari.destroy_bridge(bridge)
