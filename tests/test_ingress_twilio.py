"""Twilio Media Streams adapter, fed the JSON Twilio sends (no server, no network)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from voice_assist.audio import pcm
from voice_assist.errors import ProtocolError
from voice_assist.server.ingress import Audio, Close, EndCall, StartCall
from voice_assist.server.twilio import TwilioProtocol

STREAM = "MZ00000000000000000000000000000000"


def start(tracks: list[str] | None = None, **params: str) -> str:
    custom = {"agent_id": "a7", **params}
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": "AC0",
                "streamSid": STREAM,
                "callSid": "CA123",
                "tracks": tracks or ["inbound", "outbound"],
                "customParameters": custom,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
            "streamSid": STREAM,
        }
    )


def media(track: str, samples: np.ndarray, timestamp_ms: int, chunk: int = 1) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(chunk + 1),
            "media": {
                "track": track,
                "chunk": str(chunk),
                "timestamp": str(timestamp_ms),
                "payload": base64.b64encode(pcm.mulaw_encode(samples)).decode(),
            },
            "streamSid": STREAM,
        }
    )


def tone(freq_hz: float, n: int) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq_hz * np.arange(n) / 8000)).astype(np.float32)


def legs_of(actions: list[object]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in actions:
        if isinstance(a, Audio):
            for ch, x in a.legs.items():
                out[ch] = out.get(ch, 0) + x.size
    return out


def test_both_tracks_map_to_customer_and_agent() -> None:
    proto = TwilioProtocol()
    assert (
        proto.receive_text('{"event": "connected", "protocol": "Call", "version": "1.0.0"}') == []
    )
    (start_action,) = proto.receive_text(start(api_key="secret-key", crm="42"))
    assert isinstance(start_action, StartCall)
    assert start_action.agent_id == "a7"
    assert start_action.api_key == "secret-key"
    assert "api_key" not in start_action.meta and "secret-key" not in start_action.meta.values()
    assert start_action.meta["crm"] == "42"
    assert start_action.meta["twilio_call_sid"] == "CA123"
    assert proto.call_opened("c1") == []  # Twilio expects no reply

    got: dict[str, int] = {}
    for i in range(50):  # 1 s of 20 ms chunks per track
        for track in ("inbound", "outbound"):
            freq = 300 if track == "inbound" else 900
            for ch, n in legs_of(
                proto.receive_text(media(track, tone(freq, 160), i * 20, i))
            ).items():
                got[ch] = got.get(ch, 0) + n
    for ch, n in legs_of(proto.receive_text('{"event": "stop", "stop": {}}')).items():
        got[ch] += n
    assert abs(got["customer"] - 16000) <= 2
    assert abs(got["agent"] - 16000) <= 2
    assert proto.gap_filled_ms == 0


def test_track_map_is_configurable() -> None:
    proto = TwilioProtocol(track_map=("agent", "customer"))
    proto.receive_text(start())
    proto.call_opened("c2")
    (audio,) = proto.receive_text(media("inbound", tone(300, 160), 0))
    assert isinstance(audio, Audio) and set(audio.legs) == {"agent"}
    with pytest.raises(ValueError):
        TwilioProtocol(track_map=("agent", "agent"))


def test_single_track() -> None:
    proto = TwilioProtocol()
    (start_action,) = proto.receive_text(start(tracks=["inbound"]))
    assert isinstance(start_action, StartCall)
    assert start_action.media.channel_map == ("customer",)
    proto.call_opened("c3")
    (audio,) = proto.receive_text(media("inbound", tone(300, 160), 0))
    assert isinstance(audio, Audio) and set(audio.legs) == {"customer"}
    with pytest.raises(ProtocolError, match="not started"):
        proto.receive_text(media("outbound", tone(300, 160), 0))


def test_timestamp_gap_is_filled_with_silence() -> None:
    proto = TwilioProtocol()
    proto.receive_text(start())
    proto.call_opened("c4")
    proto.receive_text(media("outbound", tone(300, 160), 0))
    actions = proto.receive_text(media("outbound", tone(300, 160), 1020))  # 1 s missing
    assert len(actions) == 2
    assert proto.gap_filled_ms == 1000
    assert proto.decoders["outbound"].position_ms == 1040


def test_in_band_events_are_tolerated() -> None:
    proto = TwilioProtocol()
    proto.receive_text(start())
    proto.call_opened("c5")
    assert proto.receive_text('{"event": "mark", "mark": {"name": "greeting"}}') == []
    assert proto.receive_text('{"event": "dtmf", "dtmf": {"digit": "1"}}') == []
    assert proto.receive_text('{"event": "somethingNew"}') == []
    assert proto.marks == ["greeting"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("nope", "malformed_json"),
        ('{"sequenceNumber": "1"}', "bad_message"),
        (media("inbound", tone(300, 160), 0), "binary_before_start"),
    ],
)
def test_bad_messages_before_start(message: str, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        TwilioProtocol().receive_text(message)
    assert info.value.code == code


def test_unsupported_media_format_and_missing_agent() -> None:
    bad = json.loads(start())
    bad["start"]["mediaFormat"] = {"encoding": "audio/x-l16", "sampleRate": 16000, "channels": 1}
    with pytest.raises(ProtocolError) as info:
        TwilioProtocol().receive_text(json.dumps(bad))
    assert info.value.code == "unsupported_media"
    no_agent = json.loads(start())
    del no_agent["start"]["customParameters"]["agent_id"]
    with pytest.raises(ProtocolError, match="agent_id"):
        TwilioProtocol().receive_text(json.dumps(no_agent))


def test_bad_payload_fails_with_close_reason_and_ends_call() -> None:
    proto = TwilioProtocol()
    proto.receive_text(start())
    proto.call_opened("c6")
    bad = json.loads(media("inbound", tone(300, 160), 0))
    bad["media"]["payload"] = "###"
    with pytest.raises(ProtocolError) as info:
        proto.receive_text(json.dumps(bad))
    actions = proto.fail(info.value)
    assert any(isinstance(a, EndCall) for a in actions)
    close = actions[-1]
    assert (
        isinstance(close, Close) and close.code == 1007 and close.reason.startswith("bad_payload")
    )
    assert len(close.reason.encode()) <= 123


def test_binary_frames_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        TwilioProtocol().receive_bytes(b"\0" * 160)
