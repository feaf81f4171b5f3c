"""RTP transport for Asterisk externalMedia: G.711 mu-law (payload type 0) by default.

Symmetric RTP: one UDP socket receives Asterisk's stream and sends ours, so strictrtp stays on.
Received packets go through a small reorder buffer; a lost packet becomes 20 ms of silence so
the recogniser's clock stays right. Payload sizes may vary (a Playback's last packet is short).
"""

from __future__ import annotations

import asyncio
import logging
import random

from agent.errors import MediaError
from agent.events import AudioFrame
from agent.media.codec import pcm_to_ulaw, ulaw_to_pcm
from agent.media.jitter import ReorderBuffer
from agent.media.rtp_packet import PT_ULAW, RtpPacket, parse
from agent.media.transport import MediaStats, MediaTransport, Playback, Playout, pace

log = logging.getLogger(__name__)

SAMPLES_PER_FRAME = 160  # 20 ms at 8 kHz
INBOUND_FRAMES = 500  # 10 s of audio
ULAW_SILENCE = b"\xff" * SAMPLES_PER_FRAME


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: RtpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)


class RtpTransport(MediaTransport):
    """ExternalMedia over RTP (`encapsulation=rtp transport=udp format=ulaw`)."""

    def __init__(self, host: str = "127.0.0.1", payload_type: int = PT_ULAW,
                 reorder_depth: int = 3) -> None:
        if payload_type != PT_ULAW:
            raise MediaError(f"RTP payload type {payload_type} is not supported (use 0, ulaw)")
        self.host = host
        self.payload_type = payload_type
        self.inbound = asyncio.Queue(INBOUND_FRAMES)
        self.stats = MediaStats()
        self.reorder = ReorderBuffer(depth=reorder_depth)
        self._transport: asyncio.DatagramTransport | None = None
        self._remote: tuple[str, int] | None = None
        self._playout = Playout(SAMPLES_PER_FRAME * 2)
        self._seq = random.randrange(0x10000)
        self._ts = random.randrange(0x100000000)
        self._ssrc = random.randrange(1, 0x100000000)
        self._ssrc_in: int | None = None
        self._was_voiced = False
        self._loop = asyncio.get_running_loop()

    async def open(self) -> tuple[str, int]:
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.host, 0))
        self._transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def set_remote(self, host: str, port: int) -> None:
        self._remote = (host, port)

    # --- receive -------------------------------------------------------------------------------

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = parse(data)
        except MediaError:
            self.stats.bad_packets += 1
            return
        if packet.payload_type != self.payload_type:
            self.stats.bad_packets += 1
            return
        if self._ssrc_in != packet.ssrc:  # a new stream (e.g. after a re-INVITE): restart order
            self._ssrc_in = packet.ssrc
            self.reorder = ReorderBuffer(depth=self.reorder.depth)
        now = self._loop.time()
        for item in self.reorder.push(packet):
            pcm = ulaw_to_pcm(item.payload) if item is not None else bytes(SAMPLES_PER_FRAME * 2)
            self._deliver(AudioFrame(pcm=pcm, rate=8000, at=now))

    def _deliver(self, frame: AudioFrame) -> None:
        self.stats.frames_in += 1
        if self.inbound.full():
            self.inbound.get_nowait()
        self.inbound.put_nowait(frame)

    # --- send ----------------------------------------------------------------------------------

    def _send(self, pcm: bytes, voiced: bool) -> None:
        if self._transport is None or self._remote is None:
            return
        packet = RtpPacket(payload_type=self.payload_type, seq=self._seq, timestamp=self._ts,
                           ssrc=self._ssrc,
                           payload=pcm_to_ulaw(pcm) if voiced else ULAW_SILENCE,
                           marker=voiced and not self._was_voiced)
        self._was_voiced = voiced
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + len(pcm) // 2) & 0xFFFFFFFF
        self._transport.sendto(packet.pack(), self._remote)

    async def run(self) -> None:
        await pace(self._send, self._playout, self.stats, self._loop.time)

    def play(self, pcm: bytes) -> Playback:
        return self._playout.enqueue(pcm)

    def stop_playback(self) -> int:
        return self._playout.stop()

    @property
    def speaking(self) -> bool:
        return self._playout.busy

    async def aclose(self) -> None:
        self._playout.stop()
        if self._transport is not None:
            transport, self._transport = self._transport, None
            transport.close()
