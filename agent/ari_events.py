"""Typed ARI events: the JSON of Asterisk's events WebSocket turned into frozen dataclasses.

Only what the bot reads is typed; every event keeps its raw dict for the rest. `parse_event`
never raises on unknown types: they become a plain AriEvent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str = ""
    state: str = ""
    caller_number: str = ""
    connected_number: str = ""
    dialplan_context: str = ""
    dialplan_exten: str = ""
    channelvars: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Channel:
        dialplan = data.get("dialplan") or {}
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            state=str(data.get("state", "")),
            caller_number=str((data.get("caller") or {}).get("number", "")),
            connected_number=str((data.get("connected") or {}).get("number", "")),
            dialplan_context=str(dialplan.get("context", "")),
            dialplan_exten=str(dialplan.get("exten", "")),
            channelvars={str(k): str(v) for k, v in (data.get("channelvars") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class AriEvent:
    """Any event. `channel_id` is the id the event is routed by ('' when none)."""

    type: str
    application: str = ""
    timestamp: str = ""
    channel_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class StasisStart(AriEvent):
    channel: Channel | None = None
    args: tuple[str, ...] = ()
    replace_channel_id: str = ""


@dataclass(frozen=True, slots=True)
class StasisEnd(AriEvent):
    pass


@dataclass(frozen=True, slots=True)
class ChannelStateChange(AriEvent):
    state: str = ""


@dataclass(frozen=True, slots=True)
class ChannelDestroyed(AriEvent):
    cause: int = 0
    cause_txt: str = ""


@dataclass(frozen=True, slots=True)
class ChannelHangupRequest(AriEvent):
    cause: int = 0


@dataclass(frozen=True, slots=True)
class ChannelVarset(AriEvent):
    variable: str = ""
    value: str = ""


@dataclass(frozen=True, slots=True)
class ChannelDtmfReceived(AriEvent):
    digit: str = ""


@dataclass(frozen=True, slots=True)
class PlaybackEvent(AriEvent):
    playback_id: str = ""
    state: str = ""


@dataclass(frozen=True, slots=True)
class Dial(AriEvent):
    dialstatus: str = ""
    peer_id: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionLost(AriEvent):
    """Synthesised by our client when the events WebSocket drops (not sent by Asterisk)."""


@dataclass(frozen=True, slots=True)
class Connected(AriEvent):
    """Synthesised by our client each time the events WebSocket is (re)established."""

    reconnect: bool = False


def _channel_id(data: dict[str, Any]) -> str:
    channel = data.get("channel")
    if isinstance(channel, dict) and "id" in channel:
        return str(channel["id"])
    target = str((data.get("playback") or {}).get("target_uri", ""))
    if target.startswith("channel:"):
        return target.removeprefix("channel:")
    peer = data.get("peer")
    if isinstance(peer, dict) and "id" in peer:
        return str(peer["id"])
    return ""


def parse_event(data: dict[str, Any]) -> AriEvent:
    """Turn one decoded events-WebSocket message into a typed event."""
    kind = str(data.get("type", ""))
    base: dict[str, Any] = {
        "type": kind,
        "application": str(data.get("application", "")),
        "timestamp": str(data.get("timestamp", "")),
        "channel_id": _channel_id(data),
        "raw": data,
    }
    channel = data.get("channel") if isinstance(data.get("channel"), dict) else None
    if kind == "StasisStart":
        return StasisStart(**base, channel=Channel.from_json(channel) if channel else None,
                           args=tuple(str(a) for a in data.get("args", [])),
                           replace_channel_id=str(data.get("replace_channel", {}).get("id", "")))
    if kind == "StasisEnd":
        return StasisEnd(**base)
    if kind == "ChannelStateChange":
        return ChannelStateChange(**base, state=str((channel or {}).get("state", "")))
    if kind == "ChannelDestroyed":
        return ChannelDestroyed(**base, cause=int(data.get("cause", 0) or 0),
                                cause_txt=str(data.get("cause_txt", "")))
    if kind == "ChannelHangupRequest":
        return ChannelHangupRequest(**base, cause=int(data.get("cause", 0) or 0))
    if kind == "ChannelVarset":
        return ChannelVarset(**base, variable=str(data.get("variable", "")),
                             value=str(data.get("value", "")))
    if kind == "ChannelDtmfReceived":
        return ChannelDtmfReceived(**base, digit=str(data.get("digit", "")))
    if kind.startswith("Playback"):
        playback = data.get("playback") or {}
        return PlaybackEvent(**base, playback_id=str(playback.get("id", "")),
                             state=str(playback.get("state", "")))
    if kind == "Dial":
        return Dial(**base, dialstatus=str(data.get("dialstatus", "")),
                    peer_id=str((data.get("peer") or {}).get("id", "")))
    return AriEvent(**base)
