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
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.ari import AriClient
from agent.ari_events import StasisStart
from agent.asr import Asr
from agent.call import CallSession, Script, SessionOptions, Speaker, new_call_id
from agent.config import Config
from agent.control import ControlServer
from agent.conversation import DialogScript, Greeting
from agent.dialog import CallContext
from agent.errors import TagihError
from agent.events import AudioFrame, CallOutcome, Say, Turn
from agent.locale import load_pack
from agent.outbound import DialRequest, dial
from agent.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One call to place. With amount_due and due it runs the negotiation dialog; without,
    it is a test call that greets and listens (for checking a trunk's audio)."""

    number: str
    name: str = ""
    locale: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    amount_due: int | None = None
    due: str | None = None  # ISO date
    payday: int | None = None
    currency: str = "IDR"
    today: str | None = None  # ISO date; default: today on this machine
    tz: str = ""  # the debtor's time zone (greetings follow the debtor's hour)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRequest:
        number = str(data.get("number", "")).strip()
        if not number or not all(c.isdigit() or c in "+*#" for c in number):
            raise TagihError(f"not a dialable number: {number!r}")
        variables = data.get("variables") or {}
        if not isinstance(variables, dict):
            raise TagihError("variables must be an object")
        try:
            amount = None if data.get("amount_due") in (None, "") else int(data["amount_due"])
            payday = None if data.get("payday") in (None, "") else int(data["payday"])
            for key in ("due", "today"):
                if data.get(key):
                    date.fromisoformat(str(data[key]))
        except ValueError as exc:
            raise TagihError(f"bad call request: {exc}") from None
        return cls(number=number, name=str(data.get("name", "")),
                   locale=str(data.get("locale", "")),
                   variables={str(k): str(v) for k, v in variables.items()},
                   amount_due=amount, due=str(data["due"]) if data.get("due") else None,
                   payday=payday, currency=str(data.get("currency") or "IDR"),
                   today=str(data["today"]) if data.get("today") else None)


def request_from_context(ctx: dict[str, Any], number: str,
                         variables: dict[str, str] | None = None) -> CallRequest:
    """A call request for the debtor's main open account (Store.debtor_context)."""
    return CallRequest(number=number, name=str(ctx.get("name") or ""),
                       locale=str(ctx.get("locale") or ""), variables=variables or {},
                       amount_due=ctx.get("amount_due"), due=ctx.get("due_date"),
                       payday=ctx.get("payday"), currency=str(ctx.get("currency") or "IDR"),
                       tz=str(ctx.get("tz") or ""))


def _local_hour(tz: str) -> int:
    try:
        return datetime.now(ZoneInfo(tz)).hour if tz else datetime.now().hour
    except (ZoneInfoNotFoundError, ValueError):
        return datetime.now().hour


class CallSink(Protocol):
    """Where a call's record goes as it happens (agent.dialer writes it to the store)."""

    async def on_turn(self, turn: Turn) -> None: ...
    async def on_outcome(self, outcome: CallOutcome) -> None: ...


@dataclass(slots=True)
class CallReport:
    call_id: str
    number: str
    answered: bool = False
    disposition: str = "FAILED"
    cause: int | None = None
    amd: str = ""
    reason: str = ""
    promises: list[dict[str, Any]] = field(default_factory=list)
    callback_at: str | None = None
    flags: list[str] = field(default_factory=list)
    barge_ins: int = 0
    barge_in_ms: list[float] = field(default_factory=list)  # debtor speech start -> bot silent
    replies_ms: list[float] = field(default_factory=list)  # debtor's last voiced -> bot audio
    duration_s: float = 0.0
    answer_to_audio_ms: float | None = None
    frames_in: int = 0
    frames_out: int = 0
    late_frames: int = 0
    turns: list[dict[str, Any]] = field(default_factory=list)
    recording: str = ""


class Daemon:
    def __init__(self, cfg: Config, speaker: Speaker, asr: Asr | None = None,
                 store: Store | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.speaker = speaker
        self.asr = asr
        self.ari = AriClient(cfg.ari)
        self.live: dict[str, asyncio.Task[Any]] = {}
        self.accepting = True
        self.completed = 0
        self._tg: asyncio.TaskGroup | None = None

    def script_for(self, request: CallRequest, machine: bool = False) -> Script:
        """The negotiation dialog when the debt is known, else a greeting-only test call."""
        pack = load_pack(request.locale or self.cfg.call.locale)
        if request.amount_due is None or request.due is None:
            name = f" {request.name}" if request.name else ""
            return Greeting(f"Hello{name}. This is an automated test call from "
                            f"{self.cfg.call.creditor}.")
        ctx = CallContext(name=request.name, amount_due=request.amount_due,
                          due_date=date.fromisoformat(request.due),
                          today=date.fromisoformat(request.today) if request.today
                          else date.today(),
                          pack=pack, policy=self.cfg.negotiation, currency=request.currency,
                          creditor=self.cfg.call.creditor, payday=request.payday,
                          is_machine=machine, hour=_local_hour(request.tz))
        return DialogScript(ctx)

    def voice_for(self, request: CallRequest) -> str:
        code = load_pack(request.locale or self.cfg.call.locale).code
        return {"en": self.cfg.tts.voice_en, "id": self.cfg.tts.voice_id}.get(code, code)

    def status(self) -> dict[str, Any]:
        return {"ari_connected": self.ari.connected.is_set(), "ari_connects": self.ari.connects,
                "live_calls": len(self.live), "completed_calls": self.completed,
                "accepting": self.accepting, "asr": self.asr.model_path if self.asr else None}

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
                    self._tg.create_task(self._inbound(event), name=f"call:{event.channel_id}")

    async def _inbound_request(self, event: StasisStart) -> CallRequest:
        """Who is calling: the debtor id the inbound FastAGI route found, with their debt."""
        number = event.channel.caller_number if event.channel else ""
        debtor = event.args[1] if len(event.args) > 1 else ""
        locale = event.args[2] if len(event.args) > 2 else ""
        if self.store is None or not debtor.isdigit():
            return CallRequest(number=number, locale=locale)
        ctx = await self.store.debtor_context(int(debtor))
        return request_from_context(ctx, number)

    async def _inbound(self, event: StasisStart) -> None:
        """An inbound call; a failure is logged and ends this call only, never the daemon."""
        channel_id = event.channel_id
        report = CallReport(call_id=channel_id, number="", answered=True)
        try:
            request = await self._inbound_request(event)
            report.number = request.number
            with contextlib.suppress(TagihError):
                await self.ari.answer(channel_id)
            script = self.script_for(request)
            await self._converse(channel_id, request, report, script, script.start(), {})
        except Exception:
            log.exception("inbound call %s failed", channel_id)
            with contextlib.suppress(TagihError):
                await self.ari.hangup(channel_id)

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
        except TagihError:
            raise
        except Exception as exc:  # one failing call is reported, never kills the daemon
            log.exception("call %s failed", call_id)
            raise TagihError(f"call {call_id} failed: {type(exc).__name__}: {exc}") from None
        finally:
            self.live.pop(call_id, None)

    async def place_call(self, call_id: str, request: CallRequest,
                         sink: CallSink | None = None) -> CallReport:
        """Dial one number through the dialplan and run the conversation if answered.

        `sink` (the store, for scheduled attempts) gets every turn as it happens and the
        outcome at the end."""
        report = CallReport(call_id=call_id, number=request.number)
        voice = self.voice_for(request)
        # both openings are rendered before dialling, so speech starts as soon as media is up
        human, machine = self.script_for(request), self.script_for(request, machine=True)
        openings = {False: human.start(), True: machine.start()}
        rendered = {a.text: await self.speaker.render(a.text, voice)
                    for acts in openings.values() for a in acts if isinstance(a, Say)}
        started = time.monotonic()
        result = await dial(self.ari, self.cfg.dial,
                            DialRequest(call_id, request.number, request.variables))
        report.answered, report.cause, report.amd = result.answered, result.cause, result.amd_status
        report.disposition, report.reason = result.disposition, result.cause_txt
        if result.answered:
            is_machine = result.amd_status == "MACHINE"
            script = machine if is_machine else human
            outcome = await self._converse(result.channel_id, request, report, script,
                                           openings[is_machine], rendered, sink)
            if sink is not None:
                await sink.on_outcome(outcome)
        report.duration_s = round(time.monotonic() - started, 3)
        self.completed += 1
        return report

    async def _converse(self, channel_id: str, request: CallRequest, report: CallReport,
                        script: Script, opening: list[object], rendered: dict[str, bytes],
                        sink: CallSink | None = None) -> CallOutcome:
        frames: list[bytes] = []
        options = SessionOptions(voice=self.voice_for(request), media_host=self.cfg.media.host,
                                 max_call_s=self.cfg.call.max_call_s,
                                 silence_s=self.cfg.call.silence_s,
                                 record=(lambda f: frames.append(f.pcm))
                                 if self.cfg.daemon.record_dir else None,
                                 on_turn=sink.on_turn if sink is not None else None)
        first = next((a for a in opening if isinstance(a, Say)), None)
        listener = (self.asr.listener(list(first.expect) if first else None)
                    if self.asr is not None else None)
        session = CallSession(self.ari, channel_id, script, self.speaker, options,
                              listener=listener, prerendered=rendered, opening=opening)
        outcome = await session.run()
        _fill_report(report, session, outcome)
        if frames:
            path = Path(self.cfg.daemon.record_dir) / f"{report.call_id}-rx.wav"
            await asyncio.to_thread(_write_wav, path, b"".join(frames))
            report.recording = str(path)
        return outcome


def _fill_report(report: CallReport, session: CallSession, outcome: CallOutcome) -> None:
    report.disposition = "MACHINE" if report.amd == "MACHINE" else outcome.disposition
    report.reason = session.hangup_reason
    report.turns = [{"speaker": t.speaker, "text": t.text, "intent": t.intent}
                    for t in outcome.turns]
    report.promises = [asdict(p) for p in outcome.promises]
    report.callback_at, report.flags = outcome.callback_at, list(outcome.flags)
    report.barge_ins = session.barge_ins
    timing = session.timing
    report.replies_ms = [round((bot - debtor) * 1000, 1) for debtor, bot in timing.replies]
    report.barge_in_ms = [round((stop - speech) * 1000, 1) for speech, stop in timing.barge_ins]
    if timing.first_audio_out_at is not None:
        report.answer_to_audio_ms = round((timing.first_audio_out_at - timing.stasis_at) * 1000,
                                          1)
    if session.transport is not None:
        stats = session.transport.stats
        report.frames_in, report.frames_out = stats.frames_in, stats.frames_out
        report.late_frames = stats.late_frames


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
