"""The PBX sandbox itself (scripts/pbx) and the dialplan contract the bot relies on.

Talks to ARI with aiohttp directly, so these tests hold whatever agent/ari.py does.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.config import AriConfig
from tests.pbx.raw_ari import auth, on, raw_ari_app

pytestmark = pytest.mark.pbx

Event = dict[str, Any]


_auth = auth


async def _info(ari: AriConfig, password: str | None = None) -> tuple[int, Any]:
    async with asyncio.timeout(5), aiohttp.ClientSession() as session:
        async with session.get(f"{ari.url}/ari/asterisk/info",
                               headers=_auth(ari, password)) as response:
            body = await response.text()
            return response.status, json.loads(body) if response.status == 200 else body


async def test_ari_answers_with_asterisk_22(pbx_ready: None, ari_config: AriConfig) -> None:
    status, info = await _info(ari_config)
    assert status == 200
    assert re.match(r"22\.\d+", info["system"]["version"]), info["system"]


async def test_ari_refuses_a_wrong_password(pbx_ready: None, ari_config: AriConfig) -> None:
    status, _ = await _info(ari_config, password="not-" + ari_config.password)
    assert status == 401


@pytest.fixture
def asterisk_pid(pbx: Callable[..., str]) -> int:
    """The PID `scripts/pbx status` reports; the fixture fails unless it says running."""
    status = pbx("status")
    match = re.search(r"running \(pid (\d+)\) Asterisk 22\.", status)
    assert match, status
    return int(match.group(1))


def test_status_says_running(asterisk_pid: int) -> None:
    assert Path(f"/proc/{asterisk_pid}/comm").read_text().strip() == "asterisk"


def _hex_address(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/*6 holds four host-order 32-bit words
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def _listeners(pid: int) -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP / bound UDP socket the process owns."""
    fds = Path(f"/proc/{pid}/fd")
    inodes = set()
    for fd in fds.iterdir():
        target = fd.readlink().as_posix() if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            listening = state == "0A" if proto.startswith("tcp") else state == "07"
            if inode in inodes and listening:
                address, port = local.rsplit(":", 1)
                found.add((proto, _hex_address(address), int(port, 16)))
    return found


def test_asterisk_listens_only_on_loopback(asterisk_pid: int) -> None:
    listeners = _listeners(asterisk_pid)
    assert {("tcp", "127.0.0.1", 8088), ("tcp", "127.0.0.1", 5038)} <= listeners, listeners
    assert {address for _, address, _ in listeners} == {"127.0.0.1"}, listeners


# --- the dialplan contract (dialplan/extensions_tagih.conf + the test overlay) ---------------


def _events(ari: AriConfig):  # type: ignore[no-untyped-def]
    return raw_ari_app(ari, "tagih-sandbox")


_on = on


@pytest.mark.parametrize(("number", "amd"), [("1001", "HUMAN"), ("4001", "MACHINE")])
async def test_amd_result_is_on_the_bots_channel(pbx_ready: None, ari_config: AriConfig,
                                                 number: str, amd: str) -> None:
    async with _events(ari_config) as ari:
        channel = await ari.originate(f"Local/{number}@tagih-outbound", {"__SIM_HOLD": "5"})
        await ari.expect(_on("StasisStart", channel))
        status, var = await ari.rest("GET", f"/channels/{channel}/variable",
                                     params={"variable": "TAGIH_AMDSTATUS"})
        await ari.rest("DELETE", f"/channels/{channel}")
        await ari.expect(_on("ChannelDestroyed", channel))
    assert (status, var["value"]) == (200, amd)


@pytest.mark.parametrize(("number", "variables", "cause", "dialstatus"), [
    ("2001", {}, 17, "BUSY"),
    ("3001", {"TAGIH_RING_TIMEOUT": "1"}, 19, "NOANSWER"),
    ("1001", {"TAGIH_PREDIAL": "yes", "TAGIH_AGI": "127.0.0.1:9"}, 21, None),
])
async def test_unanswered_call_reports_why(pbx_ready: None, ari_config: AriConfig, number: str,
                                           variables: dict[str, str], cause: int,
                                           dialstatus: str | None) -> None:
    async with _events(ari_config) as ari:
        channel = await ari.originate(f"Local/{number}@tagih-outbound", variables)
        destroyed = await ari.expect(_on("ChannelDestroyed", channel))
    varsets = {e["variable"]: e["value"] for e in ari.seen
               if _on("ChannelVarset", channel)(e) and e["variable"].startswith("TAGIH_")
               and e["variable"] not in variables}
    assert destroyed["cause"] == cause
    assert not any(_on("StasisStart", channel)(e) for e in ari.seen)
    if dialstatus is None:  # refused before dialling: the pre-dial AGI was unreachable
        assert varsets == {"TAGIH_BLOCKED": "predial-unreachable"}
    else:
        assert varsets == {"TAGIH_DIALSTATUS": dialstatus}
