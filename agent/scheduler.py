"""The scheduler: plans attempts for due accounts, claims them atomically, dials within policy.

One `tick()`:
  1. reconcile promises once per day (broken -> re-contact the day after the promise date);
  2. plan: due accounts (indexed) get one planned attempt at the best allowed hour;
  3. claim: due attempts are claimed atomically (UPDATE ... RETURNING), so two schedulers on
     the same file never dial the same debtor;
  4. dispatch: under the concurrency cap and pacing, the policy is re-checked, the decision
     recorded, the Dialer called, and the follow-up (retry, callback, reminder) planned.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from agent import cadence, policy
from agent.clock import Clock, SystemClock
from agent.dialqueue import (
    DEFAULT_CAMPAIGN,
    Campaign,
    ClaimedAttempt,
    DebtorInputs,
    DialQueue,
    PlannedAttempt,
)
from agent.errors import TagihError
from agent.store import Store, from_db

log = logging.getLogger(__name__)

__all__ = ["ClaimedAttempt", "Clock", "DialResult", "Dialer", "Scheduler", "SchedulerSettings",
           "SystemClock", "TickReport"]

@dataclass(frozen=True, slots=True)
class DialResult:
    """What one dial produced. `disposition` is final unless the call wrote its own outcome."""

    answered: bool
    amd: str | None = None
    hangup_cause: int | None = None
    disposition: str = "NO_ANSWER"


class Dialer(Protocol):
    """Places one call and returns when it has ended."""

    async def dial(self, attempt: ClaimedAttempt) -> DialResult: ...


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    worker: str = "scheduler"
    concurrency: int = 4  # global cap (the trunk); each campaign also has its own
    plan_batch: int = 100
    claim_batch: int = 50
    tick_s: float = 1.0
    epsilon: float = 0.1
    horizon_h: float = 24.0
    payday_lookahead_days: int = 3

    @classmethod
    def from_config(cls, cfg: Any, worker: str = "scheduler") -> SchedulerSettings:
        """From the config's [scheduler] section (fields of the same name; others default)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: getattr(cfg, k) for k in names if hasattr(cfg, k)}
        return cls(**{**values, "worker": values.get("worker", worker)})


@dataclass(slots=True)
class TickReport:
    planned: int = 0
    claimed: int = 0
    reconciled: bool = False


class Pacer:
    """Spaces dial starts at least 1/cps seconds apart."""

    def __init__(self, clock: Clock, cps: float) -> None:
        self._clock = clock
        self._interval = timedelta(seconds=1.0 / cps) if cps > 0 else timedelta(0)
        self._next: datetime | None = None

    async def wait(self) -> None:
        now = self._clock.now()
        slot = max(now, self._next or now)
        self._next = slot + self._interval
        await self._clock.sleep((slot - now).total_seconds())


class Scheduler:
    """Plans, claims and dispatches attempts. Use `tick()` for one round, `run(stop)` to loop."""

    def __init__(self, store: Store, dialer: Dialer, *, clock: Clock | None = None,
                 settings: SchedulerSettings | None = None,
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.queue = DialQueue(store)
        self.dialer = dialer
        self.clock = clock or store.clock
        self.settings = settings or SchedulerSettings()
        self.rng = rng or random.Random()
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._campaign_slots: dict[int, asyncio.Semaphore] = {}
        self._pacers: dict[int, Pacer] = {}
        self._inflight = 0
        self._reconciled: date | None = None
        self._campaigns: dict[int, Campaign] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every `tick_s` until `stop` is set; then wait for live calls to end."""
        async with asyncio.TaskGroup() as tg:
            while not stop.is_set():
                try:
                    await self.tick(tg)
                except TagihError as exc:
                    log.error("scheduler tick failed: %s", exc)
                try:
                    async with asyncio.timeout(self.settings.tick_s):
                        await stop.wait()
                except TimeoutError:
                    pass

    async def tick(self, tg: asyncio.TaskGroup | None = None) -> TickReport:
        """One round. With `tg` the dials run on in it; without, tick waits for them to end."""
        if tg is None:
            async with asyncio.TaskGroup() as local:
                return await self._tick(local)
        return await self._tick(tg)

    async def _tick(self, tg: asyncio.TaskGroup) -> TickReport:
        report = TickReport()
        now = self.clock.now()
        self._campaigns = await self.queue.campaigns()
        if self._reconciled != now.date():
            await self.store.reconcile(now.date())
            self._reconciled, report.reconciled = now.date(), True
        report.planned = await self.plan(now)
        free = self.settings.concurrency - self._inflight
        claimed = await self.queue.claim(self.settings.worker, now,
                                         min(self.settings.claim_batch, free))
        report.claimed = len(claimed)
        for attempt in claimed:
            self._inflight += 1
            tg.create_task(self._attempt(attempt), name=f"attempt:{attempt.attempt_id}")
        return report

    def _campaign(self, campaign_id: int | None) -> Campaign:
        return self._campaigns.get(campaign_id or -1, DEFAULT_CAMPAIGN)

    # --- planning ------------------------------------------------------------------------------

    async def plan(self, now: datetime) -> int:
        """Plan one attempt for each due account (up to plan_batch); returns how many."""
        due = await self.queue.due_accounts(now, self.settings.plan_batch)
        if not due:
            return 0
        inputs = await self.queue.inputs(sorted({r["debtor_id"] for r in due}), now)
        segments = await self.queue.segment_stats()
        planned: list[PlannedAttempt] = []
        postponed: list[tuple[int, datetime | None, bool]] = []
        for row in due:
            camp = self._campaign(row["campaign_id"])
            inp = inputs.get(row["debtor_id"])
            if not camp.active:
                continue
            if inp is None or inp.phone_id is None or inp.rules.dnc:
                postponed.append((row["id"], None, True))  # no callable number left
                continue
            slot = self._choose_slot(now, row, inp, camp, segments.get(inp.segment, {}))
            if slot is None:
                postponed.append((row["id"], now + timedelta(days=1), False))
                continue
            planned.append(PlannedAttempt(row["id"], row["debtor_id"], row["campaign_id"],
                                          inp.phone_id, inp.rules.number, row["next_kind"], slot))
        return await self.queue.plan(planned, postponed)

    def _choose_slot(self, now: datetime, row: Any, inp: DebtorInputs, camp: Campaign,
                     segment: cadence.HourStats) -> datetime | None:
        tz = policy.zone(inp.tz)
        earliest = max(now, from_db(row["next_contact_at"]))
        kind = row["next_kind"]
        if kind == "regular":
            payday = cadence.payday_aligned(earliest.astimezone(tz).date(), row["payday"],
                                            self.settings.payday_lookahead_days)
            if payday is not None:
                earliest = max(earliest, cadence.local_day_start(payday, tz))
        first = policy.next_allowed(earliest, inp.rules, inp.history, camp.rules)
        if first is None or kind in ("retry", "callback"):
            return first
        consent = policy.consent_at(inp.rules, first)
        local_first = first.astimezone(tz)
        intervals = policy.allowed_intervals(camp.rules.profile, inp.tz, local_first.date(), 2,
                                             inp.rules, consent)
        clipped = [(max(s, local_first), e) for s, e in intervals if e > local_first]
        candidates = cadence.hour_candidates(clipped, timedelta(hours=self.settings.horizon_h))
        slot = cadence.best_slot(candidates, inp.stats, segment, self.rng, self.settings.epsilon)
        if slot is None:
            return first
        return policy.next_allowed(slot, inp.rules, inp.history, camp.rules)

    # --- dispatch ------------------------------------------------------------------------------

    def _limits(self, campaign_id: int | None) -> tuple[asyncio.Semaphore, Pacer]:
        camp = self._campaign(campaign_id)
        key = camp.id
        if key not in self._campaign_slots:
            self._campaign_slots[key] = asyncio.Semaphore(max(camp.concurrency, 1))
            self._pacers[key] = Pacer(self.clock, camp.pacing_cps)
        return self._campaign_slots[key], self._pacers[key]

    async def _attempt(self, attempt: ClaimedAttempt) -> None:
        try:
            sem, pacer = self._limits(attempt.campaign_id)
            async with self._slots, sem:
                await pacer.wait()
                await self._check_and_dial(attempt)
        except TagihError as exc:
            log.error("attempt %d failed: %s", attempt.attempt_id, exc)
        finally:
            self._inflight -= 1

    async def _check_and_dial(self, attempt: ClaimedAttempt) -> None:
        now = self.clock.now()
        camp = self._campaign(attempt.campaign_id)
        inp = (await self.queue.inputs([attempt.debtor_id], now))[attempt.debtor_id]
        rules = dataclasses.replace(inp.rules, number=attempt.number,
                                    dnc=await self.store.is_dnc(attempt.number))
        decision = policy.decide(now, rules, inp.history, camp.rules)
        if not decision.allowed:
            log.info("attempt %d not dialled: %s", attempt.attempt_id, decision.reason)
            # on DNC re-plan now: planning picks another number or closes the account
            nxt = decision.next_allowed or (now if rules.dnc else now + timedelta(days=1))
            await self.queue.mark_skipped(attempt, now, decision, nxt)
            return
        local = now.astimezone(policy.zone(inp.tz))
        await self.queue.mark_dialled(attempt, now, local.isoformat(), decision)
        try:
            result = await self.dialer.dial(attempt)
        except Exception:  # one failing call is recorded, never kills the scheduler
            log.exception("dial of attempt %d failed", attempt.attempt_id)
            result = DialResult(False, None, None, "FAILED")
        await self._finish(attempt, result, local.hour, camp)

    async def _finish(self, attempt: ClaimedAttempt, result: DialResult, hour: int,
                      camp: Campaign) -> None:
        row = await self.queue.ended(attempt.attempt_id)
        keep_call_outcome = result.answered and row is not None and row["disposition"]
        await self.store.record_attempt_result(
            attempt.attempt_id, amd=result.amd, hangup_cause=result.hangup_cause,
            disposition=None if keep_call_outcome else result.disposition,
            ended_at=self.clock.now())
        row = await self.queue.ended(attempt.attempt_id)
        disp = row["disposition"]
        consecutive = (await self.queue.consecutive(attempt.account_id, disp)
                       if disp in cadence.RETRYABLE else 0)
        promise = await self.queue.pending_promise(attempt.account_id)
        follow = cadence.follow_up(
            disp, kind=attempt.kind, consecutive=consecutive, now=self.clock.now(),
            tz=policy.zone(row["tz"]), rules=camp.retry,
            callback_at=from_db(row["callback_at"]) if row["callback_at"] else None,
            promise_date=date.fromisoformat(promise) if promise else None)
        log.debug("attempt %d %s -> %s", attempt.attempt_id, disp, follow.reason)
        await self.queue.follow(row, hour, result.answered, follow.at, follow.kind, follow.close)
