"""`tagih import debtors|payments FILE.csv`: validate rows, upsert the good ones in ONE transaction.

The file is read in chunks; each chunk is validated (agent.rows) while the previous one is
written. Large files are validated in one worker process (phone validation is CPU-bound and
threads would fight the writer over the GIL); small ones in a thread. Each bad row is reported
with its line number; with `strict` nothing is written when any row is bad. Re-importing a file
is idempotent (upsert by external id). Payments are followed by `Store.reconcile(today)`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from agent.errors import ImportFileError
from agent.rows import (
    DEBTOR_OPTIONAL,
    DEBTOR_REQUIRED,
    PAYMENT_REQUIRED,
    PaymentRow,
    RowError,
    debtor_row,
    payment_row,
)
from agent.store import Store

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)
CHUNK_ROWS = 20_000
PROCESS_MIN_BYTES = 4_000_000  # below this, validate in a thread (no process start-up)
RawRows = list[tuple[int, list[str]]]  # (line number, fields)
Bad = list[tuple[int, str]]

_UPSERT_DEBTOR = (
    "INSERT INTO debtors (external_id, name, locale, tz, province, pref_start, pref_end, segment,"
    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(external_id) DO UPDATE SET"
    " name = excluded.name, locale = excluded.locale, tz = excluded.tz,"
    " province = excluded.province, pref_start = excluded.pref_start,"
    " pref_end = excluded.pref_end, segment = excluded.segment, updated_at = excluded.updated_at")
_UPSERT_ACCOUNT = (
    "INSERT INTO accounts (debtor_id, campaign_id, external_id, amount_due, currency, due_date,"
    " payday, time_barred, next_contact_at, updated_at)"
    " VALUES ((SELECT id FROM debtors WHERE external_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(external_id) DO UPDATE SET debtor_id = excluded.debtor_id,"
    " campaign_id = excluded.campaign_id, amount_due = excluded.amount_due,"
    " currency = excluded.currency, due_date = excluded.due_date, payday = excluded.payday,"
    " time_barred = excluded.time_barred, updated_at = excluded.updated_at")
_UPSERT_PHONE = (
    "INSERT INTO phones (debtor_id, e164, priority)"
    " VALUES ((SELECT id FROM debtors WHERE external_id = ?), ?, ?)"
    " ON CONFLICT(debtor_id, e164) DO UPDATE SET priority = excluded.priority")
_UPSERT_PAYMENT = (
    "INSERT INTO payments (account_id, external_id, amount, paid_at, created_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(external_id) DO UPDATE SET"
    " account_id = excluded.account_id, amount = excluded.amount, paid_at = excluded.paid_at")


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    """What an import did. `imported` is 0 when a strict import was rolled back."""

    kind: str
    rows: int = 0
    imported: int = 0
    bad: list[BadRow] = field(default_factory=list)
    rolled_back: bool = False
    seconds: float = 0.0
    kept: int = 0
    broken: int = 0

    def summary(self) -> str:
        text = (f"{self.kind}: {self.rows} rows, {self.imported} imported, {len(self.bad)} bad"
                f" in {self.seconds:.2f} s")
        if self.rolled_back:
            text += " (strict: nothing imported)"
        if self.kind == "payments":
            text += f"; promises kept {self.kept}, broken {self.broken}"
        return text


class _StrictAbort(Exception):
    """Raised inside the transaction to roll a strict import back."""


# --- validation: module-level and picklable, so it can run in a worker process ---------------

def validate_debtors(header: list[str], rows: RawRows, opts: dict[str, Any]
                     ) -> tuple[tuple[list[Any], list[Any], list[Any]], Bad]:
    """Rows -> (debtor, account, phone) statement parameters, and (line, reason) of bad rows."""
    debtors: list[Any] = []
    accounts: list[Any] = []
    phones: list[Any] = []
    bad: Bad = []
    region, now, campaign = opts["region"], opts["now"], opts["campaign_id"]
    for line, fields in rows:
        if len(fields) != len(header):
            bad.append((line, f"{len(fields)} fields, expected {len(header)}"))
            continue
        try:
            r = debtor_row(dict(zip(header, fields, strict=True)), region)
        except RowError as exc:
            bad.append((line, str(exc)))
            continue
        debtors.append((r.external_id, r.name, r.locale, r.tz, r.province, r.pref_start,
                        r.pref_end, r.segment, now))
        accounts.append((r.external_id, campaign, r.account_id, r.amount_due, r.currency,
                         r.due_date, r.payday, int(r.time_barred), now, now))
        phones.extend((r.external_id, number, i + 1) for i, number in enumerate(r.phones))
    return (debtors, accounts, phones), bad


def validate_payments(header: list[str], rows: RawRows, opts: dict[str, Any]
                      ) -> tuple[list[tuple[int, PaymentRow]], Bad]:
    good: list[tuple[int, PaymentRow]] = []
    bad: Bad = []
    for line, fields in rows:
        if len(fields) != len(header):
            bad.append((line, f"{len(fields)} fields, expected {len(header)}"))
            continue
        try:
            good.append((line, payment_row(dict(zip(header, fields, strict=True)))))
        except RowError as exc:
            bad.append((line, str(exc)))
    return good, bad


# --- reading -------------------------------------------------------------------------------------

class _Source:
    """A CSV file read in chunks of raw rows, counting characters for the progress bar."""

    def __init__(self, path: Path, required: Sequence[str], allowed: Sequence[str]) -> None:
        try:
            self.total = path.stat().st_size
            self._file = path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
        self.done = 0
        self.path = path
        self.reader = csv.reader(self._counted(self._file))
        try:
            header = [h.strip().lower() for h in next(self.reader)]
        except (StopIteration, UnicodeDecodeError, csv.Error) as exc:
            self._file.close()
            raise ImportFileError(f"{path}: no readable CSV header ({exc})") from None
        missing = [c for c in required if c not in header]
        unknown = [c for c in header if c not in allowed]
        if missing or unknown:
            self._file.close()
            problem = (f"missing column {missing[0]!r}" if missing
                       else f"unknown column {unknown[0]!r}")
            raise ImportFileError(f"{path}: {problem} (see docs: CSV columns)")
        self.header = header

    def _counted(self, f: io.TextIOBase) -> Iterator[str]:
        for line in f:
            self.done += len(line)
            yield line

    def read(self, n: int) -> RawRows:
        """Up to n non-empty rows with their line numbers (runs in a worker thread)."""
        out: RawRows = []
        reader = self.reader
        try:
            for row in reader:
                if row and (len(row) > 1 or row[0].strip()):
                    out.append((reader.line_num, row))
                    if len(out) >= n:
                        break
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportFileError(f"{self.path}: line {reader.line_num}: {exc}") from None
        return out

    def close(self) -> None:
        self._file.close()


# --- the pipeline --------------------------------------------------------------------------------

Validate = Callable[[list[str], RawRows, dict[str, Any]], tuple[Any, Bad]]
Write = Callable[[Any, Any], Any]


async def _next(source: _Source, validate: Validate, opts: dict[str, Any],
                executor: Executor | None) -> tuple[int, Any, Bad]:
    rows = await asyncio.to_thread(source.read, CHUNK_ROWS)
    if not rows:
        return 0, None, []
    loop = asyncio.get_running_loop()
    good, bad = await loop.run_in_executor(executor, validate, source.header, rows, opts)
    return len(rows), good, bad


async def _pipeline(db: Any, source: _Source, validate: Validate, opts: dict[str, Any],
                    write: Write, report: ImportReport, progress: ProgressFn | None,
                    executor: Executor | None) -> None:
    """Read and validate chunk n+1 while chunk n is written."""
    try:
        async with asyncio.TaskGroup() as tg:
            writing: asyncio.Task[Any] | None = None
            while True:
                count, good, bad = await _next(source, validate, opts, executor)
                report.rows += count
                report.bad.extend(BadRow(line, reason) for line, reason in bad)
                if writing is not None:
                    await writing
                if progress is not None:
                    progress(source.done, source.total)
                if count == 0:
                    return
                report.imported += count - len(bad)
                writing = tg.create_task(write(db, good), name="import:write")
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


async def _run(store: Store, source: _Source, validate: Validate, opts: dict[str, Any],
               write: Write, report: ImportReport, strict: bool,
               progress: ProgressFn | None) -> None:
    """The whole file in ONE transaction; rolled back when strict and any row is bad."""
    executor: Executor | None = None
    if source.total >= PROCESS_MIN_BYTES:
        executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    await store.pragma("cache_size = -262144")
    try:
        async with store.transaction() as db:
            await _pipeline(db, source, validate, opts, write, report, progress, executor)
            if strict and report.bad:
                raise _StrictAbort
    except _StrictAbort:
        report.rolled_back, report.imported = True, 0
    finally:
        source.close()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        await store.pragma("cache_size = -2000")
    report.bad.sort(key=lambda b: b.line)


async def import_debtors(store: Store, path: str | Path, *, campaign: str = "default",
                         strict: bool = False, region: str = "ID",
                         progress: ProgressFn | None = None) -> ImportReport:
    """Import debtors.csv: debtors, their accounts and phones, into `campaign`."""
    started = time.perf_counter()
    opts = {"campaign_id": await store.campaign_id(campaign), "now": store.now_text(),
            "region": region}
    source = _Source(Path(path), DEBTOR_REQUIRED, DEBTOR_REQUIRED + DEBTOR_OPTIONAL)
    report = ImportReport("debtors")

    async def write(db: Any, params: tuple[list[Any], list[Any], list[Any]]) -> None:
        await db.executemany(_UPSERT_DEBTOR, params[0])
        await db.executemany(_UPSERT_ACCOUNT, params[1])
        await db.executemany(_UPSERT_PHONE, params[2])

    await _run(store, source, validate_debtors, opts, write, report, strict, progress)
    report.seconds = time.perf_counter() - started
    return report


async def import_payments(store: Store, path: str | Path, *, strict: bool = False,
                          progress: ProgressFn | None = None,
                          today: date | None = None) -> ImportReport:
    """Import payments.csv, then reconcile promises (kept/broken) as of `today`."""
    started = time.perf_counter()
    now = store.now_text()
    source = _Source(Path(path), PAYMENT_REQUIRED, PAYMENT_REQUIRED)
    report = ImportReport("payments")

    async def write(db: Any, rows: list[tuple[int, PaymentRow]]) -> None:
        ids = await _account_ids(db, sorted({r.account_id for _, r in rows}))
        for line, r in rows:
            if r.account_id not in ids:
                report.bad.append(BadRow(line, f"account_id {r.account_id!r} is not imported"))
                report.imported -= 1
        await db.executemany(_UPSERT_PAYMENT, [
            (ids[r.account_id], r.external_id, r.amount, r.paid_at, now)
            for _, r in rows if r.account_id in ids])

    await _run(store, source, validate_payments, {}, write, report, strict, progress)
    if not report.rolled_back:
        kept, broken = await store.reconcile(today or store.clock.now().date())
        report.kept, report.broken = len(kept), len(broken)
    report.seconds = time.perf_counter() - started
    return report


async def _account_ids(db: Any, external_ids: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in range(0, len(external_ids), 500):
        part = external_ids[i:i + 500]
        marks = ",".join("?" * len(part))
        cur = await db.execute(
            f"SELECT external_id, id FROM accounts WHERE external_id IN ({marks})", part)
        out.update({ext: int(pk) for ext, pk in await cur.fetchall()})
    return out
