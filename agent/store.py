"""The SQLite store: one owned aiosqlite connection, WAL, numbered migrations, one transaction each.

The daemon and the CLI open the same file with their own Store; WAL plus busy_timeout and
`BEGIN IMMEDIATE` write transactions make that safe. Every write method is one transaction.
Times are UTC text `YYYY-MM-DDTHH:MM:SSZ` (see agent.schema).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from agent.clock import Clock, SystemClock
from agent.errors import StoreError
from agent.events import CallOutcome, Turn
from agent.policy import zone
from agent.schema import MIGRATIONS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
OPT_OUT = "OPT_OUT"


def to_db(at: datetime) -> str:
    """An aware datetime as store text (UTC, second precision)."""
    if at.tzinfo is None:
        raise StoreError("naive datetime given to the store")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db(text: str) -> datetime:
    """Store text back to an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class Store:
    """The tagih database. Create with `await Store.open(path)`; `await close()` when done."""

    def __init__(self, db: aiosqlite.Connection, path: Path, clock: Clock) -> None:
        self._db = db
        self.path = path
        self.clock = clock
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, *, clock: Clock | None = None) -> Store:
        """Open (creating if needed) the database at `path` and apply pending migrations."""
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(p, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store {p}: {exc}") from None
        store = cls(db, p, clock or SystemClock())
        try:
            await store._configure()
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def _configure(self) -> None:
        try:
            await self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await self._db.execute("PRAGMA journal_mode = WAL")
            await self._db.execute("PRAGMA synchronous = NORMAL")
            await self._db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot configure store {self.path}: {exc}") from None

    async def _migrate(self) -> None:
        async with self.transaction() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                             "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            row = await (await db.execute("SELECT MAX(version) FROM schema_version")).fetchone()
            current = row[0] if row and row[0] is not None else 0
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for sql in statements:
                    await db.execute(sql)
                await db.execute("INSERT INTO schema_version VALUES (?, ?)",
                                 (version, self.now_text()))
                log.info("store %s migrated to version %d", self.path, version)

    async def close(self) -> None:
        """Close the connection. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._db.close()

    def now_text(self) -> str:
        return to_db(self.clock.now())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One `BEGIN IMMEDIATE` write transaction; commits on success, rolls back on error."""
        async with self._lock, self._begin() as db:
            yield db

    @asynccontextmanager
    async def bulk_transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A transaction for bulk imports: foreign-key enforcement off, a large page cache.

        Only for statements that resolve their keys themselves (the importer's upserts take
        the debtor id from a subselect on its unique external id; NOT NULL still holds).
        """
        async with self._lock:
            await self._db.execute("PRAGMA foreign_keys = OFF")
            await self._db.execute("PRAGMA cache_size = -262144")
            try:
                async with self._begin() as db:
                    yield db
            finally:
                await self._db.execute("PRAGMA foreign_keys = ON")
                await self._db.execute("PRAGMA cache_size = -2000")

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[aiosqlite.Connection]:
        try:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "within a transaction" not in str(exc):
                    raise
                # a transaction whose task was cancelled mid-statement was left open; we hold
                # the lock, so it is nobody's: undo it and start ours
                log.warning("store: rolled back a transaction abandoned by a cancelled task")
                await self._db.execute("ROLLBACK")
                await self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path} is busy or broken: {exc}") from None
        try:
            yield self._db
        except BaseException:
            await asyncio.shield(self._db.execute("ROLLBACK"))
            raise
        try:
            await self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"commit failed on {self.path}: {exc}") from None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query outside any write transaction."""
        async with self._lock:
            cur = await self._db.execute(sql, tuple(params))
            cur.row_factory = sqlite3.Row
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def pragma(self, name: str) -> Any:
        row = await self.fetchone(f"PRAGMA {name}")
        return row[0] if row else None

    # --- the call path ------------------------------------------------------------------------

    async def record_turn(self, attempt_id: int, turn: Turn) -> int:
        """Append one transcript line to the attempt, as it happens; returns its sequence number."""
        async with self.transaction() as db:
            row = await (await db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE attempt_id = ?",
                (attempt_id,))).fetchone()
            seq = int(row[0]) if row else 1
            await db.execute(
                "INSERT INTO turns (attempt_id, seq, speaker, text, intent, at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (attempt_id, seq, turn.speaker, turn.text, turn.intent, turn.at, self.now_text()))
        return seq

    async def record_attempt_result(self, attempt_id: int, *, amd: str | None = None,
                                    hangup_cause: int | None = None,
                                    disposition: str | None = None,
                                    ended_at: datetime | None = None) -> None:
        """Write what the PBX reported; None leaves a field as it is. `ended_at` closes it."""
        async with self.transaction() as db:
            cur = await db.execute(
                "UPDATE attempts SET amd = COALESCE(?, amd),"
                " hangup_cause = COALESCE(?, hangup_cause),"
                " disposition = COALESCE(?, disposition), ended_at = COALESCE(?, ended_at)"
                " WHERE id = ?",
                (amd, hangup_cause, disposition, to_db(ended_at) if ended_at else None,
                 attempt_id))
            if cur.rowcount != 1:
                raise StoreError(f"attempt {attempt_id} does not exist")

    async def record_outcome(self, attempt_id: int, outcome: CallOutcome) -> None:
        """Write a call's outcome: disposition, flags, callback time, promises, and DNC on opt-out.

        A naive `callback_at` is the debtor's local time. On OPT_OUT the dialled number goes on
        the DNC list with the debtor's opt-out line of the transcript as evidence.
        """
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT a.account_id, a.number, d.tz FROM attempts a"
                " JOIN debtors d ON d.id = a.debtor_id WHERE a.id = ?", (attempt_id,))
            row = await cur.fetchone()
            if row is None:
                raise StoreError(f"attempt {attempt_id} does not exist")
            account_id, number, tz = row
            callback = _callback_text(outcome.callback_at, tz)
            await db.execute(
                "UPDATE attempts SET disposition = ?, callback_at = ?, flags = ? WHERE id = ?",
                (outcome.disposition, callback, json.dumps(list(outcome.flags)), attempt_id))
            now = self.now_text()
            for p in outcome.promises:
                await db.execute(
                    "INSERT INTO promises (account_id, attempt_id, amount, due_date, instalment,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (account_id, attempt_id, p.amount, date.fromisoformat(p.date).isoformat(),
                     p.instalment, now))
            if outcome.disposition == OPT_OUT:
                evidence = await _opt_out_evidence(db, attempt_id, outcome)
                await db.execute(
                    "INSERT OR IGNORE INTO dnc (number, reason, evidence, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (number, f"opt-out on attempt {attempt_id}", evidence, now))

    async def add_dnc(self, number: str, reason: str, evidence: str = "") -> bool:
        """Put `number` (E.164) on the do-not-call list; False when it already was."""
        async with self.transaction() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO dnc (number, reason, evidence, created_at)"
                " VALUES (?, ?, ?, ?)", (number, reason, evidence, self.now_text()))
            return cur.rowcount == 1

    async def is_dnc(self, number: str) -> bool:
        """True when `number` (E.164) is on the do-not-call list."""
        return await self.fetchone("SELECT 1 FROM dnc WHERE number = ?", (number,)) is not None

    async def find_debtor_by_phone(self, e164: str) -> int | None:
        """The id of the debtor owning `e164` (highest priority match), or None."""
        row = await self.fetchone(
            "SELECT debtor_id FROM phones WHERE e164 = ? ORDER BY priority, id LIMIT 1", (e164,))
        return int(row[0]) if row else None

    async def debtor_context(self, debtor_id: int) -> dict[str, Any]:
        """What a call needs to be personal, for the debtor's main open account.

        Keys: debtor_id, external_id, name, locale, tz, segment, account_id, account_external_id,
        amount_due, currency, due_date, days_overdue (debtor local today), payday, time_barred,
        paid_total, last_promise ({amount, due_date, status} or None), phones (E.164, by priority).
        """
        d = await self.fetchone("SELECT * FROM debtors WHERE id = ?", (debtor_id,))
        if d is None:
            raise StoreError(f"debtor {debtor_id} does not exist")
        a = await self.fetchone(
            "SELECT * FROM accounts WHERE debtor_id = ? ORDER BY state = 'open' DESC, due_date,"
            " id LIMIT 1", (debtor_id,))
        phones = await self.fetchall(
            "SELECT e164 FROM phones WHERE debtor_id = ? AND status = 'active'"
            " ORDER BY priority, id", (debtor_id,))
        ctx: dict[str, Any] = {
            "debtor_id": debtor_id, "external_id": d["external_id"], "name": d["name"],
            "locale": d["locale"], "tz": d["tz"], "segment": d["segment"],
            "phones": [r[0] for r in phones], "account_id": None, "last_promise": None}
        if a is None:
            return ctx
        today = self.clock.now().astimezone(zone(d["tz"])).date()
        due = date.fromisoformat(a["due_date"])
        paid = await self.fetchone(
            "SELECT COALESCE(SUM(amount), 0) FROM payments WHERE account_id = ?", (a["id"],))
        promise = await self.fetchone(
            "SELECT amount, due_date, status FROM promises WHERE account_id = ?"
            " ORDER BY id DESC LIMIT 1", (a["id"],))
        ctx.update(
            account_id=a["id"], account_external_id=a["external_id"],
            amount_due=a["amount_due"], currency=a["currency"], due_date=a["due_date"],
            days_overdue=max((today - due).days, 0), payday=a["payday"],
            time_barred=bool(a["time_barred"]), paid_total=int(paid[0]) if paid else 0,
            last_promise=dict(promise) if promise else None)
        return ctx

    # --- campaigns and consents --------------------------------------------------------------

    async def upsert_campaign(self, name: str, *, policy: dict[str, Any] | None = None,
                              window_profile: str = "id-ojk", max_per_day: int = 3,
                              max_per_week: int = 10, concurrency: int = 4,
                              pacing_cps: float = 1.0, retry: dict[str, Any] | None = None,
                              active: bool = True) -> int:
        """Create or update the campaign `name`; returns its id. `policy` is stored opaque."""
        async with self.transaction() as db:
            cur = await db.execute(
                "INSERT INTO campaigns (name, policy, window_profile, max_per_day, max_per_week,"
                " concurrency, pacing_cps, retry, active, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                " policy = excluded.policy, window_profile = excluded.window_profile,"
                " max_per_day = excluded.max_per_day, max_per_week = excluded.max_per_week,"
                " concurrency = excluded.concurrency, pacing_cps = excluded.pacing_cps,"
                " retry = excluded.retry, active = excluded.active RETURNING id",
                (name, json.dumps(policy or {}), window_profile, max_per_day, max_per_week,
                 concurrency, pacing_cps, json.dumps(retry or {}), int(active),
                 self.now_text()))
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def campaign_id(self, name: str, *, create: bool = True) -> int:
        """The id of campaign `name`, creating it with defaults when `create`."""
        row = await self.fetchone("SELECT id FROM campaigns WHERE name = ?", (name,))
        if row is not None:
            return int(row[0])
        if not create:
            raise StoreError(f"campaign {name!r} does not exist")
        return await self.upsert_campaign(name)

    async def add_consent(self, debtor_id: int, kind: str, details: str = "",
                          valid_from: datetime | None = None,
                          valid_to: datetime | None = None) -> int:
        """Record a consent (e.g. kind `outside_hours`); returns its id."""
        async with self.transaction() as db:
            cur = await db.execute(
                "INSERT INTO consents (debtor_id, kind, details, valid_from, valid_to,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (debtor_id, kind, details, to_db(valid_from) if valid_from else None,
                 to_db(valid_to) if valid_to else None, self.now_text()))
            return int(cur.lastrowid or 0)

    # --- promises ------------------------------------------------------------------------------

    async def reconcile(self, today: date) -> tuple[list[int], list[int]]:
        """Settle pending promises against payments: (kept promise ids, broken promise ids).

        Kept: payments on the account made from the promise's creation day up to its date sum
        to at least the promised amount. Any account whose payments cover `amount_due` closes.
        Broken: its date is before `today` and it is not kept; the account's next contact is
        set to the start of the day after the promise date (debtor local), kind `recontact`.
        """
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT p.id, p.amount, p.due_date, p.account_id, d.tz,"
                " (SELECT COALESCE(SUM(amount), 0) FROM payments y"
                " WHERE y.account_id = p.account_id"
                " AND substr(y.paid_at, 1, 10) >= substr(p.created_at, 1, 10)"
                " AND substr(y.paid_at, 1, 10) <= p.due_date),"
                " (SELECT COALESCE(SUM(amount), 0) FROM payments y"
                " WHERE y.account_id = p.account_id) >= a.amount_due"
                " FROM promises p JOIN accounts a ON a.id = p.account_id"
                " JOIN debtors d ON d.id = a.debtor_id WHERE p.status = 'pending'")
            kept: list[int] = []
            broken: list[int] = []
            moves: list[tuple[str | None, str, str, int]] = []
            now = self.now_text()
            for pid, amount, due, account, tz, paid, settled in await cur.fetchall():
                if paid >= amount:
                    kept.append(pid)
                    moves.append((None, "regular", "closed", account) if settled else (
                        to_db(self.clock.now() + timedelta(days=1)), "regular", "open", account))
                elif due < today.isoformat():
                    broken.append(pid)
                    day_after = date.fromisoformat(due) + timedelta(days=1)
                    at = datetime.combine(day_after, time(0), zone(tz))
                    moves.append((to_db(at), "recontact", "open", account))
            await db.executemany(
                "UPDATE promises SET status = ?, resolved_at = ? WHERE id = ?",
                [("kept", now, i) for i in kept] + [("broken", now, i) for i in broken])
            await db.executemany(
                "UPDATE accounts SET next_contact_at = ?, next_kind = ?, state = ? WHERE id = ?",
                moves)
            await db.execute(
                "UPDATE accounts SET state = 'closed', next_contact_at = NULL"
                " WHERE state = 'open' AND id IN (SELECT account_id FROM payments)"
                " AND (SELECT SUM(amount) FROM payments y WHERE y.account_id = accounts.id)"
                " >= amount_due")
        return kept, broken


def _callback_text(value: str | None, tz: str) -> str | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise StoreError(f"callback time {value!r} is not ISO 8601") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone(tz))
    return to_db(at)


async def _opt_out_evidence(db: aiosqlite.Connection, attempt_id: int,
                            outcome: CallOutcome) -> str:
    debtor_turns = [t for t in outcome.turns if t.speaker == "debtor"]
    if not debtor_turns:
        cur = await db.execute(
            "SELECT speaker, text, intent FROM turns WHERE attempt_id = ? ORDER BY seq",
            (attempt_id,))
        debtor_turns = [Turn(r[0], r[1], r[2]) for r in await cur.fetchall() if r[0] == "debtor"]
    marked = [t for t in debtor_turns if "opt" in t.intent.lower() or "stop" in t.intent.lower()]
    chosen = (marked or debtor_turns)[-1:] if debtor_turns else []
    return chosen[0].text if chosen else ""
