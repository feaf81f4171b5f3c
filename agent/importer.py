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
import marshal
import multiprocessing
import os
import time
from collections import deque
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
VALIDATION_WORKERS = 2
Block = tuple[int, str]  # (line number of the first line, CSV text of whole rows)
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

def _rows(header: list[str], block: Block, bad: Bad) -> Iterator[tuple[int, dict[str, str]]]:
    """The block's rows as (line number, {column: value}); malformed rows go to `bad`."""
    first, text = block
    reader = csv.reader(io.StringIO(text, newline=""))
    width = len(header)
    while True:
        line = first + reader.line_num
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            bad.append((line, f"bad CSV: {exc}"))
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if len(fields) != width:
            bad.append((line, f"{len(fields)} fields, expected {width}"))
            continue
        yield line, dict(zip(header, fields, strict=True))


def validate_debtors(header: list[str], block: Block, opts: dict[str, Any]
                     ) -> tuple[bytes, Bad, int]:
    """A block -> marshalled (debtor, account, phone) statement parameters, bad rows, count."""
    debtors: list[Any] = []
    accounts: list[Any] = []
    phones: list[Any] = []
    bad: Bad = []
    region, now, campaign = opts["region"], opts["now"], opts["campaign_id"]
    for line, row in _rows(header, block, bad):
        try:
            r = debtor_row(row, region)
        except RowError as exc:
            bad.append((line, str(exc)))
            continue
        debtors.append((r.external_id, r.name, r.locale, r.tz, r.province, r.pref_start,
                        r.pref_end, r.segment, now))
        accounts.append((r.external_id, campaign, r.account_id, r.amount_due, r.currency,
                         r.due_date, r.payday, int(r.time_barred), now, now))
        phones.extend((r.external_id, number, i + 1) for i, number in enumerate(r.phones))
    # marshal: a quarter of pickle's cost for these plain tuples, on both sides of the process
    return marshal.dumps((debtors, accounts, phones)), bad, len(debtors) + len(bad)


def validate_payments(header: list[str], block: Block, opts: dict[str, Any]
                      ) -> tuple[list[tuple[int, PaymentRow]], Bad, int]:
    """A block -> (line, payment) pairs, bad rows, row count."""
    good: list[tuple[int, PaymentRow]] = []
    bad: Bad = []
    for line, row in _rows(header, block, bad):
        try:
            good.append((line, payment_row(row)))
        except RowError as exc:
            bad.append((line, str(exc)))
    return good, bad, len(good) + len(bad)


# --- reading -------------------------------------------------------------------------------------

class _Source:
    """A CSV file cut into blocks of whole rows (never inside a quoted field)."""

    def __init__(self, path: Path, required: Sequence[str], allowed: Sequence[str]) -> None:
        try:
            self.total = path.stat().st_size
            self._file = path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
        self.path = path
        try:
            header = [h.strip().lower() for h in next(csv.reader(self._file))]
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
        self.line = 2  # the next line's number
        self.done = 0

    def read(self, n: int) -> Block | None:
        """About n lines of whole rows, or None at the end (runs in a worker thread)."""
        lines: list[str] = []
        open_quote = False
        try:
            for text in self._file:
                lines.append(text)
                if text.count('"') % 2:
                    open_quote = not open_quote
                if len(lines) >= n and not open_quote:
                    break
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{self.path}: near line {self.line + len(lines)}: {exc}"
                                  ) from None
        if not lines:
            return None
        block = (self.line, "".join(lines))
        self.line += len(lines)
        self.done += len(block[1])
        return block

    def close(self) -> None:
        self._file.close()


# --- the pipeline --------------------------------------------------------------------------------

Validate = Callable[[list[str], Block, dict[str, Any]], tuple[Any, Bad, int]]
Write = Callable[[Any, Any], Any]


async def _validate(block: Block, header: list[str], validate: Validate,
                    opts: dict[str, Any], executor: Executor | None) -> tuple[Any, Bad, int]:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, validate, header, block, opts)


async def _pipeline(db: Any, source: _Source, validate: Validate, opts: dict[str, Any],
                    write: Write, report: ImportReport, progress: ProgressFn | None,
                    executor: Executor | None, depth: int) -> None:
    """Keep `depth` blocks validating while the oldest validated block is written."""
    try:
        async with asyncio.TaskGroup() as tg:
            pending: deque[asyncio.Task[tuple[Any, Bad, int]]] = deque()
            writing: asyncio.Task[Any] | None = None
            more = True
            while more or pending:
                while more and len(pending) < depth:
                    block = await asyncio.to_thread(source.read, CHUNK_ROWS)
                    more = block is not None
                    if block is not None:
                        pending.append(tg.create_task(
                            _validate(block, source.header, validate, opts, executor),
                            name="import:validate"))
                if not pending:
                    break
                good, bad, count = await pending.popleft()
                report.rows += count
                report.imported += count - len(bad)
                report.bad.extend(BadRow(line, reason) for line, reason in bad)
                if writing is not None:
                    await writing
                writing = tg.create_task(write(db, good), name="import:write")
                if progress is not None:
                    progress(source.done, source.total)
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
    workers = 1
    if source.total >= PROCESS_MIN_BYTES:
        workers = min(VALIDATION_WORKERS, os.cpu_count() or 1)
        executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        async with store.bulk_transaction() as db:
            await _pipeline(db, source, validate, opts, write, report, progress, executor,
                            workers + 1)
            if strict and report.bad:
                raise _StrictAbort
    except _StrictAbort:
        report.rolled_back, report.imported = True, 0
    finally:
        source.close()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
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

    async def write(db: Any, packed: bytes) -> None:
        params = marshal.loads(packed)
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
