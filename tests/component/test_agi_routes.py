"""agent.agi over real TCP on 127.0.0.1, with a scripted Asterisk on the other side."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio

from agent.agi import AgiServer
from agent.store import Store, to_db


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


MONDAY_10_WIB = datetime(2026, 12, 7, 3, tzinfo=UTC)


async def fake_asterisk(port: int, script: str, headers: dict[str, str],
                        variables: dict[str, str]) -> dict[str, str]:
    """Speak AGI like Asterisk: send headers, answer GET/SET VARIABLE; return what was set."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = {"agi_network": "yes", "agi_network_script": script, "agi_uniqueid": "1.1", **headers}
    writer.write("".join(f"{k}: {v}\n" for k, v in head.items()).encode() + b"\n")
    await writer.drain()
    out: dict[str, str] = {}
    while line := (await reader.readline()).decode().strip():
        verb, _, rest = line.partition(" VARIABLE ")
        if verb == "GET":
            value = variables.get(rest)
            writer.write(f"200 result=1 ({value})\n".encode() if value is not None
                         else b"200 result=0\n")
        elif verb == "SET":
            name, _, value = rest.partition(" ")
            out[name] = value.strip('"')
            writer.write(b"200 result=1\n")
        else:
            writer.write(b"510 Invalid or unknown command\n")
        await writer.drain()
    writer.close()
    return out


@pytest_asyncio.fixture(loop_scope="function")
async def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = Clock(MONDAY_10_WIB)
    store = await Store.open(tmp_path / "agi.db", clock=clock)
    async with store.transaction() as db:
        await db.execute("INSERT INTO debtors (external_id, name, locale, tz, updated_at)"
                         " VALUES ('D1', 'Budi', 'en', 'Asia/Jakarta', ?)", (to_db(clock.at),))
        await db.execute("INSERT INTO accounts (debtor_id, external_id, amount_due, due_date,"
                         " updated_at) VALUES (1, 'A1', 1000, '2026-12-01', ?)", (to_db(clock.at),))
        await db.execute("INSERT INTO phones (debtor_id, e164) VALUES (1, '+6281234567890')")
        await db.execute("INSERT INTO attempts (debtor_id, account_id, number, scheduled_for,"
                         " dialled_at, created_at) VALUES (1, 1, '+6281234567890', ?, ?, ?)",
                         (to_db(clock.at),) * 3)
    server = AgiServer(store, clock=clock, port=0)
    port = await server.start()
    yield store, clock, port
    await server.close()
    await server.close()
    await store.close()


async def test_predial_allows_inside_window(served) -> None:  # type: ignore[no-untyped-def]
    store, _, port = served
    async with asyncio.timeout(10):
        got = await fake_asterisk(port, "predial", {"agi_arg_1": "+6281234567890"},
                                  {"TAGIH_DEBTOR_ID": "1", "TAGIH_ATTEMPT_ID": "1"})
    assert got == {"TAGIH_ALLOWED": "1", "TAGIH_REASON": "allowed"}
    row = await store.fetchone("SELECT attempt_id, allowed, checks FROM decisions")
    assert row is not None and (row[0], row[1]) == (1, 1) and '"hook": "predial"' in row[2]


async def test_predial_refuses_dnc_outside_hours_and_unknown(served) -> None:  # type: ignore[no-untyped-def]
    store, clock, port = served
    vars_ = {"TAGIH_DEBTOR_ID": "1", "TAGIH_ATTEMPT_ID": "1"}
    async with asyncio.timeout(20):
        clock.at = MONDAY_10_WIB + timedelta(hours=11)  # 21:00 WIB
        late = await fake_asterisk(port, "predial", {"agi_arg_1": "081234567890"}, vars_)
        clock.at = MONDAY_10_WIB
        await store.add_dnc("+6281234567890", "opt-out", "stop calling")
        dnc = await fake_asterisk(port, "predial", {"agi_arg_1": "081234567890"}, vars_)
        nobody = await fake_asterisk(port, "predial", {"agi_arg_1": "+6281234567890"}, {})
    assert late["TAGIH_ALLOWED"] == "0" and late["TAGIH_REASON"].startswith("outside window")
    assert dnc == {"TAGIH_ALLOWED": "0", "TAGIH_REASON": "number on do-not-call list"}
    assert nobody == {"TAGIH_ALLOWED": "0", "TAGIH_REASON": "no TAGIH_DEBTOR_ID on the channel"}


async def test_inbound_identifies_caller(served) -> None:  # type: ignore[no-untyped-def]
    _, _, port = served
    async with asyncio.timeout(10):
        known = await fake_asterisk(port, "inbound", {"agi_callerid": "081234567890"}, {})
        unknown = await fake_asterisk(port, "inbound", {"agi_callerid": "+6281111111111"}, {})
    assert known == {"TAGIH_DEBTOR_ID": "1", "TAGIH_LOCALE": "en"}
    assert unknown == {"TAGIH_DEBTOR_ID": "", "TAGIH_LOCALE": ""}


async def test_half_open_connection_does_not_hang(served) -> None:  # type: ignore[no-untyped-def]
    _, _, port = served
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"agi_network_script: predial\n")  # no blank line, then EOF
        writer.write_eof()
        assert await reader.read() == b""  # the server closed its side
        writer.close()
        got = await fake_asterisk(port, "inbound", {"agi_callerid": "081234567890"}, {})
    assert got["TAGIH_DEBTOR_ID"] == "1"
