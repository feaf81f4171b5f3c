"""A throw-away ARI application on raw aiohttp, for testing the dialplan contract.

Deliberately independent of agent.ari: these tests check what Asterisk and our dialplan do,
so a bug in our client cannot hide a bug in the dialplan (or the other way round).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from agent.config import AriConfig

Event = dict[str, Any]


def auth(ari: AriConfig, password: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{ari.user}:{password or ari.password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class RawAri:
    """The events WebSocket of one application, plus REST calls."""

    def __init__(self, session: aiohttp.ClientSession, ari: AriConfig, app: str) -> None:
        self.session, self.ari, self.app = session, ari, app
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=5000)
        self.seen: list[Event] = []

    async def pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            await self.queue.put(json.loads(message.data))

    async def expect(self, ok: Callable[[Event], bool], timeout_s: float = 20) -> Event:
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self.queue.get()
                self.seen.append(event)
                if ok(event):
                    return event

    async def rest(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with asyncio.timeout(10), self.session.request(
                method, f"{self.ari.url}/ari{path}", headers=auth(self.ari), **kwargs) as r:
            text = await r.text()
            return r.status, json.loads(text) if text.startswith(("{", "[")) else text

    async def originate(self, endpoint: str, variables: dict[str, str], **params: str) -> str:
        """Originate into this app with formats=ulaw; returns the ;1 channel id."""
        channel = f"t-{self.app[-8:]}-{uuid.uuid4().hex[:12]}"
        status, body = await self.rest("POST", "/channels", params={
            "endpoint": endpoint, "app": self.app, "formats": "ulaw", "channelId": channel,
            "otherChannelId": f"{channel}-2", **params}, json={"variables": variables})
        assert status == 200, body
        return channel

    async def hangup(self, channel: str) -> None:
        await self.rest("DELETE", f"/channels/{channel}")


@asynccontextmanager
async def raw_ari_app(ari: AriConfig, prefix: str,
                      subscribe_all: bool = False) -> AsyncIterator[RawAri]:
    app = f"{prefix}-{uuid.uuid4().hex[:8]}"
    params = {"app": app, "subscribeAll": "true" if subscribe_all else "false"}
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(5):
            ws = await session.ws_connect(f"{ari.url.replace('http', 'ws', 1)}/ari/events",
                                          params=params, headers=auth(ari))
        events = RawAri(session, ari, app)
        async with ws, asyncio.TaskGroup() as tg:
            pump = tg.create_task(events.pump(ws), name=f"{app}:events")
            try:
                yield events
            finally:
                pump.cancel()


def on(kind: str, channel: str) -> Callable[[Event], bool]:
    """Matches events of `kind` about `channel`."""
    return lambda e: e["type"] == kind and e.get("channel", {}).get("id") == channel
