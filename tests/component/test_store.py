"""agent.store on real SQLite files: migrations, WAL, the call-path API, atomic claims."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import pytest
import pytest_asyncio

from agent.dialqueue import DialQueue
from agent.errors import StoreError
from agent.events import CallOutcome, Promise, Turn
from agent.store import Store, to_db


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday 10:00 WIB


async def seed(store: Store, n: int = 1, tz: str = "Asia/Jakarta") -> list[int]:
    """n debtors with one account, one phone and one open attempt each; attempt ids."""
    ids = []
    async with store.transaction() as db:
        for i in range(n):
            cur = await db.execute(
                "INSERT INTO debtors (external_id, name, tz, segment, updated_at)"
                " VALUES (?, ?, ?, 'gig', ?) RETURNING id", (f"D{i}", f"Name {i}", tz, to_db(NOW)))
            (debtor,) = await cur.fetchone()  # type: ignore[misc]
            cur = await db.execute(
                "INSERT INTO accounts (debtor_id, external_id, amount_due, due_date, payday,"
                " updated_at) VALUES (?, ?, 500000, '2026-11-30', 25, ?) RETURNING id",
                (debtor, f"A{i}", to_db(NOW)))
            (account,) = await cur.fetchone()  # type: ignore[misc]
            number = f"+628123456{i:04d}"
            cur = await db.execute(
                "INSERT INTO phones (debtor_id, e164) VALUES (?, ?) RETURNING id", (debtor, number))
            (phone,) = await cur.fetchone()  # type: ignore[misc]
            cur = await db.execute(
                "INSERT INTO attempts (debtor_id, account_id, phone_id, number, scheduled_for,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (debtor, account, phone, number, to_db(NOW - timedelta(minutes=1)), to_db(NOW)))
            ids.append((await cur.fetchone())[0])  # type: ignore[index]
    return ids


@pytest_asyncio.fixture(loop_scope="function")
async def store(tmp_path):  # type: ignore[no-untyped-def]
    s = await Store.open(tmp_path / "t.db", clock=FixedClock(NOW))
    yield s
    await s.close()


async def test_migrations_idempotent_and_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.db"
    async with asyncio.timeout(10):
        for _ in range(3):
            s = await Store.open(path)
            rows = await s.fetchall("SELECT version FROM schema_version")
            assert [r[0] for r in rows] == [1]
            assert await s.pragma("journal_mode") == "wal"
            assert await s.pragma("foreign_keys") == 1
            assert await s.pragma("busy_timeout") == 10000
            await s.close()
            await s.close()  # idempotent
    assert (tmp_path / "m.db-wal").exists() or (tmp_path / "m.db").stat().st_size > 0


async def test_turns_results_and_outcome(store: Store) -> None:
    async with asyncio.timeout(10):
        (attempt,) = await seed(store)
        assert await store.record_turn(attempt, Turn("bot", "Halo, dengan Budi?")) == 1
        assert await store.record_turn(attempt, Turn("debtor", "jangan telepon lagi",
                                                     "opt_out", 3.5)) == 2
        await store.record_attempt_result(attempt, amd="HUMAN", hangup_cause=16)
        await store.record_outcome(attempt, CallOutcome(
            "OPT_OUT", promises=(Promise(200000, "2026-12-10"),),
            callback_at="2026-12-08T19:00:00", flags=("rpc",)))
        row = await store.fetchone("SELECT * FROM attempts WHERE id = ?", (attempt,))
        assert row is not None
        assert (row["amd"], row["hangup_cause"], row["disposition"]) == ("HUMAN", 16, "OPT_OUT")
        assert row["callback_at"] == "2026-12-08T12:00:00Z"  # 19:00 WIB
        assert json.loads(row["flags"]) == ["rpc"]
        turns = await store.fetchall("SELECT seq, speaker, text, intent, at FROM turns")
        assert [tuple(t) for t in turns] == [(1, "bot", "Halo, dengan Budi?", "", 0.0),
                                             (2, "debtor", "jangan telepon lagi", "opt_out", 3.5)]
        assert await store.is_dnc("+6281234560000")
        dnc = await store.fetchone("SELECT reason, evidence FROM dnc")
        assert dnc is not None and dnc["evidence"] == "jangan telepon lagi"
        assert not await store.add_dnc("+6281234560000", "again")
        promise = await store.fetchone("SELECT amount, due_date, status FROM promises")
        assert promise is not None and tuple(promise) == (200000, "2026-12-10", "pending")
        with pytest.raises(StoreError, match="attempt 999 does not exist"):
            await store.record_attempt_result(999, disposition="BUSY")


async def test_debtor_context_and_lookup(store: Store) -> None:
    async with asyncio.timeout(10):
        await seed(store, 2)
        debtor = await store.find_debtor_by_phone("+6281234560001")
        assert debtor == 2
        assert await store.find_debtor_by_phone("+6281299999999") is None
        ctx = await store.debtor_context(2)
        assert (ctx["name"], ctx["amount_due"], ctx["due_date"], ctx["days_overdue"],
                ctx["payday"], ctx["phones"], ctx["last_promise"]) == (
            "Name 1", 500000, "2026-11-30", 7, 25, ["+6281234560001"], None)


async def test_reconcile_kept_and_broken(store: Store) -> None:
    async with asyncio.timeout(10):
        a1, a2 = await seed(store, 2)
        await store.record_outcome(a1, CallOutcome("PTP_FULL", (Promise(500000, "2026-12-09"),)))
        await store.record_outcome(a2, CallOutcome("PTP_PARTIAL", (Promise(100, "2026-12-08"),)))
        async with store.transaction() as db:
            await db.execute("INSERT INTO payments (account_id, external_id, amount, paid_at,"
                             " created_at) VALUES (1, 'P1', 500000, '2026-12-09T00:00:00Z', ?)",
                             (to_db(NOW),))
        kept, broken = await store.reconcile(date(2026, 12, 8))
        assert (kept, broken) == ([1], [])
        kept, broken = await store.reconcile(date(2026, 12, 9))
        assert (kept, broken) == ([], [2])
        accounts = await store.fetchall(
            "SELECT id, state, next_contact_at, next_kind FROM accounts")
        assert [tuple(a) for a in accounts] == [
            (1, "closed", None, "regular"),  # paid in full
            (2, "open", "2026-12-08T17:00:00Z", "recontact")]  # 2026-12-09 00:00 WIB


async def test_two_stores_never_claim_the_same_attempt(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.db"
    a = await Store.open(path, clock=FixedClock(NOW))
    b = await Store.open(path, clock=FixedClock(NOW))
    try:
        async with asyncio.timeout(30):
            ids = await seed(a, 200)
            qa, qb = DialQueue(a), DialQueue(b)
            got: dict[str, list[int]] = {"a": [], "b": []}

            async def worker(name: str, q: DialQueue) -> None:
                while batch := await q.claim(name, NOW, 7):
                    got[name] += [c.attempt_id for c in batch]
                    await asyncio.sleep(0)

            await asyncio.gather(worker("a", qa), worker("b", qb))
        assert not set(got["a"]) & set(got["b"])
        assert sorted(got["a"] + got["b"]) == ids
        assert got["a"] and got["b"]
        owners = await a.fetchall("SELECT claimed_by, COUNT(*) FROM attempts GROUP BY 1")
        assert {r[0]: r[1] for r in owners} == {"a": len(got["a"]), "b": len(got["b"])}
    finally:
        await a.close()
        await b.close()


async def test_one_open_attempt_per_debtor(store: Store) -> None:
    async with asyncio.timeout(10):
        await seed(store, 1)
        q = DialQueue(store)
        from agent.dialqueue import PlannedAttempt
        n = await q.plan([PlannedAttempt(1, 1, None, 1, "+6281234560000", "regular", NOW)], [])
        assert n == 0  # the seeded attempt is still open
