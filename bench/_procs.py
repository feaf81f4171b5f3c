"""What the live benchmarks share on the process side: the sandbox PBX (scripts/pbx), the
daemon (`tagih -v run`) as a subprocess, CPU readings from /proc, and percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import control
from agent.errors import TagihError

REPO = Path(__file__).resolve().parents[1]
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
        with contextlib.suppress(ValueError, OSError):  # e.g. an unlimited hard limit
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


def run_bench(keep_pbx: bool, limit_s: float,
              job: Callable[[int], Coroutine[Any, Any, Any]]) -> Any:
    """Raise the fd limit, make sure the sandbox runs, run `job(asterisk_pid)` under an overall
    time limit, and stop the sandbox afterwards if this run started it (unless keep_pbx).
    Raises BenchError with one line for the caller to print."""
    raise_fd_limit()
    sandbox = Sandbox()
    try:
        asterisk_pid = sandbox.ensure()
        return asyncio.run(asyncio.wait_for(job(asterisk_pid), limit_s))
    except TimeoutError:
        raise BenchError("the overall time limit was reached") from None
    finally:
        if not keep_pbx:
            with contextlib.suppress(Exception):
                sandbox.stop_if_started()
