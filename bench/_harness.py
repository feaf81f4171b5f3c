"""What the live benchmarks share: the sandbox PBX, the daemon as a subprocess, CPU readings,
and one full conversation driven from the simulated debtor's side.

The debtor side is tests/harness/debtor.py (the far end of a real call, through its own ARI
app and RTP), so the repository root goes on sys.path here. All times are this process's
monotonic clock (the event loop's), the clock the harness stamps frames with.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import re
import resource
import subprocess
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
from tests.harness.debtor import VOICED_RMS, DebtorLine, SimulatedDebtors, Spoken  # noqa: E402

KO_PACK = str(REPO / "tests/fixtures/locales/ko")
PBX_SCRIPT = REPO / "scripts" / "pbx"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A benchmark could not run; main() prints it as one line and exits 1."""


# --- figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 1)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name, threads of one name summed; the main thread (for Python:
    the event loop) is "<name> main". Python does not name its OS threads, so in the daemon
    "python" is every worker thread together (Vosk decoding, TTS, to_thread)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            stat = (task / "stat").read_text()
            name = re.sub(r"[_-]?\d+$", "", stat[stat.index("(") + 1 : stat.rindex(")")])
            name += " main" if task.name == str(pid) else ""
            fields = stat[stat.rindex(")") + 2 :].split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def raise_fd_limit() -> None:
    """Each call costs this process and the daemon about two sockets; lift the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the sandbox PBX -------------------------------------------------------------------------


class Sandbox:
    """scripts/pbx: start it when it is not running, and stop it later only if we started it
    (the Asterisk is shared with other people's tests)."""

    def __init__(self) -> None:
        self.started = False

    def _run(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(PBX_SCRIPT), *args], capture_output=True, text=True,
                              timeout=timeout_s, check=False)

    def pid(self) -> int | None:
        done = self._run("status", timeout_s=20)
        found = re.search(r"running \(pid (\d+)\)", done.stdout)
        if done.returncode == 0 and found:
            return int(found.group(1))
        if done.returncode == 3:
            return None
        raise BenchError(f"scripts/pbx status failed: {done.stderr.strip() or done.stdout}")

    def ensure(self) -> int:
        """The running Asterisk's PID, provisioning and starting the sandbox if needed."""
        pid = self.pid()
        if pid is not None:
            return pid
        for step, timeout_s in (("provision", 900.0), ("start", 60.0)):
            print(f"bench: scripts/pbx {step}", file=sys.stderr)
            done = self._run(step, timeout_s=timeout_s)
            if done.returncode != 0:
                raise BenchError(f"scripts/pbx {step} failed: {done.stderr.strip()[-500:]}")
        self.started = True
        pid = self.pid()
        if pid is None:
            raise BenchError("scripts/pbx start succeeded but status says stopped")
        return pid

    def stop_if_started(self) -> None:
        if self.started:
            self._run("stop", timeout_s=60)
            self.started = False


# --- the daemon ------------------------------------------------------------------------------


@dataclass
class DaemonProc:
    pid: int
    socket: str
    log: Path

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def daemon_env(workdir: Path, model: str | None, extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TAGIH_DAEMON_CONTROL_SOCKET": str(workdir / "tagih.sock"),
        "TAGIH_TTS_CACHE_DIR": str(workdir / "tts"),
        "TAGIH_STORE_PATH": str(workdir / "tagih.db"),
        "TAGIH_CALL_LOCALE": KO_PACK,
        "TAGIH_SCHEDULER_ENABLED": "false",  # only the bench's calls
        "TAGIH_DAEMON_DRAIN_S": "10",
        "TAGIH_DAEMON_RECORD_DIR": "",
        "PYTHONUNBUFFERED": "1",
    })
    if model:
        env["TAGIH_ASR_MODEL_PATH"] = model
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def running_daemon(workdir: Path, model: str | None = None,
                         extra_env: Mapping[str, str] | None = None,
                         ready_timeout_s: float = 60) -> AsyncIterator[DaemonProc]:
    """`tagih -v run` as a subprocess with its own socket, TTS cache and store in workdir."""
    env = daemon_env(workdir, model, extra_env or {})
    log = workdir / "daemon.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "-v", "run", env=env, cwd=REPO,
            stdout=out, stderr=subprocess.STDOUT)
    daemon = DaemonProc(proc.pid, env["TAGIH_DAEMON_CONTROL_SOCKET"], log)
    try:
        await _wait_ready(daemon, proc, ready_timeout_s)
        yield daemon
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_ready(daemon: DaemonProc, proc: asyncio.subprocess.Process,
                      timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.returncode is not None:
            raise BenchError(f"the daemon exited ({proc.returncode}):\n{daemon.tail()}")
        with contextlib.suppress(TagihError):
            status = await control.request(daemon.socket, "GET", "/status", timeout_s=2)
            if status.get("ari_connected"):
                return
        if time.monotonic() > deadline:
            raise BenchError(f"the daemon was not connected to ARI within {timeout_s:.0f} s:\n"
                             f"{daemon.tail()}")
        await asyncio.sleep(0.2)


async def render_clips(texts: Sequence[str], cache_dir: Path) -> dict[str, bytes]:
    """The debtor's lines as 8 kHz PCM, rendered like the daemon renders ("ko" voice)."""
    tts = Tts(TtsConfig(cache_dir=str(cache_dir)))
    try:
        return {text: await tts.render(text, "ko") for text in dict.fromkeys(texts)}
    finally:
        await tts.aclose()


# --- the debtor side -------------------------------------------------------------------------


class TimedDebtors(SimulatedDebtors):
    """SimulatedDebtors that also notes when each debtor channel entered Stasis.

    `answered_at[tag]`: Asterisk's own timestamp of the debtor channel's StasisStart, moved
    onto this process's monotonic clock. The 5xxx dialplan runs Answer(), MixMonitor() and
    Stasis() back to back, so this is the answer as Asterisk saw it, within a millisecond or
    two. `arrived_at[tag]`: when the event reached the harness (its lag under load)."""

    def __init__(self) -> None:
        super().__init__()
        self.answered_at: dict[str, float] = {}
        self.arrived_at: dict[str, float] = {}

    async def _route(self, tg: asyncio.TaskGroup) -> None:  # the parent's, plus the stamps
        loop = asyncio.get_running_loop()
        while True:
            event = await self.ari.unrouted.get()
            if isinstance(event, StasisStart) and event.args and event.args[0] in self._waiting:
                tag = event.args[0]
                now = loop.time()
                self.arrived_at[tag] = now
                self.answered_at[tag] = _to_monotonic(event.timestamp, now)
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
    answer_to_greeting_ms: float | None = None
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
        _measure(conv, line, answered)
    return conv


async def _answered(line_f: asyncio.Future[DebtorLine],
                    call: asyncio.Future[dict[str, Any]]) -> DebtorLine:
    """The debtor's line once it is wired; a call that fails before that raises here.
    (line_f is left alone then: the debtors' router may still resolve it.)"""
    await asyncio.wait({line_f, call}, return_when=asyncio.FIRST_COMPLETED)
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


def _measure(conv: Conversation, line: DebtorLine, answered: float | None) -> None:
    frames = line.heard.frames
    for said in conv.spoken:
        reply = first_voiced_after(frames, said.last_voiced)
        if reply is not None:
            conv.turn_ms.append(round((reply - said.last_voiced) * 1000, 1))
    greeting = first_voiced_after(frames, 0.0)
    if answered is not None and greeting is not None:
        conv.answer_to_greeting_ms = round((greeting - answered) * 1000, 1)
    if answered is not None and frames:
        conv.answer_to_media_ms = round((frames[0].at - answered) * 1000, 1)
    conv.harness_late_frames = line.transport.stats.late_frames
    line.heard.frames = []  # measured; do not keep every call's audio
