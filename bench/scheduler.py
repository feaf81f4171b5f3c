"""Benchmark: import N debtors through `tagih import debtors`' code path, then time scheduler ticks.

    .venv/bin/python bench/scheduler.py [--debtors 1000000] [--ticks 200] [--keep DIR]

Prints figures, and as its LAST line one JSON object:
    {"debtors": N, "import_rows_per_s": .., "tick_ms_p50": .., "tick_ms_p95": .., ...}
Targets: import >= 50,000 rows/s; one tick <= 50 ms (median).
A tick here is a full round: reconcile check, plan up to plan_batch due accounts, claim up to
the concurrency cap and dial them with an instant fake dialer (so the result bookkeeping counts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.importer import import_debtors
from agent.provinces import PROVINCES
from agent.scheduler import ClaimedAttempt, DialResult, Scheduler, SchedulerSettings
from agent.store import Store

START = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday 10:00 WIB


class SimClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=max(seconds, 0))
        await asyncio.sleep(0)


class InstantDialer:
    """Answers nothing, instantly: every dial is NO_ANSWER (then a retry is planned)."""

    def __init__(self) -> None:
        self.dials = 0

    async def dial(self, attempt: ClaimedAttempt) -> DialResult:
        self.dials += 1
        return DialResult(False, None, 19, "NO_ANSWER")


def write_csv(path: Path, n: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    provinces = [p[0] for p in PROVINCES]
    numbers = rng.sample(range(10_000_000, 99_999_999), n)
    with path.open("w", encoding="utf-8") as f:
        f.write("external_id,name,phone,account_id,amount_due,due_date,province,payday,"
                "segment\n")
        lines = []
        for i in range(n):
            lines.append(f"D{i},Debtor {i},+62812{numbers[i]},A{i},{rng.randrange(1, 500) * 10000},"
                         f"2026-11-{rng.randrange(1, 29):02d},{provinces[i % 38]},"
                         f"{rng.randrange(1, 29)},s{i % 7}\n")
            if len(lines) == 100_000:
                f.writelines(lines)
                lines.clear()
        f.writelines(lines)


async def run(n: int, ticks: int, folder: Path) -> dict[str, float]:
    csv_path, db_path = folder / "debtors.csv", folder / "bench.db"
    t0 = time.perf_counter()
    write_csv(csv_path, n)
    print(f"generated {n} rows in {time.perf_counter() - t0:.1f} s "
          f"({csv_path.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
    clock = SimClock(START)
    store = await Store.open(db_path, clock=clock)
    try:
        report = await import_debtors(store, csv_path, campaign="bench")
        assert report.imported == n and not report.bad, report.summary()
        rate = n / report.seconds
        print(f"import: {report.summary()} -> {rate:,.0f} rows/s", file=sys.stderr)
        await store.upsert_campaign("bench", concurrency=10, pacing_cps=0)
        dialer = InstantDialer()
        sched = Scheduler(store, dialer, clock=clock, rng=random.Random(1),
                          settings=SchedulerSettings(concurrency=10, plan_batch=100))
        await sched.tick()  # the daily reconcile and first plans, not timed
        times = []
        planned = 0
        for _ in range(ticks):
            clock.at += timedelta(seconds=1)
            t = time.perf_counter()
            rep = await sched.tick()
            times.append((time.perf_counter() - t) * 1000)
            planned += rep.planned
        times.sort()
        print(f"ticks: {ticks}, planned {planned}, dialled {dialer.dials}; "
              f"ms p50 {statistics.median(times):.1f} p95 {times[int(len(times) * .95)]:.1f} "
              f"max {times[-1]:.1f}", file=sys.stderr)
        return {"debtors": n, "import_rows_per_s": round(rate),
                "import_s": round(report.seconds, 2),
                "tick_ms_p50": round(statistics.median(times), 2),
                "tick_ms_p95": round(times[int(len(times) * .95)], 2),
                "tick_ms_max": round(times[-1], 2), "ticks": ticks,
                "planned_per_tick": round(planned / ticks, 1),
                "dials": dialer.dials, "db_mb": round(db_path.stat().st_size / 1e6)}
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debtors", type=int, default=1_000_000)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep the files")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run(args.debtors, args.ticks, args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="tagih-bench-") as tmp:
            result = asyncio.run(run(args.debtors, args.ticks, Path(tmp)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
