"""Speech recognition: one Vosk model per process, pooled recognisers, decoding in threads.

Data flow per call: media AudioFrame (20 ms, 8 kHz) -> `Listener.feed` on the event loop
(energy VAD only, microseconds) -> a per-listener lane of decode operations run in order on a
bounded thread pool (Vosk releases the GIL) -> events back on the loop via `listener.events`:
SpeechStarted, partial Utterance(final=False), final Utterance(final=True).

Rates: the recogniser runs at 8000 Hz, the rate of the call. The model is a 16 kHz model and
upsamples internally; measured on espeak-ng Korean through G.711 ulaw (네 / 아니요 /
네 오늘 낼게요 at 140/175/210 wpm, grammar mode): 8/9 exact fed at 8000 vs 6/9 when we
resampled to 16000 ourselves, at the same CPU (RTF 0.021). So no resampling here.

Voice activity (telephone audio, 8 kHz): a frame is voiced when its RMS is above
`vad_threshold_dbfs` (default -40 dBFS: line noise and comfort noise sit near -60..-50 dBFS,
speech at -30..-15 dBFS). A turn starts after `vad_start_ms` of consecutive voiced frames (40
ms: a click does not start a turn) and is stamped with the first voiced frame; the
`vad_preroll_ms` before it are decoded too, so onsets are not clipped. Silence between turns
is never decoded. A turn ends after `trailing_silence_ms` without a voiced frame (the
hangover): then FinalResult is called and the final Utterance carries `ended_at` = arrival time
of the last voiced frame. `max_turn_s` bounds a turn that never falls silent.

Grammars: `Listener.set_grammar` takes effect at the next turn boundary: the decoder applies it
only right after FinalResult/Reset (Vosk aborts the whole process on a mid-utterance
SetGrammar; `_Decoder.set_grammar` refuses that state in code). Words missing from the model
are dropped (Vosk would ignore them with a warning); if no phrase survives, the turn falls back
to free dictation. Grammars are sent with ensure_ascii=False (escaped Hangul matches nothing).

No echo guard: a 4-wire call does not carry the bot's own audio in the received stream.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.config import AsrConfig
from agent.errors import AsrError
from agent.events import AudioFrame, SpeechStarted, Utterance
from agent.models import check_model_dir, resolve_model_path

log = logging.getLogger(__name__)

RATE = 8000
Event = SpeechStarted | Utterance


def frame_dbfs(pcm: bytes) -> float:
    """Level of 16-bit PCM in dBFS (-inf for digital silence)."""
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32)
    if x.size == 0:
        return -math.inf
    power = float(np.mean(x * x))
    return -math.inf if power <= 0 else 10 * math.log10(power / (32768.0 * 32768.0))


def grammar_json(phrases: Sequence[str], has_unk: bool) -> str:
    items = [*phrases, "[unk]"] if has_unk else list(phrases)
    return json.dumps(items, ensure_ascii=False)


def _text(result_json: str) -> str:
    words = json.loads(result_json).get("text", "").split()
    return " ".join(w for w in words if w != "[unk]")


class _Decoder:
    """One KaldiRecognizer plus the state Vosk needs us to track. Worker threads only."""

    def __init__(self, rec: Any, grammar: str | None) -> None:
        self.rec = rec
        self.grammar = grammar
        self.fresh = True  # no audio since creation / Reset / FinalResult

    def accept(self, pcm: bytes) -> str:
        """Feed audio; return text Vosk finalised at its own endpoint ('' if none)."""
        self.fresh = False
        if self.rec.AcceptWaveform(pcm):
            return _text(self.rec.Result())
        return ""

    def partial(self) -> str:
        return str(json.loads(self.rec.PartialResult()).get("partial", ""))

    def final(self) -> str:
        text = _text(self.rec.FinalResult())
        self.rec.Reset()
        self.fresh = True
        return text

    def set_grammar(self, grammar: str) -> None:
        if not self.fresh:
            raise AsrError("asr: grammar switch refused mid-utterance (Vosk would abort)")
        if grammar != self.grammar:
            self.rec.SetGrammar(grammar)
            self.grammar = grammar


class Asr:
    """The process's Vosk model, a pool of recognisers and a bounded decode executor."""

    def __init__(self, cfg: AsrConfig, model: Any, path: str) -> None:
        import vosk

        self._cfg = cfg
        self._vosk = vosk
        self.model = model
        self.model_path = path
        self.has_unk = model.vosk_model_find_word("[unk]") >= 0
        self._lock = threading.Lock()
        self._idle: dict[bool, list[_Decoder]] = {True: [], False: []}  # keyed by grammar mode
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, cfg.decode_threads), thread_name_prefix="asr-decode")
        self._closed = False
        self._grammars: dict[tuple[str, ...], str | None] = {}

    @classmethod
    async def load(cls, cfg: AsrConfig) -> Asr:
        """Load and validate the configured model (in a thread); AsrError says what is wrong."""
        path = resolve_model_path(cfg.model_path)
        problem = await asyncio.to_thread(check_model_dir, path)
        if problem:
            raise AsrError(f"asr model {path}: {problem}")
        model = await asyncio.to_thread(_load_model, path, cfg.kaldi_log_level)
        return cls(cfg, model, path)

    @property
    def cfg(self) -> AsrConfig:
        return self._cfg

    def missing_words(self, phrases: Iterable[str]) -> list[str]:
        """Words of `phrases` the model does not know (a grammar must avoid them)."""
        words = dict.fromkeys(w for p in phrases for w in p.split())
        return [w for w in words if self.model.vosk_model_find_word(w) < 0]

    def grammar_for(self, phrases: Sequence[str] | None) -> str | None:
        """The grammar JSON for a turn, or None for free dictation (cached per phrase list)."""
        if not phrases:
            return None
        key = tuple(phrases)
        if key not in self._grammars:
            missing = set(self.missing_words(phrases))
            kept = [p for p in phrases if not missing.intersection(p.split())]
            if missing:  # said once per phrase list, not once per call
                log.warning("asr: %d grammar word(s) not in the model; %d of %d phrases kept",
                            len(missing), len(kept), len(phrases))
            self._grammars[key] = grammar_json(kept, self.has_unk) if kept else None
        return self._grammars[key]

    def listener(self, grammar: Sequence[str] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> Listener:
        """A per-call listener; `grammar` None means free dictation."""
        if self._closed:
            raise AsrError("asr is closed")
        return Listener(self, self._cfg, self.grammar_for(grammar), clock)

    # pool (worker threads) -----------------------------------------------------------------

    def _acquire(self, grammar: str | None) -> _Decoder:
        with self._lock:
            idle = self._idle[grammar is not None]
            dec = idle.pop() if idle else None
        if dec is None:
            rec = (self._vosk.KaldiRecognizer(self.model, RATE) if grammar is None
                   else self._vosk.KaldiRecognizer(self.model, RATE, grammar))
            return _Decoder(rec, grammar)
        if grammar is not None:
            dec.set_grammar(grammar)
        return dec

    def _release(self, dec: _Decoder) -> None:
        if not dec.fresh:
            dec.final()
        with self._lock:
            idle = self._idle[dec.grammar is not None]
            if len(idle) < self._cfg.pool_size and not self._closed:
                idle.append(dec)

    def idle_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    async def aclose(self) -> None:
        """Drop pooled recognisers and stop the decode threads (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._idle = {True: [], False: []}
        await asyncio.to_thread(self._executor.shutdown, True)


def _load_model(path: str, log_level: int) -> Any:
    import vosk

    vosk.SetLogLevel(log_level)
    try:
        return vosk.Model(path)  # an explicit path, never lang=: that would go to the network
    except Exception as exc:
        raise AsrError(f"asr model {path}: Vosk could not load it ({exc})") from None


@dataclass(slots=True)
class _Turn:
    started_at: float
    last_voiced_at: float
    silence_ms: float = 0.0
    audio_ms: float = 0.0


class Listener:
    """Turn-taking recogniser for one call. `feed` on the loop; read `events`."""

    def __init__(self, asr: Asr, cfg: AsrConfig, grammar: str | None,
                 clock: Callable[[], float]) -> None:
        self._asr = asr
        self._cfg = cfg
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[Event] = asyncio.Queue(maxsize=256)
        self._grammar = grammar
        self._pending_grammar: str | bool | None = False  # False: no switch pending
        self._preroll: deque[AudioFrame] = deque(maxlen=max(1, cfg.vad_preroll_ms // 20))
        self._run: list[AudioFrame] = []  # consecutive voiced frames before a turn starts
        self._turn: _Turn | None = None
        self._ops: deque[tuple[str, Any]] = deque()
        self._ops_lock = threading.Lock()
        self._draining = False
        self._idle = threading.Event()
        self._idle.set()
        self._dec: _Decoder | None = None
        self._since_partial_ms = 0.0
        self._turn_text = self._last_partial = ""
        self._closed = False

    # loop side ------------------------------------------------------------------------------

    async def feed(self, frame: AudioFrame) -> None:
        """Take one received frame. Cheap: VAD here, decoding happens on the thread pool."""
        if self._closed:
            return
        if frame.rate != RATE:
            raise AsrError(f"asr: frames must be {RATE} Hz PCM, got {frame.rate} Hz")
        at = frame.at or self._clock()
        voiced = frame_dbfs(frame.pcm) > self._cfg.vad_threshold_dbfs
        if self._turn is None:
            self._idle_frame(frame, at, voiced)
        else:
            self._turn_frame(frame, at, voiced)

    def _idle_frame(self, frame: AudioFrame, at: float, voiced: bool) -> None:
        if not voiced:
            self._preroll.extend(self._run)
            self._run.clear()
            self._preroll.append(frame)
            return
        self._run.append(AudioFrame(frame.pcm, frame.rate, at))
        if len(self._run) * 20 < self._cfg.vad_start_ms:
            return
        started = self._run[0].at
        self._turn = _Turn(started_at=started, last_voiced_at=at)
        self._put(SpeechStarted(at=started))
        audio = b"".join(f.pcm for f in (*self._preroll, *self._run))
        self._preroll.clear()
        self._run.clear()
        self._submit("audio", audio)

    def _turn_frame(self, frame: AudioFrame, at: float, voiced: bool) -> None:
        turn = self._turn
        assert turn is not None
        ms = frame.duration * 1000
        turn.audio_ms += ms
        if voiced:
            turn.last_voiced_at = at
            turn.silence_ms = 0.0
        else:
            turn.silence_ms += ms
        self._submit("audio", frame.pcm)
        too_long = turn.audio_ms >= self._cfg.max_turn_s * 1000
        if turn.silence_ms >= self._cfg.trailing_silence_ms or too_long:
            self._turn = None
            self._submit("final", (turn.started_at, turn.last_voiced_at))
            if self._pending_grammar is not False:
                self._submit("grammar", self._pending_grammar)
                self._pending_grammar = False

    def set_grammar(self, phrases: Sequence[str] | None) -> None:
        """Phrases the next turn expects (None: free dictation); applied at a turn boundary."""
        grammar = self._asr.grammar_for(phrases)
        if self._turn is None:
            self._submit("grammar", grammar)
        else:
            self._pending_grammar = grammar

    @property
    def in_turn(self) -> bool:
        return self._turn is not None

    def _put(self, event: Event) -> None:
        try:
            self.events.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("asr: listener events queue full; dropping %s", type(event).__name__)

    def _submit(self, op: str, arg: Any) -> None:
        with self._ops_lock:
            self._ops.append((op, arg))
            if self._draining:
                return
            self._draining = True
            self._idle.clear()
        self._asr._executor.submit(self._drain)

    async def aclose(self) -> None:
        """Stop listening and return the recogniser to the pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._turn = None
        await asyncio.to_thread(self._idle.wait, 30.0)
        if self._dec is not None:
            dec, self._dec = self._dec, None
            await asyncio.to_thread(self._asr._release, dec)

    # worker side ----------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            with self._ops_lock:
                if not self._ops:
                    self._draining = False
                    self._idle.set()
                    return
                batch = list(self._ops)
                self._ops.clear()
            try:
                self._run_ops(batch)
            except Exception:
                log.exception("asr: decoding failed; this turn is lost")
                self._dec = None

    def _run_ops(self, batch: list[tuple[str, Any]]) -> None:
        audio: list[bytes] = []
        for op, arg in batch:
            if op == "audio":
                audio.append(arg)
                continue
            self._accept(b"".join(audio))
            audio.clear()
            if op == "final":
                self._finish(*arg)
            elif op == "grammar":
                self._switch(arg)
        self._accept(b"".join(audio))

    def _decoder(self) -> _Decoder:
        if self._dec is None:
            self._dec = self._asr._acquire(self._grammar)
        return self._dec

    def _accept(self, pcm: bytes) -> None:
        if not pcm:
            return
        dec = self._decoder()
        said = dec.accept(pcm)
        self._turn_text = f"{self._turn_text} {said}".strip()
        self._since_partial_ms += len(pcm) / 2 / RATE * 1000
        if self._since_partial_ms >= self._cfg.partial_interval_ms:
            self._since_partial_ms = 0.0
            text = f"{self._turn_text} {dec.partial()}".strip()
            if text and text != self._last_partial:
                self._last_partial = text
                self._emit(Utterance(text=text, final=False))

    def _finish(self, started_at: float, ended_at: float) -> None:
        dec = self._decoder()
        text = f"{self._turn_text} {dec.final()}".strip()
        self._turn_text = self._last_partial = ""
        self._since_partial_ms = 0.0
        self._emit(Utterance(text=text, final=True, started_at=started_at, ended_at=ended_at))

    def _switch(self, grammar: str | None) -> None:
        self._grammar = grammar
        dec = self._dec
        if dec is None:
            return
        if (dec.grammar is None) != (grammar is None):  # free <-> grammar: another recogniser
            self._dec = None
            self._asr._release(dec)
        elif grammar is not None:
            dec.set_grammar(grammar)

    def _emit(self, event: Event) -> None:
        self._loop.call_soon_threadsafe(self._put, event)
