"""The tagih daemon: ARI events, live calls, the control socket; signals -> orderly shutdown.

Shutdown order: stop taking calls -> let live calls finish up to the drain deadline -> hang up
the rest -> close ARI and the control socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import wave
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.ari import AriClient
from agent.ari_events import StasisStart
from agent.call import CallSession, Script, SessionOptions, Speaker, new_call_id
from agent.config import Config
from agent.control import ControlServer
from agent.conversation import Greeting
from agent.errors import TagihError
from agent.events import AudioFrame, Say
from agent.outbound import DialRequest, dial

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallRequest:
    number: str
    name: str = ""
    locale: str = ""
    variables: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRequest:
        number = str(data.get("number", "")).strip()
        if not number or not all(c.isdigit() or c in "+*#" for c in number):
            raise TagihError(f"not a dialable number: {number!r}")
        variables = data.get("variables") or {}
        if not isinstance(variables, dict):
            raise TagihError("variables must be an object")
        return cls(number=number, name=str(data.get("name", "")),
                   locale=str(data.get("locale", "")),
                   variables={str(k): str(v) for k, v in variables.items()})


@dataclass(slots=True)
class CallReport:
    call_id: str
    number: str
    answered: bool = False
    disposition: str = "FAILED"
    cause: int | None = None
    amd: str = ""
    reason: str = ""
    duration_s: float = 0.0
    answer_to_audio_ms: float | None = None
    frames_in: int = 0
    frames_out: int = 0
    late_frames: int = 0
    turns: list[dict[str, Any]] = field(default_factory=list)
    recording: str = ""


class Daemon:
    def __init__(self, cfg: Config, speaker: Speaker,
                 script_for: Callable[[CallRequest], Script] | None = None) -> None:
        self.cfg = cfg
        self.speaker = speaker
        self.script_for = script_for or self._greeting_script
        self.ari = AriClient(cfg.ari)
        self.live: dict[str, asyncio.Task[Any]] = {}
        self.accepting = True
        self.completed = 0
        self._tg: asyncio.TaskGroup | None = None

    def _greeting_script(self, request: CallRequest) -> Script:
        name = f" {request.name}" if request.name else ""
        return Greeting(f"Hello{name}. This is an automated call from {self.cfg.call.creditor}.")

    def status(self) -> dict[str, Any]:
        return {"ari_connected": self.ari.connected.is_set(), "ari_connects": self.ari.connects,
                "live_calls": len(self.live), "completed_calls": self.completed,
                "accepting": self.accepting}

    async def run(self, stop: asyncio.Event) -> None:
        control = ControlServer(self.cfg.daemon.control_socket, status=self.status,
                                call=self._control_call)
        async with self.ari:
            await control.start()
            try:
                async with asyncio.TaskGroup() as tg:
                    self._tg = tg
                    events = tg.create_task(self.ari.run_events(), name="ari:events")
                    inbound = tg.create_task(self._unrouted(), name="ari:unrouted")
                    await stop.wait()
                    log.info("shutting down: draining %d live calls", len(self.live))
                    await self._drain()
                    events.cancel()
                    inbound.cancel()
            finally:
                self._tg = None
                await control.aclose()

    async def _drain(self) -> None:
        self.accepting = False
        if self.live:
            _, pending = await asyncio.wait(self.live.values(), timeout=self.cfg.daemon.drain_s)
            for task in pending:
                task.cancel()

    async def _unrouted(self) -> None:
        """New channels nobody claimed: inbound calls from [tagih-inbound]."""
        while True:
            event = await self.ari.unrouted.get()
            if isinstance(event, StasisStart) and event.args[:1] == ("inbound",):
                if self._tg is not None and self.accepting and event.channel is not None:
                    request = CallRequest(number=event.channel.caller_number)
                    self._tg.create_task(self._inbound(event.channel_id, request),
                                         name=f"call:{event.channel_id}")

    async def _inbound(self, channel_id: str, request: CallRequest) -> None:
        report = CallReport(call_id=channel_id, number=request.number, answered=True)
        with contextlib.suppress(TagihError):
            await self.ari.answer(channel_id)
        await self._converse(channel_id, request, report, self.script_for(request))

    async def _control_call(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.accepting:
            raise TagihError("the daemon is shutting down")
        if not self.ari.connected.is_set():
            raise TagihError("not connected to Asterisk ARI (yet); try again shortly")
        request = CallRequest.from_json(body)
        task = asyncio.current_task()
        call_id = new_call_id()
        assert task is not None
        self.live[call_id] = task
        try:
            return asdict(await self.place_call(call_id, request))
        finally:
            self.live.pop(call_id, None)

    async def place_call(self, call_id: str, request: CallRequest) -> CallReport:
        """Dial one number through the dialplan and run the conversation if answered."""
        report = CallReport(call_id=call_id, number=request.number)
        script = self.script_for(request)
        opening = script.start()
        rendered = {a.text: await self.speaker.render(a.text, self._voice(request))
                    for a in opening if isinstance(a, Say)}  # before dialling: no gap at answer
        started = time.monotonic()
        result = await dial(self.ari, self.cfg.dial,
                            DialRequest(call_id, request.number, request.variables))
        report.answered, report.cause, report.amd = result.answered, result.cause, result.amd_status
        report.disposition, report.reason = result.disposition, result.cause_txt
        if result.answered:
            await self._converse(result.channel_id, request, report, script, opening, rendered)
        report.duration_s = round(time.monotonic() - started, 3)
        self.completed += 1
        return report

    async def _converse(self, channel_id: str, request: CallRequest, report: CallReport,
                        script: Script, opening: list[object] | None = None,
                        rendered: dict[str, bytes] | None = None) -> None:
        frames: list[bytes] = []
        options = SessionOptions(voice=self._voice(request), media_host=self.cfg.media.host,
                                 max_call_s=self.cfg.call.max_call_s,
                                 record=(lambda f: frames.append(f.pcm))
                                 if self.cfg.daemon.record_dir else None)
        session = CallSession(self.ari, channel_id, script, self.speaker, options,
                              prerendered=rendered, opening=opening)
        outcome = await session.run()
        report.disposition = outcome.disposition if report.amd != "MACHINE" else "MACHINE"
        report.reason = session.hangup_reason
        report.turns = [{"speaker": t.speaker, "text": t.text, "intent": t.intent}
                        for t in outcome.turns]
        timing = session.timing
        if timing.first_audio_out_at is not None:
            report.answer_to_audio_ms = round((timing.first_audio_out_at - timing.stasis_at)
                                              * 1000, 1)
        if session.transport is not None:
            stats = session.transport.stats
            report.frames_in, report.frames_out = stats.frames_in, stats.frames_out
            report.late_frames = stats.late_frames
        if frames:
            path = Path(self.cfg.daemon.record_dir) / f"{report.call_id}-rx.wav"
            await asyncio.to_thread(_write_wav, path, b"".join(frames))
            report.recording = str(path)

    def _voice(self, request: CallRequest) -> str:
        locale = request.locale or self.cfg.call.locale
        return self.cfg.tts.voice_id if locale == "id" else self.cfg.tts.voice_en


def _write_wav(path: Path, pcm: bytes, rate: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


__all__ = ["AudioFrame", "CallReport", "CallRequest", "Daemon", "install_signal_handlers"]
