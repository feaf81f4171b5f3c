"""Real pyttsx3 + libespeak-ng through agent.tts: audio content, cache, one worker, restart."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.config import TtsConfig
from agent.errors import TtsError
from agent.media.codec import rms
from agent.tts import Tts, cache_key, engine_tag

pytestmark = [pytest.mark.tts, pytest.mark.timeout(60)]

EN = "Hello Budi, this is a reminder about your payment. Can you pay today?"
ID = "Halo Pak Budi, tagihan Anda jatuh tempo lima belas Desember."
KO = "네 오늘 낼게요"


@pytest.fixture
async def tts(tmp_path: Path) -> AsyncIterator[Tts]:
    engine = Tts(TtsConfig(cache_dir=str(tmp_path / "cache"), timeout_s=10.0))
    yield engine
    async with asyncio.timeout(15):
        await engine.aclose()


def _tts_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tts-worker") and t.is_alive()]


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _espeak_cli_samples(tmp_path: Path, voice: str, rate: int, text: str) -> int:
    """Samples at 22050 Hz that the espeak-ng CLI writes for the same voice and rate."""
    out = tmp_path / "cli.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(out), text],
                   check=True, timeout=20)
    with wave.open(str(out), "rb") as w:
        return w.getnframes()


@pytest.mark.parametrize(
    ("voice", "text", "min_s", "max_s"),
    [("en-us", EN, 3.0, 7.0), ("id", ID, 2.5, 7.0), ("ko", KO, 0.6, 3.0)],
)
async def test_render_is_speech_at_8khz(tts: Tts, tmp_path: Path, voice: str, text: str,
                                        min_s: float, max_s: float) -> None:
    async with asyncio.timeout(15):
        pcm = await tts.render(text, voice)
    seconds = len(pcm) / 2 / 8000
    assert min_s <= seconds <= max_s
    assert rms(pcm) > 0.02
    if shutil.which("espeak-ng"):
        # the CLI at the same rate speaks the same text (the library varies by 10-40 ms)
        n22 = _espeak_cli_samples(tmp_path, voice, 175, text)
        assert abs(len(pcm) // 2 - n22 * 8000 / 22050) <= 0.06 * 8000


async def test_cache_hit_is_identical_and_needs_no_engine(tts: Tts, tmp_path: Path) -> None:
    async with asyncio.timeout(15):
        t0 = time.perf_counter()
        first = await tts.render(EN, "en-us")
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = await tts.render(EN, "en-us")
        warm = time.perf_counter() - t0
    assert second == first
    assert warm < cold
    assert tts.cache_path(EN, "en-us").read_bytes() == first
    assert _names(tmp_path / "cache") == [tts.cache_path(EN, "en-us").name]  # no temp file left
    fresh = Tts(TtsConfig(cache_dir=str(tmp_path / "cache")))
    async with asyncio.timeout(15):
        assert await fresh.render(EN, "en-us") == first
        assert fresh.worker_thread is None  # served from disk: no engine was started
        await fresh.aclose()


def test_cache_key_covers_engine_voice_rate_and_text() -> None:
    tag = engine_tag()
    assert "pyttsx3-2." in tag and "espeak-ng-" in tag
    base = cache_key(tag, "id", 175, "halo")
    assert len({base, cache_key(tag, "en-us", 175, "halo"), cache_key(tag, "id", 200, "halo"),
                cache_key(tag, "id", 175, "Halo"), cache_key(tag + "x", "id", 175, "halo")}) == 5


async def test_back_to_back_renders(tts: Tts) -> None:
    async with asyncio.timeout(20):
        outs = [await tts.render(f"Payment number {i} is due.", "en-us") for i in range(6)]
    assert len(set(outs)) == 6
    assert all(rms(pcm) > 0.02 for pcm in outs)


async def test_concurrent_renders_share_one_worker(tts: Tts) -> None:
    texts = [f"Halo, cicilan ke {i} sudah jatuh tempo." for i in range(8)]
    async with asyncio.timeout(20):
        outs = await asyncio.gather(*(tts.render(t, "id") for t in texts))
    assert len(set(outs)) == 8
    assert all(rms(pcm) > 0.02 for pcm in outs)
    assert [t.name for t in _tts_threads()] == ["tts-worker-1"]


async def test_same_text_concurrently_renders_once(tts: Tts) -> None:
    async with asyncio.timeout(20):
        outs = await asyncio.gather(*(tts.render(ID, "id") for _ in range(4)))
    assert len(set(outs)) == 1


async def test_unknown_voice_is_an_error_naming_it(tts: Tts) -> None:
    with pytest.raises(TtsError, match="xx-bogus"):
        async with asyncio.timeout(10):
            await tts.render("hello", "xx-bogus")
    async with asyncio.timeout(10):
        assert rms(await tts.render("hello", "en-us")) > 0.02  # the worker survived it


async def test_check_voice_maps_names_to_espeak_voices(tts: Tts) -> None:
    async with asyncio.timeout(10):
        assert await tts.check_voice("id") == "poz/id"
        assert await tts.check_voice("en-us") == "gmw/en-us"
        assert await tts.check_voice("Korean") == "ko"
        with pytest.raises(TtsError, match="'xx-nope'"):
            await tts.check_voice("xx-nope")


async def test_timeout_restarts_the_engine(tmp_path: Path) -> None:
    long_text = " ".join([ID] * 60)
    tts = Tts(TtsConfig(cache_dir=str(tmp_path / "c"), timeout_s=10.0))
    try:
        with pytest.raises(TtsError, match=r"timed out|did not finish"):
            async with asyncio.timeout(10):
                await tts.render(long_text, "id", timeout_s=0.002)
        assert tts.restarts == 1
        old = [t for t in _tts_threads() if t.name == "tts-worker-1"]
        async with asyncio.timeout(15):
            pcm = await tts.render("Selamat pagi.", "id")
        assert rms(pcm) > 0.02
        assert tts.worker_thread is not None and tts.worker_thread.name == "tts-worker-2"
        for t in old:
            await asyncio.to_thread(t.join, 10)
            assert not t.is_alive()  # the retired worker finished and exited
    finally:
        async with asyncio.timeout(15):
            await tts.aclose()


async def test_no_engine_noise_on_stdout(tts: Tts, capfd: pytest.CaptureFixture[str]) -> None:
    async with asyncio.timeout(15):
        await tts.render("quiet please", "en-us")
        await tts.render("ssst", "id")
    out, _err = capfd.readouterr()
    assert out == ""


async def test_prerender_then_render_is_a_cache_read(tts: Tts) -> None:
    items = [(ID, "id"), ("Terima kasih, Pak Budi.", "id"), (ID, "id")]
    async with asyncio.timeout(20):
        got = await tts.prerender(items)
        assert set(got) == {(ID, "id"), ("Terima kasih, Pak Budi.", "id")}
        t0 = time.perf_counter()
        again = await tts.render(ID, "id")
        assert time.perf_counter() - t0 < 0.3
    assert again == got[(ID, "id")]


async def test_aclose_is_idempotent_and_final(tts: Tts) -> None:
    async with asyncio.timeout(15):
        await tts.render("one", "en-us")
        thread = tts.worker_thread
        await tts.aclose()
        await tts.aclose()
    assert thread is not None and not thread.is_alive()
    with pytest.raises(TtsError, match="closed"):
        await tts.render("two", "en-us")
