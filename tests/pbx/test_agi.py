"""The FastAGI routes (agent.agi) called by the real Asterisk from the tagih dialplan.

Our AgiServer listens on a free 127.0.0.1 port; each call passes TAGIH_AGI=127.0.0.1:<port>
(a channel variable wins over the dialplan's [globals]) and TAGIH_PREDIAL=yes (the sandbox's
test overlay turns the check off by default). The store's clock is fixed on a Monday 10:00 WIB
so the verdicts do not depend on when the test runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.agi import AgiServer
from agent.config import AriConfig
from agent.store import Store, to_db
from tests.pbx.raw_ari import Event, on, raw_ari_app

pytestmark = pytest.mark.pbx

MONDAY_10_WIB = datetime(2026, 12, 7, 3, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return MONDAY_10_WIB

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def ari_app(ari: AriConfig, subscribe_all: bool = False):  # type: ignore[no-untyped-def]
    return raw_ari_app(ari, "tagih-agi-test", subscribe_all)


@asynccontextmanager
async def agi_server(tmp_path: Path) -> AsyncIterator[tuple[Store, int]]:
    store = await Store.open(tmp_path / "agi.db", clock=FixedClock())
    async with store.transaction() as db:
        now = to_db(MONDAY_10_WIB)
        await db.execute("INSERT INTO debtors (external_id, name, locale, tz, updated_at)"
                         " VALUES ('D1', 'Budi', 'en', 'Asia/Jakarta', ?)", (now,))
        await db.execute("INSERT INTO accounts (debtor_id, external_id, amount_due, due_date,"
                         " updated_at) VALUES (1, 'A1', 1000, '2026-12-01', ?)", (now,))
        await db.execute("INSERT INTO phones (debtor_id, e164) VALUES (1, '+6281234567890')")
        await db.execute("INSERT INTO attempts (debtor_id, account_id, number, scheduled_for,"
                         " created_at) VALUES (1, 1, '2001', ?, ?)", (now, now))
    server = AgiServer(store, port=0)
    try:
        yield store, await server.start()
    finally:
        await server.close()
        await store.close()


def varsets(seen: list[Event], channel: str) -> dict[str, str]:
    return {e["variable"]: e["value"] for e in seen
            if on("ChannelVarset", channel)(e) and e["variable"].startswith("TAGIH_")}


@pytest.mark.parametrize(("dnc", "cause", "expected"), [
    (False, 17, {"TAGIH_DIALSTATUS": "BUSY"}),  # allowed: dialled the (busy) debtor
    (True, 21, {"TAGIH_BLOCKED": "number on do-not-call list"}),  # refused before dialling
])
async def test_predial_route_decides_in_the_dialplan(
        pbx_ready: None, ari_config: AriConfig, tmp_path: Path, dnc: bool, cause: int,
        expected: dict[str, str]) -> None:
    async with asyncio.timeout(60), agi_server(tmp_path) as (store, port):
        if dnc:
            await store.add_dnc("2001", "test", "stop calling")
        variables = {"TAGIH_PREDIAL": "yes", "TAGIH_AGI": f"127.0.0.1:{port}",
                     "TAGIH_DEBTOR_ID": "1", "TAGIH_ATTEMPT_ID": "1"}
        async with ari_app(ari_config) as ari:
            channel = await ari.originate("Local/2001@tagih-outbound", variables)
            destroyed = await ari.expect(on("ChannelDestroyed", channel))
        decision = await store.fetchone("SELECT attempt_id, allowed, reason, checks"
                                        " FROM decisions")
    got = {k: v for k, v in varsets(ari.seen, channel).items() if k not in variables}
    assert (destroyed["cause"], got) == (cause, expected)
    assert decision is not None
    assert (decision["attempt_id"], decision["allowed"]) == (1, 0 if dnc else 1)
    assert json.loads(decision["checks"])["hook"] == "predial"


async def test_inbound_route_identifies_the_caller(pbx_ready: None, ari_config: AriConfig,
                                                   tmp_path: Path) -> None:
    async with asyncio.timeout(60), agi_server(tmp_path) as (_, port):
        async with ari_app(ari_config, subscribe_all=True) as ari:
            channel = await ari.originate("Local/s@tagih-inbound",
                                          {"TAGIH_AGI": f"127.0.0.1:{port}"},
                                          callerId="081234567890")
            inner = f"{channel}-2"

            def identified(e: Event) -> bool:
                return on("ChannelVarset", inner)(e) and e["variable"] == "TAGIH_LOCALE" \
                    and e["value"] != ""

            await ari.expect(identified)
            await ari.hangup(channel)
            await ari.expect(on("ChannelDestroyed", inner))
    got = varsets(ari.seen, inner)
    assert (got["TAGIH_DEBTOR_ID"], got["TAGIH_LOCALE"]) == ("1", "en")
