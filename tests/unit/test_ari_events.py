"""Typed ARI events from real-shaped JSON (as Asterisk 22 sends them)."""

from agent.ari import AriClient
from agent.ari_events import (
    AriEvent,
    ChannelDestroyed,
    ChannelVarset,
    ConnectionLost,
    PlaybackEvent,
    StasisStart,
    parse_event,
)
from agent.config import AriConfig

STASIS_START = {
    "type": "StasisStart", "timestamp": "2026-12-04T20:00:00.000+0000",
    "args": ["outbound", "abc123"], "application": "tagih",
    "channel": {"id": "tagih-abc123", "name": "Local/1001@tagih-outbound-00000001;1",
                "state": "Up", "caller": {"name": "", "number": "6281234"},
                "connected": {"name": "", "number": "1001"},
                "dialplan": {"context": "tagih-outbound", "exten": "1001", "priority": 1},
                "channelvars": {"TAGIH_AMDSTATUS": "HUMAN"}},
}


def test_stasis_start_is_typed() -> None:
    event = parse_event(STASIS_START)
    assert isinstance(event, StasisStart)
    assert event.channel_id == "tagih-abc123" and event.args == ("outbound", "abc123")
    assert event.channel is not None
    assert event.channel.caller_number == "6281234" and event.channel.dialplan_exten == "1001"
    assert event.channel.channelvars == {"TAGIH_AMDSTATUS": "HUMAN"}


def test_destroyed_varset_playback_and_unknown() -> None:
    destroyed = parse_event({"type": "ChannelDestroyed", "cause": 17, "cause_txt": "User busy",
                             "channel": {"id": "c1"}})
    assert isinstance(destroyed, ChannelDestroyed)
    assert (destroyed.channel_id, destroyed.cause, destroyed.cause_txt) == ("c1", 17, "User busy")
    varset = parse_event({"type": "ChannelVarset", "variable": "X", "value": "1",
                          "channel": {"id": "c2"}})
    assert isinstance(varset, ChannelVarset) and (varset.variable, varset.value) == ("X", "1")
    playback = parse_event({"type": "PlaybackFinished",
                            "playback": {"id": "p1", "target_uri": "channel:c3",
                                         "state": "done"}})
    assert isinstance(playback, PlaybackEvent) and playback.channel_id == "c3"
    other = parse_event({"type": "BridgeCreated", "bridge": {"id": "b"}})
    assert type(other) is AriEvent and other.type == "BridgeCreated" and other.channel_id == ""


async def test_events_are_routed_by_channel_id() -> None:
    ari = AriClient(AriConfig())
    mine = ari.subscribe("tagih-abc123")
    ari.ignore("tagih-abc123-2")
    ari._dispatch(parse_event(STASIS_START))
    ari._dispatch(parse_event({"type": "ChannelVarset", "channel": {"id": "tagih-abc123-2"}}))
    ari._dispatch(parse_event({"type": "StasisStart", "channel": {"id": "inbound-1"}}))
    ari._broadcast(ConnectionLost(type="ConnectionLost"))
    assert [e.type for e in _drain(mine)] == ["StasisStart", "ConnectionLost"]
    assert [e.channel_id for e in _drain(ari.unrouted)] == ["inbound-1", ""]
    await ari.close()


def _drain(queue) -> list:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out
