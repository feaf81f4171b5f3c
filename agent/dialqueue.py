"""The scheduler's side of the store: due accounts, planned attempts, atomic claims, results.

Every method is one query or one transaction on the shared Store; the choices are made by the
pure modules (agent.policy, agent.cadence) in agent.scheduler.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from agent.cadence import CONVERSATION, RETRYABLE, HourStats, RetryRules
from agent.policy import CampaignRules, Consent, DebtorRules, Decision, History
from agent.store import Store, from_db, to_db

HISTORY_DAYS = 8


@dataclass(frozen=True, slots=True)
class ClaimedAttempt:
    """An attempt this scheduler claimed and is about to dial."""

    attempt_id: int
    debtor_id: int
    account_id: int
    campaign_id: int | None
    phone_id: int | None
    number: str
    kind: str
    scheduled_for: datetime


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    rules: CampaignRules
    retry: RetryRules
    concurrency: int
    pacing_cps: float
    active: bool


DEFAULT_CAMPAIGN = Campaign(0, "", CampaignRules(), RetryRules(), 4, 1.0, True)


@dataclass(slots=True)
class DebtorInputs:
    """What planning and the claim-time check need about one debtor."""

    debtor_id: int
    tz: str
    segment: str
    rules: DebtorRules
    phone_id: int | None
    history: History
    stats: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlannedAttempt:
    account_id: int
    debtor_id: int
    campaign_id: int | None
    phone_id: int
    number: str
    kind: str
    scheduled_for: datetime


def _hm(text: str | None) -> time | None:
    return time.fromisoformat(text) if text else None


def _marks(n: int) -> str:
    return ",".join("?" * n)


class DialQueue:
    """Queries and transactions the scheduler runs against the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def campaigns(self) -> dict[int, Campaign]:
        rows = await self.store.fetchall("SELECT * FROM campaigns")
        return {r["id"]: Campaign(
            r["id"], r["name"],
            CampaignRules(r["window_profile"], r["max_per_day"], r["max_per_week"]),
            RetryRules.from_json(json.loads(r["retry"] or "{}")), r["concurrency"],
            r["pacing_cps"], bool(r["active"])) for r in rows}

    async def due_accounts(self, now: datetime, limit: int) -> list[Any]:
        """Open accounts whose next contact is due (the partial index accounts_due)."""
        return await self.store.fetchall(
            "SELECT id, debtor_id, campaign_id, next_kind, payday, next_contact_at"
            " FROM accounts WHERE next_contact_at <= ? AND state = 'open'"
            " ORDER BY next_contact_at LIMIT ?", (to_db(now), limit))

    async def inputs(self, debtor_ids: Sequence[int], now: datetime,
                     exclude_attempt: int = 0) -> dict[int, DebtorInputs]:
        """Policy inputs for the debtors: best callable phone, history, consents, answer stats.

        `exclude_attempt` leaves that attempt out of the history (re-checking a dial itself).
        """
        if not debtor_ids:
            return {}
        ids, marks = list(debtor_ids), _marks(len(debtor_ids))
        debtors = await self.store.fetchall(
            f"SELECT id, tz, segment, pref_start, pref_end FROM debtors WHERE id IN ({marks})", ids)
        phones = await self.store.fetchall(
            "SELECT p.debtor_id, p.id, p.e164, EXISTS (SELECT 1 FROM dnc WHERE number = p.e164)"
            f" FROM phones p WHERE p.debtor_id IN ({marks}) AND p.status = 'active'"
            " ORDER BY p.debtor_id, p.priority, p.id", ids)
        best: dict[int, tuple[int, str, bool]] = {}
        for debtor_id, phone_id, e164, dnc in phones:
            if debtor_id not in best or (best[debtor_id][2] and not dnc):
                best[debtor_id] = (phone_id, e164, bool(dnc))
        since = to_db(now - timedelta(days=HISTORY_DAYS))
        attempts: dict[int, list[datetime]] = defaultdict(list)
        talks: dict[int, list[datetime]] = defaultdict(list)
        for debtor_id, dialled, disp in await self.store.fetchall(
                "SELECT debtor_id, dialled_at, disposition FROM attempts"
                f" WHERE debtor_id IN ({marks}) AND dialled_at >= ? AND id != ?",
                [*ids, since, exclude_attempt]):
            attempts[debtor_id].append(from_db(dialled))
            if disp in CONVERSATION:
                talks[debtor_id].append(from_db(dialled))
        consents: dict[int, list[Consent]] = defaultdict(list)
        for debtor_id, kind, vf, vt in await self.store.fetchall(
                "SELECT debtor_id, kind, valid_from, valid_to FROM consents"
                f" WHERE debtor_id IN ({marks})", ids):
            consents[debtor_id].append(Consent(kind, from_db(vf) if vf else None,
                                               from_db(vt) if vt else None))
        stats: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
        for key, hour, tries, answers in await self.store.fetchall(
                "SELECT key, hour, tries, answers FROM answer_stats WHERE scope = 'debtor'"
                f" AND key IN ({marks})", [str(i) for i in ids]):
            stats[int(key)][hour] = (tries, answers)
        out: dict[int, DebtorInputs] = {}
        for d in debtors:
            phone_id, number, dnc = best.get(d["id"], (None, "", True))
            rules = DebtorRules(d["tz"], number, _hm(d["pref_start"]), _hm(d["pref_end"]),
                                tuple(consents[d["id"]]), dnc)
            out[d["id"]] = DebtorInputs(
                d["id"], d["tz"], d["segment"], rules, phone_id,
                History(tuple(sorted(attempts[d["id"]])), tuple(sorted(talks[d["id"]]))),
                stats[d["id"]])
        return out

    async def segment_stats(self) -> dict[str, dict[int, tuple[int, int]]]:
        out: dict[str, dict[int, tuple[int, int]]] = defaultdict(dict)
        for key, hour, tries, answers in await self.store.fetchall(
                "SELECT key, hour, tries, answers FROM answer_stats WHERE scope = 'segment'"):
            out[key][hour] = (tries, answers)
        return out

    async def plan(self, planned: Iterable[PlannedAttempt],
                   postponed: Iterable[tuple[int, datetime | None, bool]]) -> int:
        """Insert planned attempts (one open attempt per debtor) and move postponed accounts.

        `postponed` holds (account_id, next contact or None, close account). Returns how many
        attempts were inserted.
        """
        now = self.store.now_text()
        planned = list(planned)
        async with self.store.transaction() as db:
            before = db.total_changes
            await db.executemany(
                "INSERT OR IGNORE INTO attempts (campaign_id, debtor_id, account_id, phone_id,"
                " number, kind, scheduled_for, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(p.campaign_id, p.debtor_id, p.account_id, p.phone_id, p.number, p.kind,
                  to_db(p.scheduled_for), now) for p in planned])
            inserted = db.total_changes - before
            await db.executemany(
                "UPDATE accounts SET next_contact_at = NULL WHERE id = ?",
                [(p.account_id,) for p in planned])
            await db.executemany(
                "UPDATE accounts SET next_contact_at = ?,"
                " state = CASE WHEN ? THEN 'closed' ELSE state END WHERE id = ?",
                [(to_db(at) if at else None, int(close), acc) for acc, at, close in postponed])
        return inserted

    async def claim(self, worker: str, now: datetime, limit: int) -> list[ClaimedAttempt]:
        """Atomically claim up to `limit` due, unclaimed attempts of active campaigns."""
        if limit <= 0:
            return []
        async with self.store.transaction() as db:
            cur = await db.execute(
                "UPDATE attempts SET claimed_by = ?, claimed_at = ? WHERE id IN ("
                " SELECT id FROM attempts WHERE claimed_by IS NULL AND ended_at IS NULL"
                " AND scheduled_for <= ? AND (campaign_id IS NULL OR campaign_id IN"
                " (SELECT id FROM campaigns WHERE active = 1))"
                " ORDER BY scheduled_for LIMIT ?) AND claimed_by IS NULL"
                " RETURNING id, debtor_id, account_id, campaign_id, phone_id, number, kind,"
                " scheduled_for", (worker, to_db(now), to_db(now), limit))
            rows = await cur.fetchall()
        return sorted((ClaimedAttempt(r[0], r[1], r[2], r[3], r[4], r[5], r[6], from_db(r[7]))
                       for r in rows), key=lambda c: (c.scheduled_for, c.attempt_id))

    async def record_decision(self, db: Any, attempt_id: int | None, debtor_id: int,
                              at: datetime, decision: Decision) -> None:
        await db.execute(
            "INSERT INTO decisions (attempt_id, debtor_id, at, allowed, reason, checks)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (attempt_id, debtor_id, to_db(at), int(decision.allowed), decision.reason,
             json.dumps(decision.checks, sort_keys=True)))

    async def mark_dialled(self, attempt: ClaimedAttempt, at: datetime, local_time: str,
                           decision: Decision) -> None:
        """Record the allowed decision and the dial time (UTC and debtor local)."""
        async with self.store.transaction() as db:
            await self.record_decision(db, attempt.attempt_id, attempt.debtor_id, at, decision)
            await db.execute(
                "UPDATE attempts SET dialled_at = ?, local_time = ?, checks = ? WHERE id = ?",
                (to_db(at), local_time, _checks_json(decision), attempt.attempt_id))

    async def mark_skipped(self, attempt: ClaimedAttempt, at: datetime, decision: Decision,
                           next_at: datetime | None) -> None:
        """End a claimed attempt the policy refused; move the account's next contact to next_at."""
        async with self.store.transaction() as db:
            await self.record_decision(db, attempt.attempt_id, attempt.debtor_id, at, decision)
            await db.execute(
                "UPDATE attempts SET checks = ?, disposition = 'SKIPPED', ended_at = ?"
                " WHERE id = ?", (_checks_json(decision), to_db(at), attempt.attempt_id))
            await db.execute(
                "UPDATE accounts SET next_contact_at = ?, next_kind = ? WHERE id = ?",
                (to_db(next_at) if next_at else None, attempt.kind, attempt.account_id))

    async def ended(self, attempt_id: int) -> Any:
        """The attempt row joined with its debtor's tz and segment."""
        return await self.store.fetchone(
            "SELECT a.*, d.tz, d.segment FROM attempts a JOIN debtors d ON d.id = a.debtor_id"
            " WHERE a.id = ?", (attempt_id,))

    async def consecutive(self, account_id: int, disposition: str) -> int:
        """How many latest attempts of the current cycle ended with `disposition` in a row.

        A cycle starts with an attempt that is not a retry; retries continue it.
        """
        rows = await self.store.fetchall(
            "SELECT disposition, kind FROM attempts WHERE account_id = ?"
            " AND ended_at IS NOT NULL AND disposition != 'SKIPPED' ORDER BY id DESC LIMIT 20",
            (account_id,))
        n = 0
        for disp, kind in rows:
            if disp != disposition:
                break
            n += 1
            if kind != "retry":
                break
        return n

    async def pending_promise(self, account_id: int) -> str | None:
        row = await self.store.fetchone(
            "SELECT due_date FROM promises WHERE account_id = ? AND status = 'pending'"
            " ORDER BY due_date LIMIT 1", (account_id,))
        return row[0] if row else None

    async def follow(self, row: Any, hour: int, answered: bool, next_at: datetime | None,
                     kind: str, close: bool) -> None:
        """Learn from the answer, mark a wrong number, and set the account's next contact."""
        async with self.store.transaction() as db:
            for scope, key in (("debtor", str(row["debtor_id"])), ("segment", row["segment"])):
                await db.execute(
                    "INSERT INTO answer_stats (scope, key, hour, tries, answers)"
                    " VALUES (?, ?, ?, 1, ?) ON CONFLICT(scope, key, hour) DO UPDATE SET"
                    " tries = tries + 1, answers = answers + excluded.answers",
                    (scope, key, hour, int(answered)))
            if row["disposition"] == "WRONG_PARTY" and row["phone_id"] is not None:
                await db.execute("UPDATE phones SET status = 'wrong' WHERE id = ?",
                                 (row["phone_id"],))
            await db.execute(
                "UPDATE accounts SET next_contact_at = ?, next_kind = ?,"
                " state = CASE WHEN ? THEN 'closed' ELSE state END WHERE id = ?",
                (to_db(next_at) if next_at else None, kind, int(close), row["account_id"]))


def _checks_json(decision: Decision) -> str:
    return json.dumps({"allowed": decision.allowed, "reason": decision.reason,
                       "checks": decision.checks}, sort_keys=True)


__all__ = ["RETRYABLE", "ClaimedAttempt", "DialQueue", "HourStats", "PlannedAttempt"]
