"""agent.importer and `tagih import`: bad rows with line numbers, strict, idempotent, tz."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from click.testing import CliRunner

from agent.cli import cli
from agent.errors import ImportFileError
from agent.events import CallOutcome, Promise
from agent.importer import import_debtors, import_payments
from agent.store import Store

HEADER = ("external_id,name,phone,phone2,account_id,amount_due,due_date,province,tz,payday,"
          "segment,preferred_start,preferred_end\n")
ROWS = [
    "D1,Budi,+6281234567890,081298765432,A1,1500000,2026-11-30,Jawa Barat,,25,gig,,\n",
    "D2,Sari,0812-3456-7891,,A2,250000,2026-12-01,Papua,,,,09:00,12:00\n",
    "D3,Bad,12345,,A3,100,2026-12-01,,,,,,\n",
    '"D4","Wayan ""Bli""",+6281234567892,,A4,-5,2026-12-01,Bali,,,,,\n',
    "D5,Ann,+14155552671,,A5,300,2026-13-01,,,,,,\n",
    "D6,Joe,+14155552672,,A6,300,2026-12-01,,,,,,\n",
    "D7,Made,+6281234567893,,A7,400000,2026-12-01,,Asia/Makassar,,,,\n",
]
BAD = ["line 4: phone '12345' is not a valid number",
       "line 5: amount_due '-5' is not a whole non-negative amount",
       "line 6: due_date '2026-13-01' is not an ISO date (YYYY-MM-DD)"]


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 7, 3, tzinfo=UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    p = tmp_path / "debtors.csv"
    p.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    return p


@pytest_asyncio.fixture(loop_scope="function")
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = await Store.open(tmp_path / "t.db", clock=Clock())
    yield s
    await s.close()


async def test_bad_rows_reported_good_rows_imported(store: Store, csv_file: Path) -> None:
    async with asyncio.timeout(20):
        report = await import_debtors(store, csv_file)
        assert [str(b) for b in report.bad] == BAD
        assert (report.rows, report.imported) == (7, 4)
        debtors = await store.fetchall(
            "SELECT external_id, tz, pref_start FROM debtors ORDER BY id")
        assert [tuple(d) for d in debtors] == [
            ("D1", "Asia/Jakarta", None), ("D2", "Asia/Jayapura", "09:00"),
            ("D6", "America/Los_Angeles", None), ("D7", "Asia/Makassar", None)]
        phones = await store.fetchall("SELECT e164, priority FROM phones WHERE debtor_id = 1")
        assert [tuple(p) for p in phones] == [("+6281234567890", 1), ("+6281298765432", 2)]
        again = await import_debtors(store, csv_file)  # idempotent
        assert again.imported == 4
        counts = await store.fetchone("SELECT (SELECT COUNT(*) FROM debtors),"
                                      " (SELECT COUNT(*) FROM accounts),"
                                      " (SELECT COUNT(*) FROM phones)")
        assert tuple(counts) == (4, 4, 5)  # type: ignore[arg-type]
        assert await store.pragma("foreign_keys") == 1  # back on after the bulk transaction


async def test_reimport_updates_by_external_id(store: Store, tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    async with asyncio.timeout(20):
        p.write_text(HEADER + ROWS[0], encoding="utf-8")
        await import_debtors(store, p)
        p.write_text(HEADER + ROWS[0].replace("1500000", "900000").replace("Budi", "Budi S"))
        await import_debtors(store, p)
        row = await store.fetchone("SELECT d.name, a.amount_due FROM debtors d JOIN accounts a"
                                   " ON a.debtor_id = d.id")
        assert tuple(row) == ("Budi S", 900000)  # type: ignore[arg-type]


async def test_strict_imports_nothing(store: Store, csv_file: Path) -> None:
    async with asyncio.timeout(20):
        report = await import_debtors(store, csv_file, strict=True)
        assert report.rolled_back and report.imported == 0 and len(report.bad) == 3
        assert (await store.fetchone("SELECT COUNT(*) FROM debtors"))[0] == 0  # type: ignore[index]


async def test_bad_header_is_a_file_error(store: Store, tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("external_id,name,phone\nD1,B,+6281234567890\n")
    with pytest.raises(ImportFileError, match="missing column 'account_id'"):
        await import_debtors(store, p)
    p.write_text(HEADER.strip() + ",phone_2\n")
    with pytest.raises(ImportFileError, match="unknown column 'phone_2'"):
        await import_debtors(store, p)


async def test_payments_reconcile_promises(store: Store, csv_file: Path, tmp_path: Path) -> None:
    async with asyncio.timeout(20):
        await import_debtors(store, csv_file)
        async with store.transaction() as db:
            await db.execute("INSERT INTO attempts (debtor_id, account_id, number, scheduled_for,"
                             " created_at, ended_at) VALUES (1, 1, '+6281234567890',"
                             " '2026-12-07T03:00:00Z', '2026-12-07T03:00:00Z',"
                             " '2026-12-07T03:05:00Z'), (2, 2, '+6281234567891',"
                             " '2026-12-07T03:00:00Z', '2026-12-07T03:00:00Z',"
                             " '2026-12-07T03:05:00Z')")
        await store.record_outcome(1, CallOutcome("PTP_FULL", (Promise(1500000, "2026-12-10"),)))
        await store.record_outcome(2, CallOutcome("PTP_PARTIAL", (Promise(100000, "2026-12-08"),)))
        pay = tmp_path / "payments.csv"
        pay.write_text("external_id,account_id,amount,paid_at\n"
                       "P1,A1,1000000,2026-12-08\nP2,A1,500000,2026-12-10T09:00:00+07:00\n"
                       "P3,NOPE,5,2026-12-08\nP4,A2,0,2026-12-08\n")
        report = await import_payments(store, pay, today=date(2026, 12, 11))
        assert [str(b) for b in report.bad] == ["line 4: account_id 'NOPE' is not imported",
                                                "line 5: amount must be positive"]
        assert (report.imported, report.kept, report.broken) == (2, 1, 1)
        statuses = await store.fetchall("SELECT account_id, status FROM promises ORDER BY id")
        assert [tuple(s) for s in statuses] == [(1, "kept"), (2, "broken")]
        again = await import_payments(store, pay, today=date(2026, 12, 11))
        assert again.imported == 2
        assert (await store.fetchone("SELECT COUNT(*) FROM payments"))[0] == 2  # type: ignore[index]


def test_cli_import_and_window(csv_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "cli.db")
    res = runner.invoke(cli, ["import", "debtors", str(csv_file), "--db", db])
    assert res.exit_code == 0, res.output
    assert "debtors: 7 rows, 4 imported, 3 bad" in res.output
    assert f"{csv_file}: line 4: phone '12345' is not a valid number" in res.output
    res = runner.invoke(cli, ["import", "debtors", str(csv_file), "--db", db, "--strict"])
    assert res.exit_code == 1 and "strict: nothing imported" in res.output
    res = runner.invoke(cli, ["window", "--profile", "id-ojk", "--tz", "Asia/Makassar",
                              "--from", "2026-12-24", "--days", "4"])
    assert res.exit_code == 0
    import json
    assert json.loads(res.output) == [["2026-12-24T08:00:00+08:00", "2026-12-24T20:00:00+08:00"],
                                      ["2026-12-26T08:00:00+08:00", "2026-12-26T20:00:00+08:00"]]
    res = runner.invoke(cli, ["window", "--tz", "Mars/Base", "--from", "2026-12-24"])
    assert res.exit_code == 1 and "tagih: error: unknown time zone 'Mars/Base'" in res.output


async def test_worker_process_and_small_blocks_keep_line_numbers(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large-file path (validation in a worker process), blocks cut between quoted lines."""
    from agent import importer
    monkeypatch.setattr(importer, "PROCESS_MIN_BYTES", 0)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    p = tmp_path / "multi.csv"
    quoted = 'D9,"Made\nWayan",+6281234567899,,A9,1000,2026-12-01,Bali,,,,,\n'  # 2 lines
    p.write_text(HEADER + ROWS[0] + quoted + "".join(ROWS[1:]), encoding="utf-8")
    async with asyncio.timeout(60):
        report = await import_debtors(store, p)
    assert [str(b) for b in report.bad] == [
        "line 6: phone '12345' is not a valid number",
        "line 7: amount_due '-5' is not a whole non-negative amount",
        "line 8: due_date '2026-13-01' is not an ISO date (YYYY-MM-DD)"]
    assert (report.rows, report.imported) == (8, 5)
    row = await store.fetchone("SELECT name, tz FROM debtors WHERE external_id = 'D9'")
    assert tuple(row) == ("Made\nWayan", "Asia/Makassar")  # type: ignore[arg-type]
