"""Issue 2 end to end: the daemon (`tagih run`) places real calls through the real Asterisk.

Path under test: tagih call -> control socket -> daemon -> ARI originate
Local/<n>@tagih-outbound -> Dial(Local/<n>@tagih-debtor-sim) -> the simulated debtor answers ->
;1 enters Stasis -> externalMedia RTP (ulaw) + mixing bridge -> greeting out / debtor audio in.
"""

from __future__ import annotations

import json
import time
import uuid
import wave
from pathlib import Path

import numpy as np
import pytest

from agent.media.codec import max_normalised_xcorr, rms

pytestmark = pytest.mark.pbx

THRESHOLD = 0.01 * 32768  # a sample this loud (-40 dBFS) counts as voiced


def _read_wav(path: Path) -> tuple[bytes, int]:
    """Read a WAV once its size stops changing (MixMonitor closes it just after the hangup)."""
    deadline, last = time.monotonic() + 5, -1
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size > 44 and size == last:
            break
        last = size
        time.sleep(0.2)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.readframes(w.getnframes()), w.getframerate()


def _voiced_span(pcm: bytes, rate: int = 8000) -> float:
    """Seconds from the first to the last sample above THRESHOLD."""
    x = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.nonzero(x > THRESHOLD)[0]
    return 0.0 if loud.size == 0 else (loud[-1] - loud[0]) / rate


def test_debtor_hears_the_greeting(daemon, pbx_root: Path, tts_render) -> None:
    tag = f"t2-greet-{uuid.uuid4().hex[:8]}"
    report = daemon.call("1001", "--name", "Budi", "--lang", "en",
                         "--var", f"__SIM_TAG={tag}", "--var", "__SIM_HOLD=6")
    assert report["answered"] is True, report
    assert report["frames_in"] > 100 and report["frames_out"] > 100
    greeting = report["turns"][0]
    assert greeting["speaker"] == "bot" and "Budi" in greeting["text"]
    heard, rate = _read_wav(pbx_root / "var/spool/asterisk/recording" / f"{tag}-heard.wav")
    prompt = tts_render(greeting["text"], "en-us")
    assert rate == 8000
    assert rms(heard) > 0.02, "the debtor heard silence"
    expected, got = _voiced_span(prompt), _voiced_span(heard)
    assert expected > 1.0
    assert abs(got - expected) <= 0.15 * expected, (got, expected)
    # and it is the greeting itself, not just any sound
    peak, _ = max_normalised_xcorr(prompt, heard, max_lag=len(heard) // 2)
    assert peak > 0.8


def test_bot_hears_what_the_debtor_plays(daemon, pbx_root: Path, sim_wav) -> None:
    source = sim_wav("t2-source", seconds=3.0)
    tag = f"t2-play-{uuid.uuid4().hex[:8]}"
    # the debtor says "hello" (AMD: human), then, 1.5 s later, when the bot is surely listening,
    # plays the known signal
    report = daemon.call("1002", "--lang", "en", "--var", f"__SIM_TAG={tag}",
                         "--var", f"__SIM_PLAY={source.sim_path}", "--var", "__SIM_PLAY_AFTER=1.5",
                         "--var", "__SIM_HOLD=2")
    assert report["answered"] is True and report["amd"] == "HUMAN", report
    received, rate = _read_wav(Path(report["recording"]))
    assert rate == 8000
    assert rms(received) > 0.01
    # 0.9: G.711 mu-law keeps ~38 dB SNR, so the same signal correlates above 0.99 even after
    # two encodings; a different signal of the same spectrum (see test_codec) stays below 0.2.
    peak, lag = max_normalised_xcorr(source.pcm, received, max_lag=len(received) // 2)
    assert peak > 0.9, (peak, lag)


def test_unanswered_attempts_get_dispositions(daemon) -> None:
    busy = daemon.call("2001")
    assert (busy["answered"], busy["disposition"]) == (False, "BUSY"), busy
    silent = daemon.call("3001", "--var", "TAGIH_RING_TIMEOUT=2")
    assert (silent["answered"], silent["disposition"]) == (False, "NO_ANSWER"), silent


def test_daemon_survives_an_asterisk_restart(daemon, pbx) -> None:
    before = daemon.status()
    assert before["ari_connected"] is True
    pbx("stop")
    pbx("start")
    after = daemon.wait_status(lambda s: s["ari_connected"]
                               and s["ari_connects"] > before["ari_connects"], timeout_s=30)
    assert after["ari_connects"] == before["ari_connects"] + 1
    report = daemon.call("1003", "--var", "__SIM_HOLD=3")
    assert report["answered"] is True and report["frames_in"] > 50, report
    assert json.dumps(report)  # a clean JSON report after the reconnect
