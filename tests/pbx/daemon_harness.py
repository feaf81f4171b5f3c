"""Fixtures that run the real daemon (`tagih run` as a subprocess) against the sandbox PBX."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.config import TtsConfig
from agent.tts import Tts

REPO = Path(__file__).resolve().parents[2]


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    def cli(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout_s, check=False)

    def call(self, number: str, *args: str) -> dict[str, Any]:
        done = self.cli("call", number, *args)
        assert done.returncode == 0, f"tagih call failed: {done.stderr}\n{self.tail()}"
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    def status(self) -> dict[str, Any]:
        done = self.cli("status", timeout_s=10)
        if done.returncode != 0:
            return {"ari_connected": False, "ari_connects": -1, "error": done.stderr}
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def wait_status(self, ok: Callable[[dict[str, Any]], bool],
                    timeout_s: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        status = self.status()
        while not ok(status):
            assert self.proc.poll() is None, f"daemon exited\n{self.tail()}"
            assert time.monotonic() < deadline, f"daemon never reached {status}\n{self.tail()}"
            time.sleep(0.2)
            status = self.status()
        return status

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest.fixture(scope="module")
def daemon_env(tmp_path_factory: pytest.TempPathFactory, pbx_ready: None) -> dict[str, str]:
    base = tmp_path_factory.mktemp("daemon")
    env = dict(os.environ)
    env.update({
        "TAGIH_DAEMON_CONTROL_SOCKET": str(base / "tagih.sock"),
        "TAGIH_DAEMON_RECORD_DIR": str(base / "rec"),
        "TAGIH_TTS_CACHE_DIR": str(base / "tts"),
        "TAGIH_STORE_PATH": str(base / "tagih.db"),
        "TAGIH_AGI_PORT": "0",  # any free port: several daemons may run at once in tests
        "PYTHONUNBUFFERED": "1",
    })
    return env


@pytest.fixture(scope="module")
def daemon(daemon_env: dict[str, str]) -> Iterator[DaemonProcess]:
    log = Path(daemon_env["TAGIH_DAEMON_RECORD_DIR"]).parent / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "agent", "-v", "run"], env=daemon_env,
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    handle = DaemonProcess(proc, daemon_env, log)
    try:
        handle.wait_status(lambda s: bool(s.get("ari_connected")), timeout_s=30)
        yield handle
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"daemon did not stop cleanly ({proc.returncode})\n{handle.tail()}"


@pytest.fixture(scope="module")
def tts_render(daemon_env: dict[str, str]) -> Callable[[str, str], bytes]:
    """Render text exactly as the daemon did (same engine settings and cache)."""
    cfg = TtsConfig(cache_dir=daemon_env["TAGIH_TTS_CACHE_DIR"])

    def render(text: str, voice: str) -> bytes:
        async def go() -> bytes:
            tts = Tts(cfg)
            try:
                return await tts.render(text, voice)
            finally:
                await tts.aclose()
        # its own thread and loop: callable from sync and async tests alike
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, go()).result()

    return render


@dataclass(frozen=True)
class SimWav:
    pcm: bytes
    sim_path: str  # as the dialplan sees it (inside the root, without extension)


@pytest.fixture
def sim_wav(pbx_root: Path) -> Callable[..., SimWav]:
    """Write a known 8 kHz WAV where the simulated debtor can play it."""

    def make(name: str, seconds: float = 3.0) -> SimWav:
        rate = 8000
        t = np.arange(int(rate * seconds)) / rate
        rng = np.random.default_rng(abs(hash(name)) % 2**32)
        # a speech-like, non-periodic signal: a chirp under a syllable-rate envelope plus noise
        chirp = np.sin(2 * np.pi * (200 * t + 300 * t * t / seconds))
        envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
        x = (chirp * envelope + 0.1 * rng.standard_normal(t.size)) * 9000
        pcm = np.clip(x, -32000, 32000).astype("<i2").tobytes()
        folder = pbx_root / "var/lib/tagih-sim"
        folder.mkdir(parents=True, exist_ok=True)
        with wave.open(str(folder / f"{name}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm)
        return SimWav(pcm=pcm, sim_path=f"/var/lib/tagih-sim/{name}")

    return make
