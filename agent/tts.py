"""Speech synthesis: libespeak-ng via pyttsx3's binding, owned by ONE worker thread; disk cache.

Why one thread: concurrent pyttsx3 `runAndWait` from two threads raises 'run loop already
started' in one and hangs the other forever (docs/vosk-tts.md). Every espeak call here happens
on the thread of a `_Worker`, one job at a time, under a module lock (espeak is one C state per
process, so two `Tts` objects, or a worker that replaced a stuck one, are serialised too).

Why not pyttsx3's Engine loop: measured here, pyttsx3 2.99's espeak driver races with
espeak-ng's own synthesis thread (RETRIEVAL mode queues SetParameter and Synth on a fifo):
renders came out at the wrong rate (200 wpm instead of the configured 175), some came out
empty when an earlier Engine was garbage-collected (its __del__ sets the process-wide synth
callback to None), and its GetParameter binding drops an argument. So we drive libespeak-ng
through pyttsx3's ctypes binding (`pyttsx3.drivers._espeak`, same library, same 22050 Hz
output) and wait for our own job's MSG_TERMINATED event (matched by user_data) with a timeout.
A side effect: pyttsx3's "Audio saved to <path>" print never runs, so nothing reaches stdout
and no process-wide stdout/fd redirection is needed (redirect_stdout would swap sys.stdout for
every thread; an fd redirect would also hide the C side of every library in the process).

Timeout and restart: the worker waits at most `cfg.timeout_s` for espeak and then cancels the
synthesis; the asyncio side also waits at most `cfg.timeout_s`. If that expires (the worker is
stuck, e.g. inside espeak), the worker is retired (takes no more jobs, exits when its call
returns) and a fresh worker serves the next render once the espeak lock is free. A hang inside
the C library that never returns cannot be cleared in-process: renders then keep failing with
a TtsError (restart the daemon).

Output: mono 16-bit little-endian PCM at 8000 Hz, resampled from espeak's 22050 Hz with soxr.
Cache: `<cache_dir>/<sha256>.slin`, keyed by (engine + versions, voice, rate, output rate,
text), written atomically (temp file + rename), read in a thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import TtsConfig
from agent.errors import TtsError
from agent.media.codec import resample

log = logging.getLogger(__name__)

OUT_RATE = 8000
ESPEAK_RATE = 22050  # libespeak-ng's output rate (espeak_Initialize returns it)
ENGINE_NAME = "pyttsx3-espeak-ng"

# libespeak-ng is one global C state per process: only one thread may synthesise at a time.
_ESPEAK_LOCK = threading.Lock()
_STOP = object()


def engine_tag() -> str:
    """Engine name and versions, part of every cache key (a new espeak means new audio)."""
    from pyttsx3.drivers import _espeak

    espeak = (_espeak.Info(None) or b"?").decode("ascii", "replace")
    return f"{ENGINE_NAME}/pyttsx3-{importlib.metadata.version('pyttsx3')}/espeak-ng-{espeak}"


def cache_key(tag: str, voice: str, rate: int, text: str) -> str:
    blob = json.dumps([tag, voice, rate, OUT_RATE, text], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    ident: str
    name: str
    languages: tuple[str, ...]


def resolve_voice(voices: Iterable[VoiceInfo], wanted: str) -> str:
    """Map a voice name ('id', 'en-us', 'poz/id', 'Indonesian') to an espeak identifier."""
    w = wanted.strip().lower()
    for v in voices:
        names = {v.ident, v.ident.rsplit("/", 1)[-1], v.name.lower(), *v.languages}
        if w in names:
            return v.ident
    raise TtsError(f"tts voice {wanted!r} is not installed in espeak-ng (try 'espeak-ng --voices')")


@dataclass(slots=True)
class _Job:
    ident: int
    chunks: list[bytes] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class _Espeak:
    """libespeak-ng through pyttsx3's ctypes binding, one synthesis at a time.

    Only the worker thread that holds _ESPEAK_LOCK calls in here. espeak runs the synthesis on
    its own thread and hands audio and events to one process-wide callback; the callback
    files them under the job whose id travels as espeak's user_data.
    """

    _initialised = False
    _current: _Job | None = None
    _ids = itertools.count(1)

    def __init__(self) -> None:
        from pyttsx3.drivers import _espeak
        from pyttsx3.drivers.espeak import EspeakDriver

        self._e = _espeak
        if not (_Espeak._initialised or EspeakDriver._moduleInitialized):
            if _espeak.Initialize(_espeak.AUDIO_OUTPUT_RETRIEVAL, 500) == -1:
                raise TtsError("tts: libespeak-ng could not be initialised")
            EspeakDriver._moduleInitialized = True  # espeak must not be initialised twice
        _Espeak._initialised = True
        _espeak.SetSynthCallback(_Espeak._on_synth)
        self.voices = [
            VoiceInfo(v.identifier.decode("utf-8").lower(), v.name.decode("utf-8"),
                      (v.languages[1:].decode("utf-8", "ignore").lower(),))
            for v in _espeak.ListVoices(None)
        ]

    @staticmethod
    def _on_synth(wav: Any, numsamples: int, events: Any) -> int:
        """Runs on espeak's thread. Must not raise (ctypes would print and carry on)."""
        job = _Espeak._current
        if job is None:
            return 1  # nobody is listening: ask espeak to stop this synthesis
        if numsamples > 0:
            job.chunks.append(ctypes.string_at(wav, numsamples * 2))
        i = 0
        while events[i].type != 0:  # EVENT_LIST_TERMINATED
            if events[i].type == 6 and events[i].user_data == job.ident:  # MSG_TERMINATED
                job.done.set()
            i += 1
        return 0

    def synth(self, text: str, ident: str, rate: int, limit_s: float) -> bytes:
        e = self._e
        if e.SetVoiceByName(ident.encode("utf-8")) != 0:
            raise TtsError(f"tts voice {ident!r} was refused by espeak-ng")
        e.SetParameter(e.RATE, rate, 0)
        e.SetParameter(e.VOLUME, 100, 0)
        job = _Job(next(_Espeak._ids))
        _Espeak._current = job
        try:
            status = e.Synth(text, flags=e.ENDPAUSE | e.CHARS_UTF8, user_data=job.ident)
            if status != 0:
                raise TtsError(f"tts: espeak-ng refused the text (status {status})")
            if not job.done.wait(limit_s):
                e.Cancel()
                raise TtsError(f"tts: espeak-ng did not finish within {limit_s} s")
        finally:
            _Espeak._current = None
        return b"".join(job.chunks)


Job = Callable[["_Worker"], bytes]


class _Worker:
    """One thread that owns the espeak session and runs jobs one at a time."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._espeak: _Espeak | None = None
        self._retired = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> concurrent.futures.Future[bytes]:
        fut: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        self._jobs.put((job, fut))
        return fut

    def retire(self) -> None:
        """Take no more jobs; the thread exits once its current job returns."""
        self._retired = True
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
            if self._espeak is None:
                self._espeak = _Espeak()
            return job(self)

    def resolve(self, voice: str) -> str:
        assert self._espeak is not None
        return resolve_voice(self._espeak.voices, voice)

    def synth(self, text: str, voice: str, rate: int, limit_s: float) -> bytes:
        """Run on the worker thread: synthesise `text`, return 22050 Hz PCM."""
        assert self._espeak is not None
        return self._espeak.synth(text, self.resolve(voice), rate, limit_s)


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

    async def render(self, text: str, voice: str, *, timeout_s: float | None = None) -> bytes:
        """Mono 16-bit LE PCM at 8000 Hz for `text` in `voice` (an espeak-ng voice name).

        `timeout_s` overrides cfg.timeout_s for this render (a cache hit ignores it).
        """
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
            limit = self._cfg.timeout_s if timeout_s is None else timeout_s
            pcm = await self._synthesise(text, voice, path, limit)
            fut.set_result(pcm)
            return pcm
        except BaseException as exc:
            fut.set_exception(exc if isinstance(exc, Exception) else TtsError("render cancelled"))
            fut.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            del self._inflight[key]

    async def _synthesise(self, text: str, voice: str, path: Path, limit: float) -> bytes:
        await asyncio.to_thread(self._dir.mkdir, parents=True, exist_ok=True)
        worker = self._current_worker()
        rate = self._cfg.rate
        job = worker.submit(lambda w: w.synth(text, voice, rate, limit))
        try:
            async with asyncio.timeout(limit):
                raw = await asyncio.wrap_future(job)
        except TimeoutError:
            self._restart(worker, limit)
            raise TtsError(f"tts render timed out after {limit} s "
                           f"(voice {voice!r}); the engine was restarted") from None
        return await asyncio.to_thread(_to_out_rate_and_store, raw, path)

    async def check_voice(self, voice: str) -> str:
        """The espeak identifier of `voice` (e.g. 'id' -> 'poz/id'); TtsError if not installed.

        Call at start-up for every configured voice, so a typo fails before the first call.
        """
        if self._closed:
            raise TtsError("tts is closed")
        job = self._current_worker().submit(lambda w: w.resolve(voice).encode())
        async with asyncio.timeout(self._cfg.timeout_s):
            return (await asyncio.wrap_future(job)).decode()

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

    def _restart(self, worker: _Worker, limit: float) -> None:
        if self._worker is worker:
            log.warning("tts engine did not answer within %.3f s; restarting it", limit)
            worker.retire()
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
            worker.retire()
            await asyncio.to_thread(worker.thread.join, self._cfg.timeout_s)
