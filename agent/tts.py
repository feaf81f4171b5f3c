"""Speech synthesis: pyttsx3 (libespeak-ng) owned by ONE worker thread, with a disk cache.

Why one thread: concurrent `runAndWait` from two threads raises 'run loop already started' in
one and hangs the other forever (docs/vosk-tts.md). So every pyttsx3 call happens on the thread
of a `_Worker`, which takes jobs from a queue one at a time. The espeak C library is process
wide (one synth callback, initialised once), so a module lock also serialises workers that
belong to different `Tts` objects or that replaced a stuck one.

Timeout and restart: each render waits at most `cfg.timeout_s`. When it does not finish, the
worker is retired: its driver loop is told to end (pyttsx3's known hang is a Python loop that
waits for a callback that never comes, so this frees it), it takes no more jobs, and a fresh
worker with a fresh `pyttsx3.Engine` serves the next render once the espeak lock is free.
A hang inside the C library itself cannot be cleared in-process: renders then keep timing out
with a TtsError naming the cause (restart the daemon).

Stdout noise: pyttsx3's espeak driver `print`s "Audio saved to <path>" after every file. That
is a Python-level print, not a C write, so an fd-level redirect is unnecessary, and
`contextlib.redirect_stdout` would swap `sys.stdout` for every thread of the process while a
render runs (losing other threads' output). The narrowest fix is to shadow the name `print`
in that one driver module's globals with a DEBUG logger: only that module's prints change.

Output: mono 16-bit little-endian PCM at 8000 Hz, resampled from espeak's 22050 Hz with soxr.
Cache: `<cache_dir>/<sha256>.slin`, keyed by (engine + versions, voice, rate, output rate,
text), written atomically (temp file + rename), read in a thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import importlib
import importlib.metadata
import itertools
import json
import logging
import os
import queue
import tempfile
import threading
import wave
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agent.config import TtsConfig
from agent.errors import TtsError
from agent.media.codec import resample

log = logging.getLogger(__name__)

OUT_RATE = 8000
ESPEAK_RATE = 22050  # hard-coded by pyttsx3's espeak driver
ENGINE_NAME = "pyttsx3-espeak-ng"

# libespeak-ng is one global C state per process: only one thread may synthesise at a time.
_ESPEAK_LOCK = threading.Lock()
_STOP = object()


def _quiet_print(*args: Any, **_kwargs: Any) -> None:
    log.debug("pyttsx3: %s", " ".join(str(a) for a in args))


def _silence_driver_prints() -> None:
    """Shadow `print` in pyttsx3's espeak driver module only (see the module docstring)."""
    module = importlib.import_module("pyttsx3.drivers.espeak")
    module.print = _quiet_print  # type: ignore[attr-defined]


def engine_tag() -> str:
    """Engine name and versions, part of every cache key (a new espeak means new audio)."""
    from pyttsx3.drivers import _espeak

    espeak = (_espeak.Info(None) or b"?").decode("ascii", "replace")
    return f"{ENGINE_NAME}/pyttsx3-{importlib.metadata.version('pyttsx3')}/espeak-ng-{espeak}"


def cache_key(tag: str, voice: str, rate: int, text: str) -> str:
    blob = json.dumps([tag, voice, rate, OUT_RATE, text], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def resolve_voice(voices: Iterable[Any], wanted: str) -> str:
    """Map a voice name ('id', 'en-us', 'poz/id', 'Indonesian') to an espeak identifier."""
    w = wanted.strip().lower()
    for v in voices:
        ident = str(v.id).lower()
        names = {ident, ident.rsplit("/", 1)[-1], str(v.name).lower()}
        names.update(str(lang).lower() for lang in (v.languages or ()))
        if w in names:
            return ident
    raise TtsError(f"tts voice {wanted!r} is not installed in espeak-ng (try 'espeak-ng --voices')")


def _espeak_sync() -> None:
    from pyttsx3.drivers import _espeak

    _espeak.Synchronize()


Job = Callable[[Any], bytes]


class _Worker:
    """One thread that owns one pyttsx3 Engine and runs jobs one at a time."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._engine: Any = None
        self._retired = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> concurrent.futures.Future[bytes]:
        fut: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        self._jobs.put((job, fut))
        return fut

    def retire(self, *, unstick: bool) -> None:
        """Take no more jobs; with `unstick`, end a pyttsx3 loop that waits forever."""
        self._retired = True
        if unstick and self._engine is not None:
            with contextlib.suppress(Exception):
                self._engine.proxy._driver.endLoop()  # the loop polls this flag every 10 ms
        self._jobs.put(_STOP)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is _STOP:
                return
            job, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            if self._retired:
                fut.set_exception(TtsError("tts worker was restarted; render again"))
                continue
            try:
                fut.set_result(self._locked(job))
            except Exception as exc:
                fut.set_exception(exc)

    def _locked(self, job: Job) -> bytes:
        with _ESPEAK_LOCK:
            if self._engine is None:
                import pyttsx3

                _silence_driver_prints()
                # not pyttsx3.init(): that returns a process-wide singleton, and a stuck
                # singleton would refuse every later runAndWait ('run loop already started')
                self._engine = pyttsx3.Engine("espeak")
                _espeak_sync()  # let the driver's own start-up settings land before ours
                self._voices = list(self._engine.getProperty("voices"))
            # a collected Engine resets espeak's global synth callback: claim it again
            from pyttsx3.drivers import _espeak

            _espeak.SetSynthCallback(self._engine.proxy._driver._onSynth)
            return job(self)

    def synth(self, text: str, voice: str, rate: int, tmp_dir: Path) -> bytes:
        """Run on the worker thread: synthesise `text`, return 22050 Hz PCM."""
        ident = resolve_voice(self._voices, voice)
        for _attempt in range(3):
            raw, got_voice, got_rate = self._synth_once(text, ident, rate, tmp_dir)
            if got_voice != ident:  # pyttsx3 swallows a refused voice and keeps the old one
                raise TtsError(f"tts voice {voice!r} was refused by espeak-ng (got {got_voice!r})")
            if got_rate == rate:
                return raw
            # espeak queues parameter changes on its own thread; rarely an older one lands last
            log.info("espeak-ng spoke at rate %s instead of %s; rendering again", got_rate, rate)
        raise TtsError(f"tts rate {rate} is not applied by espeak-ng (it keeps {got_rate})")

    def _synth_once(self, text: str, ident: str, rate: int, tmp_dir: Path
                    ) -> tuple[bytes, str, int]:
        engine = self._engine
        engine.setProperty("voice", ident)
        engine.setProperty("rate", rate)
        fd, name = tempfile.mkstemp(suffix=".wav", dir=tmp_dir)
        os.close(fd)
        try:
            engine.save_to_file(text, name)
            engine.runAndWait()
            with wave.open(name, "rb") as w:
                if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (ESPEAK_RATE, 1, 2):
                    raise TtsError(f"tts engine wrote an unexpected WAV format to {name}")
                raw = w.readframes(w.getnframes())
            return raw, engine.getProperty("voice"), engine.getProperty("rate")
        except (OSError, EOFError, wave.Error) as exc:
            raise TtsError(f"tts could not read the synthesised audio: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)


def _read_cached(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _to_out_rate_and_store(raw: bytes, path: Path) -> bytes:
    pcm = resample(raw, ESPEAK_RATE, OUT_RATE)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".slin", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pcm)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise TtsError(f"tts cache {path.parent}: cannot write: {exc}") from None
    return pcm


class Tts:
    """Render text to 8 kHz PCM through one pyttsx3 worker; cache results on disk.

    One Tts per process is the intended use (the espeak library is process-wide anyway).
    """

    def __init__(self, cfg: TtsConfig) -> None:
        self._cfg = cfg
        self._dir = Path(cfg.cache_dir)
        self._tag = engine_tag()
        self._worker: _Worker | None = None
        self._generation = itertools.count(1)
        self._inflight: dict[str, asyncio.Future[bytes]] = {}
        self._closed = False
        self.restarts = 0

    def cache_path(self, text: str, voice: str) -> Path:
        return self._dir / f"{cache_key(self._tag, voice, self._cfg.rate, text)}.slin"

    async def render(self, text: str, voice: str) -> bytes:
        """Mono 16-bit LE PCM at 8000 Hz for `text` in `voice` (an espeak-ng voice name)."""
        if self._closed:
            raise TtsError("tts is closed")
        if not text.strip():
            raise TtsError("tts got empty text")
        path = self.cache_path(text, voice)
        cached = await asyncio.to_thread(_read_cached, path)
        if cached is not None:
            return cached
        key = path.name
        if key in self._inflight:  # the same prompt is being rendered for another call
            return await asyncio.shield(self._inflight[key])
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            pcm = await self._synthesise(text, voice, path)
            fut.set_result(pcm)
            return pcm
        except BaseException as exc:
            fut.set_exception(exc if isinstance(exc, Exception) else TtsError("render cancelled"))
            fut.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            del self._inflight[key]

    async def _synthesise(self, text: str, voice: str, path: Path) -> bytes:
        await asyncio.to_thread(self._dir.mkdir, parents=True, exist_ok=True)
        worker = self._current_worker()
        rate = self._cfg.rate
        job = worker.submit(lambda w: w.synth(text, voice, rate, self._dir))
        try:
            async with asyncio.timeout(self._cfg.timeout_s):
                raw = await asyncio.wrap_future(job)
        except TimeoutError:
            self._restart(worker)
            raise TtsError(f"tts render timed out after {self._cfg.timeout_s} s "
                           f"(voice {voice!r}); the engine was restarted") from None
        return await asyncio.to_thread(_to_out_rate_and_store, raw, path)

    async def prerender(self, items: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """Render a call's prompts before it is dialled: {(text, voice): pcm}, cached on disk."""
        out: dict[tuple[str, str], bytes] = {}
        for text, voice in items:  # one engine thread: sequential is as fast as concurrent
            if (text, voice) not in out:
                out[(text, voice)] = await self.render(text, voice)
        return out

    def _current_worker(self) -> _Worker:
        if self._worker is None:
            self._worker = _Worker(f"tts-worker-{next(self._generation)}")
        return self._worker

    def _restart(self, worker: _Worker) -> None:
        if self._worker is worker:
            log.warning("tts engine did not answer within %.3f s; restarting it",
                        self._cfg.timeout_s)
            worker.retire(unstick=True)
            self._worker = None
            self.restarts += 1

    @property
    def worker_thread(self) -> threading.Thread | None:
        return None if self._worker is None else self._worker.thread

    async def aclose(self) -> None:
        """Stop the worker thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.retire(unstick=False)
            await asyncio.to_thread(worker.thread.join, self._cfg.timeout_s)
