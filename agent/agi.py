"""FastAGI routes (panoramisk) for the dialplan hooks, served on 127.0.0.1.

  predial  [tagih-outbound-call]: AGI(agi://HOST:PORT/predial,${EXTEN}). Reads the channel
           variables TAGIH_DEBTOR_ID and TAGIH_ATTEMPT_ID and the dialled number, re-checks the
           calling policy against the store, records the decision, and sets TAGIH_ALLOWED=1|0
           and TAGIH_REASON. Anything unexpected fails closed (TAGIH_ALLOWED=0).
  inbound  [tagih-inbound-call]: AGI(agi://HOST:PORT/inbound). Looks the caller (CALLERID(num))
           up by phone number and sets TAGIH_DEBTOR_ID and TAGIH_LOCALE (empty when unknown).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from panoramisk.fast_agi import Application, Request

from agent import policy
from agent.clock import Clock
from agent.dialqueue import DEFAULT_CAMPAIGN, DialQueue
from agent.errors import PolicyViolation, StoreError, TagihError
from agent.rows import RowError, e164

log = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 5.0
ROUTE_TIMEOUT_S = 10.0


class _GuardedApplication(Application):
    """panoramisk's Application with a bounded, timed header read (its own spins on EOF)."""

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEADER_TIMEOUT_S):
                raw = await reader.readuntil(b"\n\n")
            lines = raw[:-2].decode(self.default_encoding).split("\n")
            headers: OrderedDict[str, str] = OrderedDict(
                line.split(": ", 1) for line in lines if ": " in line)
            route = self._route.get(headers.get("agi_network_script"))
            if route is None:
                log.error("FastAGI: no route %r", headers.get("agi_network_script"))
                return
            request = Request(app=self, headers=headers, reader=reader, writer=writer,
                              encoding=self.default_encoding)
            async with asyncio.timeout(ROUTE_TIMEOUT_S):
                await route(request)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError,
                UnicodeDecodeError) as exc:
            log.warning("FastAGI request dropped: %s", exc.__class__.__name__)
        finally:
            writer.close()


def _value(result: Mapping[str, Any]) -> str:
    """The value of a GET VARIABLE reply ("200 result=1 (value)"), or ""."""
    code, data = result.get("result", ("0", ""))
    return str(data) if code == "1" else ""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "").replace('"', "'").replace("\n", " ") + '"'


class AgiServer:
    """The FastAGI server. `await start()` inside the running loop; `await close()` after."""

    def __init__(self, store: Any, *, clock: Clock | None = None, host: str = "127.0.0.1",
                 port: int = 4573, region: str = "ID") -> None:
        self.store = store
        self.queue = DialQueue(store)
        self.clock = clock or store.clock
        self.host, self.port, self.region = host, port, region
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        app = _GuardedApplication()  # panoramisk reads the loop: create it inside the loop
        app.add_route("predial", self.predial)
        app.add_route("inbound", self.inbound)
        try:
            self._server = await asyncio.start_server(app.handler, self.host, self.port)
        except OSError as exc:
            raise TagihError(f"FastAGI cannot listen on {self.host}:{self.port}: {exc}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("FastAGI listening on %s:%d", self.host, self.port)
        return self.port

    async def close(self) -> None:
        """Stop listening. Idempotent."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _get(self, request: Request, name: str) -> str:
        return _value(await request.send_command(f"GET VARIABLE {name}"))

    async def _set(self, request: Request, name: str, value: str) -> None:
        await request.send_command(f"SET VARIABLE {name} {_quote(value)}")

    def _normalise(self, number: str) -> str:
        try:
            return e164(number, self.region)
        except RowError:
            return number.strip()

    async def predial(self, request: Request) -> None:
        """Route `predial`: set TAGIH_ALLOWED and TAGIH_REASON for this dial."""
        allowed, reason = False, "predial check failed"
        try:
            debtor = await self._get(request, "TAGIH_DEBTOR_ID")
            attempt = await self._get(request, "TAGIH_ATTEMPT_ID")
            number = request.headers.get("agi_arg_1") or request.headers.get("agi_extension", "")
            allowed, reason = await self.check(debtor, attempt, self._normalise(number))
        except (TagihError, ValueError) as exc:
            reason = f"predial check failed: {exc}"
        log.info("predial debtor=%s allowed=%s reason=%s",
                 request.headers.get("agi_uniqueid", "?"), allowed, reason)
        await self._set(request, "TAGIH_ALLOWED", "1" if allowed else "0")
        await self._set(request, "TAGIH_REASON", reason)

    async def check(self, debtor_text: str, attempt_text: str, number: str) -> tuple[bool, str]:
        """Re-check the policy for dialling `number` for the debtor now; records the decision."""
        if not debtor_text.isdigit():
            return False, "no TAGIH_DEBTOR_ID on the channel"
        debtor_id = int(debtor_text)
        attempt_id = int(attempt_text) if attempt_text.isdigit() else 0
        now = self.clock.now()
        inputs = (await self.queue.inputs([debtor_id], now, exclude_attempt=attempt_id)
                  ).get(debtor_id)
        if inputs is None:
            return False, f"debtor {debtor_id} is not in the store"
        campaign = await self._campaign(attempt_id)
        rules = dataclasses.replace(inputs.rules, number=number,
                                    dnc=await self.store.is_dnc(number))
        decision = policy.decide(now, rules, inputs.history, campaign.rules)
        decision.checks["hook"] = "predial"
        await self._record(attempt_id, debtor_id, now, decision)
        return decision.allowed, decision.reason

    async def _campaign(self, attempt_id: int) -> Any:
        row = await self.store.fetchone("SELECT campaign_id FROM attempts WHERE id = ?",
                                        (attempt_id,))
        campaigns = await self.queue.campaigns()
        return campaigns.get(row[0] if row and row[0] else -1, DEFAULT_CAMPAIGN)

    async def _record(self, attempt_id: int, debtor_id: int, now: datetime,
                      decision: policy.Decision) -> None:
        exists = attempt_id and await self.store.fetchone(
            "SELECT 1 FROM attempts WHERE id = ?", (attempt_id,))
        async with self.store.transaction() as db:
            await self.queue.record_decision(db, attempt_id if exists else None, debtor_id, now,
                                             decision)

    async def inbound(self, request: Request) -> None:
        """Route `inbound`: set TAGIH_DEBTOR_ID and TAGIH_LOCALE for the caller (or empty)."""
        debtor_id, locale = "", ""
        caller = request.headers.get("agi_callerid", "")
        try:
            found = await self.store.find_debtor_by_phone(self._normalise(caller))
            if found is not None:
                ctx = await self.store.debtor_context(found)
                debtor_id, locale = str(found), str(ctx["locale"])
        except (StoreError, PolicyViolation) as exc:
            log.error("inbound lookup failed: %s", exc)
        log.info("inbound call: debtor %s", debtor_id or "unknown")
        await self._set(request, "TAGIH_DEBTOR_ID", debtor_id)
        await self._set(request, "TAGIH_LOCALE", locale)
