"""The RTP transport on real UDP sockets on 127.0.0.1."""

import asyncio
import itertools
import socket

import numpy as np

from agent.media.codec import max_normalised_xcorr, pcm_to_ulaw
from agent.media.rtp import RtpTransport
from agent.media.rtp_packet import RtpPacket, parse


def _tone(seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return (np.sin(2 * np.pi * hz * t) * 12000).astype("<i2").tobytes()


async def _drain(queue: asyncio.Queue, n: int) -> list:
    out = []
    async with asyncio.timeout(5):
        while len(out) < n:
            out.append(await queue.get())
    return out


async def test_two_transports_exchange_paced_audio() -> None:
    a, b = RtpTransport(), RtpTransport()
    addr_a, addr_b = await a.open(), await b.open()
    a.set_remote(*addr_b)
    b.set_remote(*addr_a)
    tone = _tone(1.0)
    async with asyncio.TaskGroup() as tg:
        runs = [tg.create_task(a.run()), tg.create_task(b.run())]
        playback = a.play(tone)
        async with asyncio.timeout(3):
            completed = await playback.done
        frames = await _drain(b.inbound, 50)
        for task in runs:
            task.cancel()
    await a.aclose()
    await b.aclose()
    assert completed is True
    assert playback.sent == 50 and playback.first_sent_at is not None
    got = b"".join(f.pcm for f in frames)
    peak, _ = max_normalised_xcorr(tone, got, max_lag=8000)
    assert peak > 0.95  # the tone crossed the wire (ulaw quantisation costs < 1 %)
    assert a.stats.late_frames == 0


async def test_stop_playback_cuts_the_clip_short() -> None:
    a = RtpTransport()
    await a.open()
    a.set_remote("127.0.0.1", 9)  # discard port: nobody listens, UDP does not care
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(a.run())
        playback = a.play(_tone(2.0))
        await asyncio.sleep(0.2)
        assert a.speaking
        dropped = a.stop_playback()
        async with asyncio.timeout(1):
            completed = await playback.done
        run.cancel()
    await a.aclose()
    assert completed is False and dropped > 80 and not a.speaking


async def test_receiver_reorders_and_fills_loss_with_silence() -> None:
    rx = RtpTransport()
    host, port = await rx.open()
    frames = [pcm_to_ulaw(_tone(0.02, hz=300 + 100 * i)) for i in range(6)]
    order = [0, 2, 1, 4, 5]  # 3 is lost, 1/2 swapped
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in order:
            tx.sendto(RtpPacket(0, 1000 + i, 160 * i, 42, frames[i]).pack(), (host, port))
        tx.sendto(RtpPacket(0, 1006, 960, 42, b"\xff" * 12).pack(), (host, port))  # short
        tx.sendto(RtpPacket(0, 1007, 972, 42, b"\xff" * 160).pack(), (host, port))
        got = await _drain(rx.inbound, 7)
    await rx.aclose()
    pcm = [f.pcm for f in got]
    assert [len(p) for p in pcm] == [320, 320, 320, 320, 320, 320, 24]
    assert pcm[3] == bytes(320)  # the lost packet became silence
    assert rx.reorder.stats.lost == 1 and rx.reorder.stats.reordered == 1


async def test_sent_packets_are_well_formed_rtp() -> None:
    tx = RtpTransport()
    await tx.open()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.setblocking(False)
        tx.set_remote(*sink.getsockname())
        async with asyncio.TaskGroup() as tg:
            run = tg.create_task(tx.run())
            tx.play(_tone(0.1))
            await asyncio.sleep(0.25)
            run.cancel()
        packets = []
        while True:
            try:
                packets.append(parse(sink.recv(2048)))
            except BlockingIOError:
                break
    await tx.aclose()
    assert len(packets) >= 10
    seqs = [p.seq for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in packets)
    assert all(b.timestamp - a.timestamp == 160 for a, b in itertools.pairwise(packets))
    assert packets[0].marker and len({p.ssrc for p in packets}) == 1
