"""The daemon's control socket: a tiny JSON-over-HTTP API on a Unix socket.

`tagih call`, `tagih status` talk to a running `tagih run` through it. Unix-socket file
permissions (0600) are the access control; nothing listens on a network port.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agent.errors import TagihError

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlServer:
    def __init__(self, path: str, *, status: Callable[[], dict[str, Any]], call: Handler) -> None:
        self.path = Path(path)
        self._status = status
        self._call = call
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/status", self._get_status)
        app.router.add_post("/calls", self._post_call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            if await _answers(self.path):
                raise TagihError(f"another tagih daemon is already running on {self.path}")
            self.path.unlink()
        site = web.UnixSite(self._runner, str(self.path))
        await site.start()
        os.chmod(self.path, 0o600)

    async def aclose(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self.path.unlink(missing_ok=True)

    async def _get_status(self, _request: web.Request) -> web.Response:
        return web.json_response(self._status())

    async def _post_call(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        try:
            return web.json_response(await self._call(body))
        except TagihError as exc:
            return web.json_response({"error": str(exc)}, status=422)


async def _answers(path: Path) -> bool:
    try:
        await request(str(path), "GET", "/status", timeout_s=1)
    except TagihError:
        return False
    return True


async def request(path: str, method: str, url: str, body: Any = None,
                  timeout_s: float = 30) -> dict[str, Any]:
    """Client side: one request to the daemon; TagihError when it is not running or refuses."""
    try:
        async with aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=path),
                timeout=aiohttp.ClientTimeout(total=timeout_s)) as session, \
                session.request(method, "http://tagih" + url, json=body) as resp:
            data = json.loads(await resp.text() or "{}")
    except (aiohttp.ClientConnectorError, FileNotFoundError):
        raise TagihError(f"the tagih daemon is not running (nothing answers on {path}); "
                         "start it with `tagih run`") from None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise TagihError(f"the tagih daemon at {path} did not answer ({type(exc).__name__})") \
            from None
    if isinstance(data, dict) and "error" in data:
        raise TagihError(str(data["error"]))
    if not isinstance(data, dict):
        raise TagihError("the tagih daemon sent an unexpected reply")
    return data
