"""Pure reorder buffer for received RTP: packets in, in-order payloads out, gaps made explicit.

It holds at most `depth` packets. A packet older than what was already released is dropped
(too late); a gap is declared lost once `depth` newer packets are waiting, or at once when the
buffer overflows, so latency never grows beyond depth x 20 ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.media.rtp_packet import RtpPacket, seq_delta


@dataclass(slots=True)
class ReorderStats:
    received: int = 0
    released: int = 0
    lost: int = 0
    late: int = 0
    duplicates: int = 0
    reordered: int = 0


@dataclass(slots=True)
class ReorderBuffer:
    depth: int = 3
    stats: ReorderStats = field(default_factory=ReorderStats)
    _next: int | None = None
    _held: dict[int, RtpPacket] = field(default_factory=dict)
    _last_seen: int | None = None

    def push(self, packet: RtpPacket) -> list[RtpPacket | None]:
        """Add one packet; returns what can be released in order. None stands for a lost one."""
        self.stats.received += 1
        if self._next is None:
            self._next = packet.seq
        if seq_delta(packet.seq, self._next) < 0:
            self.stats.late += 1
            return []
        if packet.seq in self._held:
            self.stats.duplicates += 1
            return []
        if self._last_seen is not None and seq_delta(packet.seq, self._last_seen) < 0:
            self.stats.reordered += 1
        self._last_seen = packet.seq
        self._held[packet.seq] = packet
        return self._release()

    def _release(self) -> list[RtpPacket | None]:
        out: list[RtpPacket | None] = []
        assert self._next is not None
        while self._held:
            packet = self._held.pop(self._next, None)
            if packet is not None:
                out.append(packet)
                self.stats.released += 1
            elif len(self._held) >= self.depth:
                out.append(None)
                self.stats.lost += 1
            else:
                break
            self._next = (self._next + 1) & 0xFFFF
        return out

    def flush(self) -> list[RtpPacket | None]:
        """Release everything held, declaring the gaps lost."""
        out: list[RtpPacket | None] = []
        while self._held and self._next is not None:
            packet = self._held.pop(self._next, None)
            out.append(packet)
            if packet is None:
                self.stats.lost += 1
            else:
                self.stats.released += 1
            self._next = (self._next + 1) & 0xFFFF
        return out
