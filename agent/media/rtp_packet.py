"""Pure RTP (RFC 3550) packing and parsing. No I/O."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from agent.errors import MediaError

_HEADER = struct.Struct("!BBHII")

PT_ULAW = 0
PT_ALAW = 8
PT_SLIN8 = 10  # L16 8 kHz, big-endian


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def pack(self) -> bytes:
        first = 0x80  # version 2, no padding, no extension, no CSRC
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        return _HEADER.pack(first, second, self.seq & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                            self.ssrc & 0xFFFFFFFF) + self.payload


def parse(data: bytes) -> RtpPacket:
    """Parse one datagram; raises MediaError when it is not RTP version 2."""
    if len(data) < _HEADER.size:
        raise MediaError(f"RTP packet too short ({len(data)} bytes)")
    first, second, seq, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise MediaError(f"not RTP version 2 (first byte 0x{first:02x})")
    offset = _HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
        if len(data) < offset + 4:
            raise MediaError("RTP header extension truncated")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if first & 0x20 and end > offset:  # padding: the last byte says how much
        end -= data[-1]
    if end < offset:
        raise MediaError("RTP packet header longer than the packet")
    return RtpPacket(payload_type=second & 0x7F, seq=seq, timestamp=timestamp, ssrc=ssrc,
                     payload=bytes(data[offset:end]), marker=bool(second & 0x80))


def seq_delta(new: int, old: int) -> int:
    """Signed distance from old to new in 16-bit sequence space (-32768..32767)."""
    return ((new - old + 0x8000) & 0xFFFF) - 0x8000
