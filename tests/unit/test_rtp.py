"""RTP packets and the reorder buffer: pure tables, no sockets."""

import pytest

from agent.errors import MediaError
from agent.media.jitter import ReorderBuffer
from agent.media.rtp_packet import RtpPacket, parse, seq_delta


def _pkt(seq: int, payload: bytes = b"\xff" * 160) -> RtpPacket:
    return RtpPacket(payload_type=0, seq=seq, timestamp=seq * 160, ssrc=7, payload=payload)


def test_pack_parse_round_trip() -> None:
    p = RtpPacket(payload_type=0, seq=65535, timestamp=2**32 - 1, ssrc=0xDEADBEEF,
                  payload=b"abc", marker=True)
    data = p.pack()
    assert data[:2] == b"\x80\x80" and len(data) == 12 + 3
    assert parse(data) == p


def test_parse_skips_csrc_extension_and_padding() -> None:
    header = bytes([0x80 | 0x20 | 0x10 | 0x01, 0x00]) + (5).to_bytes(2, "big")
    header += (800).to_bytes(4, "big") + (9).to_bytes(4, "big")
    csrc = (1).to_bytes(4, "big")
    ext = b"\xbe\xde" + (1).to_bytes(2, "big") + b"\x00" * 4
    data = header + csrc + ext + b"PAY" + b"\x00\x00\x03"
    p = parse(data)
    assert (p.seq, p.timestamp, p.ssrc, p.payload) == (5, 800, 9, b"PAY")


@pytest.mark.parametrize("data", [b"", b"\x80" * 5, bytes([0x40]) + b"\x00" * 11])
def test_parse_rejects_non_rtp(data: bytes) -> None:
    with pytest.raises(MediaError):
        parse(data)


@pytest.mark.parametrize(("new", "old", "delta"),
                         [(5, 3, 2), (3, 5, -2), (0, 65535, 1), (65535, 0, -1)])
def test_seq_delta_wraps(new: int, old: int, delta: int) -> None:
    assert seq_delta(new, old) == delta


def _seqs(out: list[RtpPacket | None]) -> list[int | None]:
    return [None if p is None else p.seq for p in out]


def test_in_order_passes_straight_through() -> None:
    buf = ReorderBuffer(depth=3)
    assert [_seqs(buf.push(_pkt(s))) for s in (10, 11, 12)] == [[10], [11], [12]]


def test_reordered_packets_come_out_in_order() -> None:
    buf = ReorderBuffer(depth=3)
    out: list[int | None] = []
    for s in (1, 3, 2, 4):
        out += _seqs(buf.push(_pkt(s)))
    assert out == [1, 2, 3, 4]
    assert buf.stats.reordered == 1 and buf.stats.lost == 0


def test_loss_is_declared_after_depth_newer_packets() -> None:
    buf = ReorderBuffer(depth=2)
    out: list[int | None] = []
    for s in (1, 3, 4, 5):
        out += _seqs(buf.push(_pkt(s)))
    assert out == [1, None, 3, 4, 5]
    assert buf.stats.lost == 1


def test_late_and_duplicate_packets_are_dropped() -> None:
    buf = ReorderBuffer(depth=3)
    buf.push(_pkt(1))
    buf.push(_pkt(2))
    assert buf.push(_pkt(1)) == []  # already released
    buf.push(_pkt(4))
    assert buf.push(_pkt(4)) == []  # held twice
    assert (buf.stats.late, buf.stats.duplicates) == (1, 1)


def test_sequence_wrap_around() -> None:
    buf = ReorderBuffer(depth=3)
    out: list[int | None] = []
    for s in (65534, 0, 65535, 1):
        out += _seqs(buf.push(_pkt(s)))
    assert out == [65534, 65535, 0, 1]


def test_variable_payload_sizes_are_kept() -> None:
    buf = ReorderBuffer(depth=3)
    out = buf.push(_pkt(1, b"\x01" * 12))
    assert out[0] is not None and len(out[0].payload) == 12
