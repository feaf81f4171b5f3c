"""The media transport interface and what every transport shares: the outgoing playout queue
and the 20 ms pacer scheduled on the monotonic clock.

A transport moves 8 kHz 16-bit PCM between Asterisk and the bot. RTP (rtp.py) is the first;
AudioSocket (slin16 over TCP) can be added as a second by implementing MediaTransport.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass

from agent.events import AudioFrame

log = logging.getLogger(__name__)

FRAME_S = 0.020
LATE_S = 0.040  # a frame sent later than this after its due time counts as late
RESYNC_S = 0.200  # after a stall this long, restart the schedule instead of bursting


@dataclass(slots=True)
class MediaStats:
    frames_in: int = 0
    frames_out: int = 0
    voiced_out: int = 0
    late_frames: int = 0
    resyncs: int = 0
    max_late_ms: float = 0.0
    bad_packets: int = 0


class Playback:
    """One clip queued for sending. `done` resolves True when fully sent, False if stopped."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.sent = 0
        self.first_sent_at: float | None = None  # monotonic time the first frame left
        self.done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def _finish(self, completed: bool) -> None:
        if not self.done.done():
            self.done.set_result(completed)


class Playout:
    """What the pacer sends next: queued clips, or silence when there are none."""

    def __init__(self, frame_bytes: int) -> None:
        self.frame_bytes = frame_bytes
        self._silence = bytes(frame_bytes)
        self._queue: collections.deque[tuple[bytes, Playback]] = collections.deque()

    def enqueue(self, pcm: bytes) -> Playback:
        n = -(-len(pcm) // self.frame_bytes)
        playback = Playback(n)
        for i in range(n):
            chunk = pcm[i * self.frame_bytes : (i + 1) * self.frame_bytes]
            self._queue.append((chunk.ljust(self.frame_bytes, b"\0"), playback))
        if n == 0:
            playback._finish(True)
        return playback

    def stop(self) -> int:
        """Drop everything queued (barge-in); returns the number of frames dropped."""
        dropped = len(self._queue)
        pending = {p for _, p in self._queue}
        self._queue.clear()
        for playback in pending:
            playback._finish(False)
        return dropped

    @property
    def busy(self) -> bool:
        return bool(self._queue)

    def next_frame(self, now: float) -> tuple[bytes, bool]:
        """The next 20 ms of PCM and whether it is speech (False: filler silence)."""
        if not self._queue:
            return self._silence, False
        chunk, playback = self._queue.popleft()
        if playback.first_sent_at is None:
            playback.first_sent_at = now
        playback.sent += 1
        if playback.sent >= playback.frames:
            playback._finish(True)
        return chunk, True


async def pace(send: Callable[[bytes, bool], None], playout: Playout, stats: MediaStats,
               clock: Callable[[], float]) -> None:
    """Send one frame every 20 ms on the monotonic clock: due times are t0 + n * 20 ms, so
    the schedule never drifts; a stall longer than RESYNC_S restarts it rather than bursting."""
    t0 = clock()
    n = 0
    while True:
        due = t0 + n * FRAME_S
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        now = clock()
        late = now - due
        if late > LATE_S:
            stats.late_frames += 1
        stats.max_late_ms = max(stats.max_late_ms, late * 1000.0)
        if late > RESYNC_S:
            stats.resyncs += 1
            t0, n = now, 0
        pcm, voiced = playout.next_frame(now)
        send(pcm, voiced)
        stats.frames_out += 1
        stats.voiced_out += voiced
        n += 1


class MediaTransport(abc.ABC):
    """Audio both ways for one call. PCM is 8 kHz mono 16-bit little-endian."""

    rate: int = 8000
    inbound: asyncio.Queue[AudioFrame]
    stats: MediaStats

    @abc.abstractmethod
    async def open(self) -> tuple[str, int]:
        """Bind/listen; returns the local (host, port) Asterisk must send to."""

    @abc.abstractmethod
    def set_remote(self, host: str, port: int) -> None:
        """Where our audio goes (for RTP: UNICASTRTP_LOCAL_ADDRESS/PORT)."""

    @abc.abstractmethod
    async def run(self) -> None:
        """Send paced frames until cancelled (receiving runs on its own)."""

    @abc.abstractmethod
    def play(self, pcm: bytes) -> Playback:
        """Queue PCM to be sent; returns its Playback handle."""

    @abc.abstractmethod
    def stop_playback(self) -> int:
        """Drop queued audio at once (barge-in); returns frames dropped."""

    @property
    @abc.abstractmethod
    def speaking(self) -> bool:
        """True while queued bot audio is being sent."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Idempotent."""
