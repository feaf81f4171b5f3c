"""agent.scheduler in simulated time with a fake dialer, on real SQLite files."""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import policy
from agent.events import CallOutcome, Promise, Turn
from agent.scheduler import ClaimedAttempt, DialResult, Scheduler, SchedulerSettings
from agent.store import Store, to_db

START = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # Monday 07:00 WIB


class SimClock:
    """Simulated time: sleep() moves the clock instead of waiting."""

    def __init__(self, at: datetime, frozen: bool = False) -> None:
        self.at = at
        self.frozen = frozen  # frozen: sleep() only records when it would wake
        self.wakes: list[datetime] = []

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.wakes.append(self.at + timedelta(seconds=max(seconds, 0)))
        if not self.frozen:
            self.at += timedelta(seconds=max(seconds, 0))
        await asyncio.sleep(0)


class FakeDialer:
    """Plays a script per number: NO_ANSWER, BUSY, MACHINE, FAILED, PTP:<amount>:<date>,
    CALLBACK:<local iso>, OPT_OUT, HANGUP. Unscripted dials get NO_ANSWER."""

    def __init__(self, store: Store, clock: SimClock, script: dict[str, list[str]] | None = None,
                 hold: float = 0.0) -> None:
        self.store, self.clock, self.script, self.hold = store, clock, script or {}, hold
        self.dials: list[tuple[ClaimedAttempt, datetime]] = []
        self.live = 0
        self.max_live = 0
        self.changed = asyncio.Condition()

    async def dial(self, attempt: ClaimedAttempt) -> DialResult:
        self.dials.append((attempt, self.clock.now()))
        async with self.changed:
            self.changed.notify_all()
        self.live += 1
        self.max_live = max(self.max_live, self.live)
        try:
            if self.hold:
                await asyncio.sleep(self.hold)
            steps = self.script.get(attempt.number, [])
            step = steps.pop(0) if steps else "NO_ANSWER"
            return await self._play(attempt, step)
        finally:
            self.live -= 1

    async def _play(self, attempt: ClaimedAttempt, step: str) -> DialResult:
        kind, _, arg = step.partition(":")
        if kind in ("NO_ANSWER", "BUSY", "FAILED"):
            return DialResult(False, None, {"BUSY": 17, "NO_ANSWER": 19}.get(kind, 34), kind)
        if kind == "MACHINE":
            return DialResult(True, "MACHINE", 16, "MACHINE")
        if kind == "PTP":
            amount, day = arg.split(":")
            outcome = CallOutcome("PTP_FULL", (Promise(int(amount), day),))
        elif kind == "CALLBACK":
            outcome = CallOutcome("CALLBACK", callback_at=arg)
        elif kind == "OPT_OUT":
            await self.store.record_turn(attempt.attempt_id, Turn("debtor", "stop calling me",
                                                                  "opt_out"))
            outcome = CallOutcome("OPT_OUT")
        else:
            outcome = CallOutcome(kind)
        await self.store.record_outcome(attempt.attempt_id, outcome)
        return DialResult(True, "HUMAN", 16, outcome.disposition)


async def add_debtors(store: Store, n: int, tz: str = "Asia/Jakarta", *, payday: int | None = None,
                      campaign: str = "c1", segment: str = "gig") -> list[str]:
    """n debtors, one account and phone each, due now; returns their numbers."""
    camp = await store.campaign_id(campaign)
    numbers = []
    async with store.transaction() as db:
        for i in range(n):
            number = f"+62812{len(numbers) + 1:04d}{abs(hash(tz)) % 10000:04d}"
            cur = await db.execute(
                "INSERT INTO debtors (external_id, name, tz, segment, updated_at)"
                " VALUES (?, 'N', ?, ?, ?) RETURNING id", (f"{tz}{i}", tz, segment, to_db(START)))
            (debtor,) = await cur.fetchone()  # type: ignore[misc]
            await db.execute(
                "INSERT INTO accounts (debtor_id, campaign_id, external_id, amount_due, due_date,"
                " payday, next_contact_at, updated_at) VALUES (?, ?, ?, 500000, '2026-11-30', ?,"
                " ?, ?)", (debtor, camp, f"A{tz}{i}", payday, to_db(START), to_db(START)))
            await db.execute("INSERT INTO phones (debtor_id, e164) VALUES (?, ?)", (debtor, number))
            numbers.append(number)
    return numbers


async def simulate(sched: Scheduler, clock: SimClock, until: datetime,
                   step: timedelta = timedelta(minutes=15)) -> None:
    async with asyncio.timeout(60):
        while clock.at < until:
            await sched.tick()
            clock.at += step


@pytest_asyncio.fixture(loop_scope="function")
async def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = SimClock(START)
    store = await Store.open(tmp_path / "s.db", clock=clock)
    yield store, clock
    await store.close()


def settings_(**kw: object) -> SchedulerSettings:
    return SchedulerSettings(**{"epsilon": 0.0, **kw})  # type: ignore[arg-type]


def local_times(dialer: FakeDialer, tz: str = "Asia/Jakarta") -> list[str]:
    return [at.astimezone(policy.zone(tz)).strftime("%a %d %H:%M") for _, at in dialer.dials]


async def test_no_answer_retries_then_next_cycle(env) -> None:  # type: ignore[no-untyped-def]
    store, clock = env
    await store.upsert_campaign("c1", max_per_day=5, max_per_week=20, pacing_cps=10)
    await add_debtors(store, 1)
    dialer = FakeDialer(store, clock)
    sched = Scheduler(store, dialer, clock=clock, settings=settings_())
    await simulate(sched, clock, START + timedelta(days=2))
    # 3 no-answers 2 h apart (max 3 per cycle); the next cycle a day later starts at the
    # first hour not yet tried (08, 10 and 12 did not answer)
    assert local_times(dialer) == ["Mon 07 08:00", "Mon 07 10:00", "Mon 07 12:00",
                                   "Tue 08 13:00", "Tue 08 15:00", "Tue 08 17:00"]
    rows = await store.fetchall("SELECT kind, disposition, local_time, checks FROM attempts"
                                " WHERE dialled_at IS NOT NULL ORDER BY id")
    assert [r["kind"] for r in rows[:4]] == ["regular", "retry", "retry", "regular"]
    assert {r["disposition"] for r in rows} == {"NO_ANSWER"}
    assert rows[0]["local_time"].startswith("2026-12-07T08:00:00+07:00")
    assert json.loads(rows[0]["checks"])["allowed"] is True
    decisions = await store.fetchall("SELECT allowed, reason FROM decisions")
    assert len(decisions) == 6 and all(d["allowed"] == 1 for d in decisions)


async def test_busy_retry_delay_and_day_cap(env) -> None:  # type: ignore[no-untyped-def]
    store, clock = env
    await store.upsert_campaign("c1", max_per_day=2, max_per_week=20,
                                retry={"BUSY": {"delay_s": 900, "max": 9}})
    (number,) = await add_debtors(store, 1)
    dialer = FakeDialer(store, clock, {number: ["BUSY"] * 20})
    sched = Scheduler(store, dialer, clock=clock, settings=settings_())
    await simulate(sched, clock, START + timedelta(days=2), timedelta(minutes=5))
    per_day = Counter(at.astimezone(policy.zone("Asia/Jakarta")).date() for _, at in dialer.dials)
    assert per_day == {date(2026, 12, 7): 2, date(2026, 12, 8): 2}
    assert local_times(dialer)[:2] == ["Mon 07 08:00", "Mon 07 08:15"]


async def test_callback_at_the_time_asked(env) -> None:  # type: ignore[no-untyped-def]
    store, clock = env
    await store.upsert_campaign("c1")
    (number,) = await add_debtors(store, 1, "Asia/Makassar")
    dialer = FakeDialer(store, clock, {number: ["CALLBACK:2026-12-08T19:00:00", "REFUSED"]})
    sched = Scheduler(store, dialer, clock=clock, settings=settings_())
    await simulate(sched, clock, START + timedelta(days=2), timedelta(minutes=5))
    assert local_times(dialer, "Asia/Makassar")[:2] == ["Mon 07 08:00", "Tue 08 19:00"]
    kinds = await store.fetchall("SELECT kind FROM attempts WHERE dialled_at IS NOT NULL")
    assert [k[0] for k in kinds][:2] == ["regular", "callback"]


async def test_promise_reminder_and_broken_recontact(env) -> None:  # type: ignore[no-untyped-def]
    store, clock = env
    await store.upsert_campaign("c1")
    a, b = await add_debtors(store, 2)
    dialer = FakeDialer(store, clock, {a: ["PTP:500000:2026-12-10", "REFUSED"],
                                       b: ["PTP:500000:2026-12-10", "REFUSED"]})
    sched = Scheduler(store, dialer, clock=clock, settings=settings_())
    await simulate(sched, clock, datetime(2026, 12, 10, 6, tzinfo=UTC))
    async with store.transaction() as db:  # debtor b pays in full on the promised day
        await db.execute("INSERT INTO payments (account_id, external_id, amount, paid_at,"
                         " created_at) VALUES (2, 'P1', 500000, '2026-12-10T05:00:00Z', ?)",
                         (to_db(clock.now()),))
    await simulate(sched, clock, START + timedelta(days=6))
    days_a = [at.astimezone(policy.zone("Asia/Jakarta")).date().day
              for att, at in dialer.dials if att.number == a]
    days_b = [at.astimezone(policy.zone("Asia/Jakarta")).date().day
              for att, at in dialer.dials if att.number == b]
    assert days_a[:3] == [7, 9, 11]  # the call, the reminder the day before, re-contact after
    assert days_b == [7, 9]  # kept: no re-contact, account closed
    promises = await store.fetchall("SELECT account_id, status FROM promises ORDER BY id")
    assert [tuple(p) for p in promises] == [(1, "broken"), (2, "kept")]
    kinds = await store.fetchall("SELECT kind FROM attempts WHERE account_id = 1 ORDER BY id")
    assert [k[0] for k in kinds][:3] == ["regular", "reminder", "recontact"]


async def test_dnc_never_dialled(env) -> None:  # type: ignore[no-untyped-def]
    store, clock = env
    await store.upsert_campaign("c1", pacing_cps=10)
    a, b, c = await add_debtors(store, 3)
    await store.add_dnc(a, "operator", "letter")
    dialer = FakeDialer(store, clock, {b: ["OPT_OUT"]})
    sched = Scheduler(store, dialer, clock=clock, settings=settings_())
    await sched.tick()  # plans b and c (a is closed: no callable number)
    await store.add_dnc(c, "complaint", "email")  # after planning: refused at claim time
    await simulate(sched, clock, START + timedelta(days=3))
    assert [att.number for att, _ in dialer.dials] == [b]
    assert await store.is_dnc(b)
    states = await store.fetchall("SELECT state FROM accounts ORDER BY id")
    assert [s[0] for s in states] == ["closed", "closed", "closed"]
    refused = await store.fetchone("SELECT allowed, reason FROM decisions WHERE allowed = 0")
    assert refused is not None and refused["reason"] == "number on do-not-call list"


async def test_concurrency_cap_and_pacing(env) -> None:  # type: ignore[no-untyped-def]
    store, clock = env
    await store.upsert_campaign("c1", concurrency=3, pacing_cps=2.0)
    await add_debtors(store, 12)
    clock.at, clock.frozen = datetime(2026, 12, 7, 2, tzinfo=UTC), True
    dialer = FakeDialer(store, clock, hold=0.01)
    sched = Scheduler(store, dialer, clock=clock, settings=settings_(concurrency=5))
    async with asyncio.timeout(30):
        await sched.tick()
    assert len(dialer.dials) == 5  # the global cap: 5 claimed in one tick
    assert dialer.max_live <= 3  # the campaign's cap
    # pacing: the dial starts were spaced 1/2 s apart (time frozen, so only the waits show it)
    assert sorted(clock.wakes) == [clock.at + timedelta(seconds=0.5 * i) for i in range(5)]


async def test_best_hour_from_segment_history(env) -> None:  # type: ignore[no-untyped-def]
    store, clock = env
    await store.upsert_campaign("c1")
    async with store.transaction() as db:
        await db.execute("INSERT INTO answer_stats VALUES ('segment', 'gig', 18, 100, 70),"
                         " ('segment', 'gig', 9, 100, 5)")
    await add_debtors(store, 1)
    sched = Scheduler(store, FakeDialer(store, clock), clock=clock, settings=settings_())
    await sched.tick()
    row = await store.fetchone("SELECT scheduled_for FROM attempts")
    assert row is not None and row[0] == "2026-12-07T11:00:00Z"  # 18:00 WIB


async def test_payday_alignment_waits_for_payday(env) -> None:  # type: ignore[no-untyped-def]
    store, clock = env
    await store.upsert_campaign("c1")
    clock.at = datetime(2026, 12, 22, 0, tzinfo=UTC)
    await add_debtors(store, 1, payday=25)
    async with store.transaction() as db:
        await db.execute("UPDATE accounts SET next_contact_at = ?", (to_db(clock.at),))
    sched = Scheduler(store, FakeDialer(store, clock), clock=clock, settings=settings_())
    await sched.tick()
    row = await store.fetchone("SELECT scheduled_for FROM attempts")
    # the 25th is Christmas (holiday) so the first allowed time is Saturday the 26th 08:00 WIB
    assert row is not None and row[0] == "2026-12-26T01:00:00Z"


async def test_two_schedulers_never_dial_the_same_debtor(tmp_path: Path) -> None:
    clock = SimClock(datetime(2026, 12, 7, 2, tzinfo=UTC))
    s1 = await Store.open(tmp_path / "two.db", clock=clock)
    s2 = await Store.open(tmp_path / "two.db", clock=clock)
    try:
        await s1.upsert_campaign("c1", concurrency=50, pacing_cps=1000, max_per_day=10)
        await add_debtors(s1, 40)
        d1, d2 = FakeDialer(s1, clock, hold=0.002), FakeDialer(s2, clock, hold=0.002)
        a = Scheduler(s1, d1, clock=clock, settings=settings_(worker="a", concurrency=50))
        b = Scheduler(s2, d2, clock=clock, settings=settings_(worker="b", concurrency=50))
        async with asyncio.timeout(60):
            for _ in range(6):
                await asyncio.gather(a.tick(), b.tick())
                clock.at += timedelta(hours=2)
        ids1 = {att.attempt_id for att, _ in d1.dials}
        ids2 = {att.attempt_id for att, _ in d2.dials}
        assert ids1 and ids2 and not ids1 & ids2
        per_debtor_time = Counter((att.debtor_id, at) for att, at in d1.dials + d2.dials)
        assert max(per_debtor_time.values()) == 1
    finally:
        await s1.close()
        await s2.close()


# --- property: whatever the zone, holidays, outcomes and DNC, dials stay legal -----------------

OUTCOMES = st.sampled_from(["NO_ANSWER", "BUSY", "MACHINE", "FAILED", "REFUSED", "HANGUP",
                            "CALLBACK:2026-12-26T21:30:00", "PTP:1000:2026-12-28"])


@settings(max_examples=8, deadline=None)
@given(tz=st.sampled_from(["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura",
                           "America/New_York", "America/Los_Angeles"]),
       start_day=st.sampled_from([date(2026, 12, 24), date(2026, 12, 31), date(2027, 3, 6)]),
       caps=st.tuples(st.integers(1, 3), st.integers(2, 6)),
       script=st.lists(OUTCOMES, min_size=1, max_size=12), dnc=st.booleans(),
       seed=st.integers(0, 1000))
def test_property_dials_inside_window_under_caps_never_dnc(
        tz: str, start_day: date, caps: tuple[int, int], script: list[str], dnc: bool,
        seed: int) -> None:
    profile = "us-fdcpa" if tz.startswith("America") else "id-ojk"
    dials = asyncio.run(_run_property(tz, start_day, caps, script, dnc, seed, profile))
    hist: dict[str, list[datetime]] = {"x1": [], "x2": []}
    rules = policy.CampaignRules(profile, *caps)
    assert dials, "the simulation dialled nobody"
    for number, at in dials:
        assert not (dnc and number == "x1")
        past = policy.History(tuple(hist[number]))
        decision = policy.decide(at, policy.DebtorRules(tz), past, rules)
        assert decision.checks["window"].startswith("pass"), (at, decision)
        assert "cap_day" not in decision.checks and "cap_week" not in decision.checks
        hist[number].append(at)


async def _run_property(tz: str, start_day: date, caps: tuple[int, int], script: list[str],
                        dnc: bool, seed: int, profile: str) -> list[tuple[str, datetime]]:
    with tempfile.TemporaryDirectory() as tmp:
        clock = SimClock(datetime.combine(start_day, datetime.min.time(), UTC))
        store = await Store.open(Path(tmp) / "p.db", clock=clock)
        try:
            await store.upsert_campaign("c1", window_profile=profile, max_per_day=caps[0],
                                        max_per_week=caps[1], pacing_cps=100)
            numbers = await add_debtors(store, 2, tz)
            if dnc:
                await store.add_dnc(numbers[0], "test")
            dialer = FakeDialer(store, clock, {numbers[1]: list(script)})
            sched = Scheduler(store, dialer, clock=clock, rng=random.Random(seed),
                              settings=SchedulerSettings(epsilon=0.3))
            await simulate(sched, clock, clock.at + timedelta(days=5), timedelta(minutes=20))
            return [(("x1" if att.number == numbers[0] else "x2"), at)
                    for att, at in dialer.dials]
        finally:
            await store.close()


async def test_run_loops_until_stopped_and_drains(env) -> None:  # type: ignore[no-untyped-def]
    store, clock = env
    await store.upsert_campaign("c1", pacing_cps=100)
    await add_debtors(store, 3)
    clock.at = datetime(2026, 12, 7, 2, tzinfo=UTC)
    dialer = FakeDialer(store, clock, hold=0.05)
    sched = Scheduler(store, dialer, clock=clock, settings=settings_(tick_s=0.01))
    stop = asyncio.Event()
    async with asyncio.timeout(10):
        async with asyncio.TaskGroup() as tg:
            tg.create_task(sched.run(stop), name="scheduler")
            async with dialer.changed:
                await dialer.changed.wait_for(lambda: len(dialer.dials) >= 3)
            stop.set()
    assert len(dialer.dials) == 3 and dialer.live == 0
    ended = await store.fetchall("SELECT disposition FROM attempts WHERE ended_at IS NOT NULL")
    assert [e[0] for e in ended] == ["NO_ANSWER"] * 3  # the live calls finished before run returned
