"""Our own small asyncio client for Asterisk ARI: REST calls + the events WebSocket.

It knows nothing about debts. Events are routed by channel id to bounded per-channel queues
(`subscribe`); events of channels nobody subscribed to (a new inbound call, an originated call we
have not claimed yet) go to the `unrouted` queue. The events loop reconnects with exponential
backoff and full jitter, and tells every subscriber with a synthesised ConnectionLost / Connected.

Credentials travel only in the Authorization header: never in URLs, argv or logs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp

from agent.ari_events import AriEvent, Connected, ConnectionLost, parse_event
from agent.config import AriConfig
from agent.errors import AriError

log = logging.getLogger(__name__)

QUEUE_SIZE = 256


def _basic_auth(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class AriClient:
    """One connection to one Asterisk: `async with AriClient(cfg) as ari: ...`."""

    def __init__(self, cfg: AriConfig, apps: Sequence[str] | None = None) -> None:
        self.cfg = cfg
        self.apps = tuple(apps or (cfg.app,))
        self._base = cfg.url.rstrip("/") + "/ari"
        self._session: aiohttp.ClientSession | None = None
        self._routes: dict[str, asyncio.Queue[AriEvent] | None] = {}
        self.unrouted: asyncio.Queue[AriEvent] = asyncio.Queue(QUEUE_SIZE)
        self.connected = asyncio.Event()
        self.connects = 0  # how many times the events WebSocket came up
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> AriClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": _basic_auth(self.cfg.user, self.cfg.password)},
                timeout=aiohttp.ClientTimeout(total=self.cfg.request_timeout_s),
            )

    async def close(self) -> None:
        """Idempotent."""
        self._closed = True
        self.connected.clear()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- REST --------------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      body: Any = None) -> Any:
        """One REST call. Returns decoded JSON (or None for 204); raises AriError otherwise."""
        if self._session is None:
            await self.open()
        assert self._session is not None
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session.request(method, self._base + path, params=clean,
                                             json=body) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise AriError(f"ARI {method} {path} failed with {resp.status}: "
                                   f"{_message(text)}", status=resp.status)
                if resp.status == 204 or not text:
                    return None
                return json.loads(text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriError(f"ARI {method} {path}: cannot reach Asterisk at {self.cfg.url} "
                           f"({type(exc).__name__})") from None

    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/asterisk/info")
        return result

    async def originate(self, endpoint: str, *, app: str | None = None,
                        app_args: Sequence[str] = (), channel_id: str | None = None,
                        other_channel_id: str | None = None, formats: str | None = "ulaw",
                        caller_id: str | None = None, timeout_s: int | None = None,
                        variables: Mapping[str, str] | None = None) -> dict[str, Any]:
        params = {
            "endpoint": endpoint, "app": app or self.cfg.app,
            "appArgs": ",".join(app_args) or None, "channelId": channel_id,
            "otherChannelId": other_channel_id, "formats": formats, "callerId": caller_id,
            "timeout": timeout_s,
        }
        body = {"variables": dict(variables)} if variables else None
        result: dict[str, Any] = await self.request("POST", "/channels", params=params, body=body)
        return result

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> bool:
        """Hang up; False when the channel was already gone."""
        try:
            await self.request("DELETE", f"/channels/{channel_id}", params={"reason": reason})
        except AriError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def get_channel(self, channel_id: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self.request("GET", f"/channels/{channel_id}")
        except AriError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def get_var(self, channel_id: str, name: str) -> str | None:
        """A channel variable, or None when it is not set."""
        try:
            result = await self.request("GET", f"/channels/{channel_id}/variable",
                                        params={"variable": name})
        except AriError as exc:
            if exc.status == 404:
                return None
            raise
        return str(result.get("value", "")) if result else None

    async def set_var(self, channel_id: str, name: str, value: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/variable",
                           params={"variable": name, "value": value})

    async def create_bridge(self, bridge_id: str | None = None, kind: str = "mixing",
                            name: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", "/bridges", params={"type": kind, "bridgeId": bridge_id, "name": name})
        return result

    async def add_channels(self, bridge_id: str, *channel_ids: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel",
                           params={"channel": ",".join(channel_ids)})

    async def destroy_bridge(self, bridge_id: str) -> None:
        with contextlib.suppress(AriError):
            await self.request("DELETE", f"/bridges/{bridge_id}")

    async def external_media(self, *, external_host: str, format: str = "ulaw",
                             channel_id: str | None = None, app: str | None = None,
                             transport: str = "udp", encapsulation: str = "rtp",
                             data: str | None = None) -> dict[str, Any]:
        params = {
            "app": app or self.cfg.app, "external_host": external_host, "format": format,
            "channelId": channel_id, "transport": transport, "encapsulation": encapsulation,
            "data": data,
        }
        result: dict[str, Any] = await self.request("POST", "/channels/externalMedia",
                                                    params=params)
        return result

    async def play(self, channel_id: str, media: str, playback_id: str | None = None) -> None:
        await self.request("POST", f"/channels/{channel_id}/play",
                           params={"media": media, "playbackId": playback_id})

    # --- events ------------------------------------------------------------------------------

    def subscribe(self, channel_id: str) -> asyncio.Queue[AriEvent]:
        """Route this channel's events to a queue of its own (create before the channel exists
        to miss nothing: pass the same id as channelId when originating)."""
        queue = self._routes.get(channel_id)
        if queue is None:
            queue = self._routes[channel_id] = asyncio.Queue(QUEUE_SIZE)
        return queue

    def ignore(self, channel_id: str) -> None:
        """Drop this channel's events (e.g. the ;2 half of our own Local channels)."""
        self._routes[channel_id] = None

    def unsubscribe(self, channel_id: str) -> None:
        self._routes.pop(channel_id, None)

    def _dispatch(self, event: AriEvent) -> None:
        queue = self._routes.get(event.channel_id, self.unrouted)
        if queue is not None:
            _put(queue, event)

    def _broadcast(self, event: AriEvent) -> None:
        for queue in (*self._routes.values(), self.unrouted):
            if queue is not None:
                _put(queue, event)

    async def run_events(self) -> None:
        """Keep the events WebSocket up until close() or cancellation."""
        delay = 0.0
        while not self._closed:
            try:
                async for event in self._stream():
                    delay = 0.0
                    self._dispatch(event)
            except (aiohttp.ClientError, TimeoutError, AriError, ConnectionError) as exc:
                log.warning("ARI events connection failed: %s", type(exc).__name__)
            if self.connected.is_set():
                self.connected.clear()
                self._broadcast(ConnectionLost(type="ConnectionLost"))
            if self._closed:
                break
            delay = min(self.cfg.reconnect_max_s, max(0.1, delay * 2))
            await asyncio.sleep(random.uniform(0.05, delay))

    async def _stream(self) -> AsyncIterator[AriEvent]:
        if self._session is None:
            await self.open()
        assert self._session is not None
        url = self._base.replace("http", "ws", 1) + "/events"
        params = {"app": ",".join(self.apps), "subscribeAll": "false"}
        async with self._session.ws_connect(url, params=params, heartbeat=5.0,
                                            timeout=aiohttp.ClientWSTimeout(ws_close=2.0)) as ws:
            self.connects += 1
            self.connected.set()
            log.info("ARI events connected (apps %s)", ",".join(self.apps))
            self._broadcast(Connected(type="Connected", reconnect=self.connects > 1))
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        yield parse_event(json.loads(msg.data))
                    except (ValueError, TypeError):
                        log.warning("ARI sent an event that is not JSON; ignored")
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    break


def _put(queue: asyncio.Queue[AriEvent], event: AriEvent) -> None:
    if queue.full():
        dropped = queue.get_nowait()
        log.warning("event queue full; dropped %s", dropped.type)
    queue.put_nowait(event)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:200] or "no body"
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])
    return text.strip()[:200]
