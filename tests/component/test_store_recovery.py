"""A write transaction abandoned by a cancelled task must not wedge the store."""

import asyncio
import sqlite3
from pathlib import Path

from agent.store import Store


async def test_abandoned_transaction_is_rolled_back_and_writes_go_on(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "t.db")
    try:
        # what a task cancelled between BEGIN and COMMIT leaves behind
        await store._db.execute("BEGIN IMMEDIATE")
        await store._db.execute("INSERT INTO dnc (number, reason, evidence, created_at)"
                                " VALUES ('+620000', 'half', '', 'x')")
        assert await store.add_dnc("+6281234567890", "opt-out", "stop calling me")
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "t.db") as db:
        rows = db.execute("SELECT number, reason FROM dnc ORDER BY number").fetchall()
    # the abandoned half-transaction is gone, the real write is committed
    assert rows == [("+6281234567890", "opt-out")]


async def test_cancelled_writes_leave_the_store_usable(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "t.db")
    try:
        writes = [asyncio.create_task(store.add_dnc(f"+62812345{i:05d}", "r", "e"))
                  for i in range(20)]
        await asyncio.sleep(0)
        for task in writes[::2]:
            task.cancel()
        await asyncio.gather(*writes, return_exceptions=True)
        assert await store.add_dnc("+6289999999999", "after", "e")
        assert await store.is_dnc("+6289999999999")
    finally:
        await store.close()
