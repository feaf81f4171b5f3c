"""What the live benchmarks share on the debtor's side: one full conversation driven from the
simulated debtor (tests/harness/debtor.py: the far end of a real call, through its own ARI app
and RTP), with its timings. Process-side helpers (PBX, daemon, CPU) are in bench/_procs.py.

The repository root goes on sys.path here, for `tests.harness`. All times are this process's
monotonic clock (the event loop's), the clock the harness stamps frames with.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from agent import control  # noqa: E402
from agent.ari_events import StasisStart  # noqa: E402
from agent.config import TtsConfig  # noqa: E402
from agent.errors import TagihError  # noqa: E402
from agent.events import AudioFrame  # noqa: E402
from agent.media.codec import rms  # noqa: E402
from agent.tts import Tts  # noqa: E402
from bench._procs import KO_PACK  # noqa: E402
from tests.harness.debtor import VOICED_RMS, DebtorLine, SimulatedDebtors, Spoken  # noqa: E402


async def render_clips(texts: Sequence[str], cache_dir: Path) -> dict[str, bytes]:
    """The debtor's lines as 8 kHz PCM, rendered like the daemon renders ("ko" voice)."""
    tts = Tts(TtsConfig(cache_dir=str(cache_dir)))
    try:
        return {text: await tts.render(text, "ko") for text in dict.fromkeys(texts)}
    finally:
        await tts.aclose()


# --- the debtor side -------------------------------------------------------------------------


class TimedDebtors(SimulatedDebtors):
    """SimulatedDebtors that also note when each debtor channel was created and answered.

    Both from Asterisk's own timestamps (ms resolution), moved onto this process's monotonic
    clock. `answered_at[tag]`: the debtor channel's StasisStart. The 5xxx dialplan runs
    Answer(), MixMonitor() and Stasis() back to back, so this is the answer plus MixMonitor's
    set-up (it opens three files). `created_at[tag]`: the channel's creationtime, when the bot's
    Dial created it, just before its Answer() (priority 1, no ringing). The real answer lies
    between the two (measured 6-16 ms apart here)."""

    def __init__(self) -> None:
        super().__init__()
        self.answered_at: dict[str, float] = {}
        self.created_at: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TimedDebtors]:
        """The parent's, plus: a line still up at the end also loses its media channel and
        bridge (the parent cancels the task that would remove them before hanging up)."""
        async with super().running():
            try:
                yield self
            finally:
                for line in self._lines:
                    if not line.ended.is_set():
                        with contextlib.suppress(Exception):
                            await line.ari.hangup(f"{line.channel_id}-dm")
                            await line.ari.destroy_bridge(f"{line.channel_id}-db")

    async def _route(self, tg: asyncio.TaskGroup) -> None:  # the parent's, plus the stamps
        loop = asyncio.get_running_loop()
        while True:
            event = await self.ari.unrouted.get()
            if isinstance(event, StasisStart) and event.args and event.args[0] in self._waiting:
                tag = event.args[0]
                now = loop.time()
                self.answered_at[tag] = _to_monotonic(event.timestamp, now)
                created = str((event.raw.get("channel") or {}).get("creationtime", ""))
                self.created_at[tag] = _to_monotonic(created, now)
                tg.create_task(self._attach(event.channel_id, tag, tg))


def _to_monotonic(stamp: str, now: float) -> float:
    """An ARI event timestamp ('2026-12-04T20:30:01.123+0000') on the monotonic clock."""
    try:
        wall = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return now
    return now - (time.time() - wall)


def first_voiced_after(frames: Sequence[AudioFrame], t: float) -> float | None:
    """Arrival time of the first voiced frame received after t (frames are in arrival order)."""
    start = bisect.bisect_right(frames, t, key=lambda f: f.at)
    for frame in frames[start:]:
        if rms(frame.pcm) > VOICED_RMS:
            return frame.at
    return None


@dataclass
class Conversation:
    """One call as the debtor side lived it, and the daemon's report of it."""

    tag: str
    number: str
    report: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    spoken: list[Spoken] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)  # debtor last voiced -> bot voiced
    answer_to_greeting_ms: float | None = None  # debtor's StasisStart -> bot voiced heard
    created_to_greeting_ms: float | None = None  # debtor channel created -> bot voiced heard
    answer_to_media_ms: float | None = None  # first frame of any kind heard by the debtor
    answer_to_line_ms: float | None = None  # the harness had wired the debtor's media
    harness_late_frames: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def disposition(self) -> str:
        return str(self.report.get("disposition", "ERROR" if self.error else "NONE"))


@dataclass(frozen=True)
class Dialog:
    """What the debtor says, one line per bot prompt, and how the call should end."""

    replies: tuple[str, ...]
    expect: str  # the disposition of a conversation that went as planned
    name: str = "김민수"
    amount_due: int = 300000


# verify -> 네; reminder and ask -> 네 오늘 낼게요; read-back -> 네
SHORT = Dialog(("네", "네 오늘 낼게요", "네"), "PTP_FULL")
# verify -> 네; ask, counter, partial counter -> 아니요 x3; 3-instalment plan -> 네; read-back -> 네
NEGOTIATE = Dialog(("네", "아니요", "아니요", "아니요", "네", "네"), "PTP_PARTIAL")


def call_body(number: str, tag: str, dialog: Dialog, today: date) -> dict[str, Any]:
    """What `tagih call` would POST for this conversation (Korean pack, AMD off)."""
    return {"number": number, "name": dialog.name, "locale": KO_PACK,
            "variables": {"__SIM_TAG": tag, "TAGIH_AMD": "no"},
            "amount_due": dialog.amount_due, "due": today.isoformat(), "payday": None,
            "currency": "KRW", "today": today.isoformat()}


async def converse(debtors: TimedDebtors, socket: str, number: str, tag: str, dialog: Dialog,
                   clips: Mapping[str, bytes], *, quiet_s: float = 0.5,
                   call_timeout_s: float = 240) -> Conversation:
    """Place one call through the daemon's control socket (as `tagih call` does) and play the
    debtor: after each bot prompt and `quiet_s` of quiet, say the next line."""
    loop = asyncio.get_running_loop()
    conv = Conversation(tag, number, started_at=loop.time())
    line_f = debtors.expect(tag)
    body = call_body(number, tag, dialog, date.today())
    call = asyncio.ensure_future(control.request(socket, "POST", "/calls", body,
                                                 timeout_s=call_timeout_s))
    line: DebtorLine | None = None
    wired_at = 0.0
    try:
        async with asyncio.timeout(call_timeout_s):
            line = await _answered(line_f, call)
            wired_at = loop.time()
            await _play_debtor(line, dialog, clips, quiet_s, conv)
            conv.report = await call
    except (TagihError, TimeoutError) as exc:
        conv.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        if line is not None:
            with contextlib.suppress(Exception):
                await line.hangup()
    finally:
        call.cancel()
    conv.ended_at = loop.time()
    if line is not None:
        answered = debtors.answered_at.get(tag)
        if answered is not None:
            conv.answer_to_line_ms = round((wired_at - answered) * 1000, 1)
        _measure(conv, line, answered, debtors.created_at.get(tag))
    return conv


async def _answered(line_f: asyncio.Future[DebtorLine],
                    call: asyncio.Future[dict[str, Any]]) -> DebtorLine:
    """The debtor's line once it is wired; a call that fails before that raises here.
    (line_f is left alone then: the debtors' router may still resolve it.)"""
    either: set[asyncio.Future[Any]] = {line_f, call}
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if line_f.done():
        return line_f.result()
    raise TagihError(f"the call ended without reaching the debtor: {call.result()}")


async def _play_debtor(line: DebtorLine, dialog: Dialog, clips: Mapping[str, bytes],
                       quiet_s: float, conv: Conversation) -> None:
    after = 0.0
    for text in dialog.replies:
        if not await _next_prompt(line, after, quiet_s):
            return  # the bot hung up before asking again
        said = await line.say(clips[text])
        conv.spoken.append(said)
        after = said.end


async def _next_prompt(line: DebtorLine, after: float, quiet_s: float) -> bool:
    """Wait for the bot's next prompt to end; False when the call ended instead."""
    prompt = asyncio.ensure_future(line.wait_bot_prompt(after=after, quiet_s=quiet_s,
                                                        timeout_s=30))
    ended = asyncio.ensure_future(line.ended.wait())
    try:
        await asyncio.wait({prompt, ended}, return_when=asyncio.FIRST_COMPLETED)
        if prompt.done():
            prompt.result()  # TimeoutError: the bot never spoke again
            return True
        return False
    finally:
        prompt.cancel()
        ended.cancel()


def _measure(conv: Conversation, line: DebtorLine, answered: float | None,
             created: float | None) -> None:
    frames = line.heard.frames
    for said in conv.spoken:
        reply = first_voiced_after(frames, said.last_voiced)
        if reply is not None:
            conv.turn_ms.append(round((reply - said.last_voiced) * 1000, 1))
    greeting = first_voiced_after(frames, 0.0)
    if answered is not None and greeting is not None:
        conv.answer_to_greeting_ms = round((greeting - answered) * 1000, 1)
    if created is not None and greeting is not None:
        conv.created_to_greeting_ms = round((greeting - created) * 1000, 1)
    if answered is not None and frames:
        conv.answer_to_media_ms = round((frames[0].at - answered) * 1000, 1)
    conv.harness_late_frames = line.transport.stats.late_frames
    line.heard.frames = []  # measured; do not keep every call's audio
