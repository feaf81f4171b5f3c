"""`tagih import debtors|payments FILE.csv`: validate rows, upsert the good ones in ONE transaction.

Validation (agent.rows) runs in a worker thread chunk by chunk while the previous chunk is being
written, so the two cores share the work. Each bad row is reported with its line number; with
`strict` nothing is written when any row is bad. Re-importing a file is idempotent (upsert by
external id). Payments are followed by `Store.reconcile(today)`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from agent.errors import ImportFileError
from agent.rows import (
    DEBTOR_OPTIONAL,
    DEBTOR_REQUIRED,
    PAYMENT_REQUIRED,
    DebtorRow,
    PaymentRow,
    RowError,
    debtor_row,
    payment_row,
)
from agent.store import Store

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)
CHUNK_ROWS = 20_000

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


class _Source:
    """A CSV file read line by line, counting characters for the progress bar."""

    def __init__(self, path: Path, required: Sequence[str], allowed: Sequence[str]) -> None:
        try:
            self.total = path.stat().st_size
            self._file = path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
        self.done = 0
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
        self.path = path

    def _counted(self, f: io.TextIOBase) -> Iterator[str]:
        for line in f:
            self.done += len(line)
            yield line

    def chunk(self, n: int, validate: Callable[[dict[str, str]], Any]
              ) -> tuple[list[Any], list[BadRow], int]:
        """Read and validate up to n rows (runs in a worker thread)."""
        good: list[Any] = []
        bad: list[BadRow] = []
        count = 0
        header = self.header
        try:
            for row in self.reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                count += 1
                line = self.reader.line_num
                if len(row) != len(header):
                    bad.append(BadRow(line, f"{len(row)} fields, expected {len(header)}"))
                else:
                    try:
                        good.append(validate(dict(zip(header, row, strict=True))))
                    except RowError as exc:
                        bad.append(BadRow(line, str(exc)))
                if count >= n:
                    break
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportFileError(f"{self.path}: line {self.reader.line_num}: {exc}") from None
        return good, bad, count

    def close(self) -> None:
        self._file.close()


async def _pipeline(db: Any, source: _Source, validate: Callable[[dict[str, str]], Any],
                    write: Callable[[Any, list[Any]], Any], report: ImportReport,
                    progress: ProgressFn | None) -> None:
    """Validate chunk n+1 in a thread while chunk n is written."""
    try:
        async with asyncio.TaskGroup() as tg:
            writing: asyncio.Task[Any] | None = None
            while True:
                good, bad, count = await asyncio.to_thread(source.chunk, CHUNK_ROWS, validate)
                report.rows += count
                report.bad.extend(bad)
                if writing is not None:
                    await writing
                if progress is not None:
                    progress(source.done, source.total)
                if count == 0:
                    return
                report.imported += len(good)
                writing = tg.create_task(write(db, good), name="import:write")
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


async def _run(store: Store, source: _Source, validate: Callable[[dict[str, str]], Any],
               write: Callable[[Any, list[Any]], Any], report: ImportReport, strict: bool,
               progress: ProgressFn | None) -> None:
    """The whole file in ONE transaction; rolled back when strict and any row is bad."""
    await store.pragma("cache_size = -262144")
    try:
        async with store.transaction() as db:
            await _pipeline(db, source, validate, write, report, progress)
            if strict and report.bad:
                raise _StrictAbort
    except _StrictAbort:
        report.rolled_back, report.imported = True, 0
    finally:
        source.close()
        await store.pragma("cache_size = -2000")


async def import_debtors(store: Store, path: str | Path, *, campaign: str = "default",
                         strict: bool = False, region: str = "ID",
                         progress: ProgressFn | None = None) -> ImportReport:
    """Import debtors.csv: debtors, their accounts and phones, into `campaign`."""
    started = time.perf_counter()
    campaign_id = await store.campaign_id(campaign)
    now = store.now_text()
    source = _Source(Path(path), DEBTOR_REQUIRED, DEBTOR_REQUIRED + DEBTOR_OPTIONAL)
    report = ImportReport("debtors")

    async def write(db: Any, rows: list[DebtorRow]) -> None:
        await db.executemany(_UPSERT_DEBTOR, [
            (r.external_id, r.name, r.locale, r.tz, r.province, r.pref_start, r.pref_end,
             r.segment, now) for r in rows])
        await db.executemany(_UPSERT_ACCOUNT, [
            (r.external_id, campaign_id, r.account_id, r.amount_due, r.currency, r.due_date,
             r.payday, int(r.time_barred), now, now) for r in rows])
        await db.executemany(_UPSERT_PHONE, [
            (r.external_id, number, i + 1) for r in rows for i, number in enumerate(r.phones)])

    await _run(store, source, lambda row: debtor_row(row, region), write, report, strict,
               progress)
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
    lines: dict[str, int] = {}

    def validate(row: dict[str, str]) -> PaymentRow:
        return payment_row(row)

    async def write(db: Any, rows: list[PaymentRow]) -> None:
        ids = await _account_ids(db, sorted({r.account_id for r in rows}))
        unknown = [r for r in rows if r.account_id not in ids]
        for r in unknown:
            report.bad.append(BadRow(lines.get(r.external_id, 0),
                                     f"account_id {r.account_id!r} is not imported"))
        report.imported -= len(unknown)
        await db.executemany(_UPSERT_PAYMENT, [
            (ids[r.account_id], r.external_id, r.amount, r.paid_at, now)
            for r in rows if r.account_id in ids])

    def tracked(row: dict[str, str]) -> PaymentRow:
        result = validate(row)
        lines[result.external_id] = source.reader.line_num
        return result

    await _run(store, source, tracked, write, report, strict, progress)
    report.bad.sort(key=lambda b: b.line)
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
