"""Genesys AudioHook v2 adapter: the open/ping/pause/close transactions, seq and position."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from voice_assist import events as ev
from voice_assist.audio import pcm
from voice_assist.errors import ProtocolError
from voice_assist.server.audiohook import AudioHookProtocol, format_duration, parse_duration_ms
from voice_assist.server.ingress import Audio, Close, EndCall, Send, StartCall

SESSION = "e160e428-53e2-487c-977d-96989bf5c99d"


class Client:
    """Builds client messages with a running seq, as Genesys does."""

    def __init__(self) -> None:
        self.seq = 0
        self.serverseq = 0
        self.position_ms = 0

    def msg(self, kind: str, **parameters: Any) -> str:
        self.seq += 1
        return json.dumps(
            {
                "version": "2",
                "id": SESSION,
                "type": kind,
                "seq": self.seq,
                "serverseq": self.serverseq,
                "position": format_duration(self.position_ms),
                "parameters": parameters,
            }
        )

    def seen(self, actions: list[Any]) -> list[dict[str, Any]]:
        sent = [dict(a.message) for a in actions if isinstance(a, Send)]
        for m in sent:
            self.serverseq = m["seq"]
        return sent


def open_params(**custom: str) -> dict[str, Any]:
    return {
        "organizationId": "d7934305-0972-4844-938e-9060eef73d05",
        "conversationId": "090eaa2f-72fa-480a-83e0-8667ff89c0ec",
        "participant": {
            "id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0",
            "ani": "+1-555-555-1234",
            "aniName": "John Doe",
            "dnis": "+1-800-555-6789",
        },
        "media": [
            {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000},
            {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000},
            {"type": "audio", "format": "L16", "channels": ["external", "internal"], "rate": 8000},
        ],
        "language": "en-US",
        "customConfig": dict(custom),
    }


def opened_session(**custom: str) -> tuple[AudioHookProtocol, Client, StartCall]:
    proto, client = AudioHookProtocol(), Client()
    (start,) = proto.receive_text(client.msg("open", **open_params(**custom)))
    assert isinstance(start, StartCall)
    (opened,) = client.seen(proto.call_opened("call-1"))
    assert opened["type"] == "opened"
    return proto, client, start


def stereo_frame(n: int = 160) -> bytes:
    t = np.arange(n) / 8000
    ext = 0.3 * np.sin(2 * np.pi * 300 * t)
    internal = 0.3 * np.sin(2 * np.pi * 900 * t)
    return pcm.mulaw_encode(np.stack([ext, internal], axis=1).reshape(-1).astype(np.float32))


def test_open_chooses_pcmu_stereo_and_agent_from_custom_config() -> None:
    proto, client = AudioHookProtocol(), Client()
    (start,) = proto.receive_text(client.msg("open", **open_params(agent_id="agent-9")))
    assert isinstance(start, StartCall)
    assert start.agent_id == "agent-9"
    assert start.media.channel_map == ("customer", "agent")
    assert start.meta["conversation_id"] == "090eaa2f-72fa-480a-83e0-8667ff89c0ec"
    assert "+1-555-555-1234" not in start.meta.values()  # no caller number in call metadata
    (opened,) = client.seen(proto.call_opened("call-1"))
    assert opened == {
        "version": "2",
        "type": "opened",
        "seq": 1,
        "clientseq": 1,
        "id": SESSION,
        "parameters": {
            "media": [
                {
                    "type": "audio",
                    "format": "PCMU",
                    "channels": ["external", "internal"],
                    "rate": 8000,
                }
            ],
            "startPaused": False,
        },
    }


def test_agent_falls_back_to_participant() -> None:
    _, _, start = opened_session()
    assert start.agent_id == "883efee8-3d6c-4537-b500-6d7ca4b92fa0"


def test_audio_ping_pause_resume_close_with_seq_and_position() -> None:
    proto, client, _ = opened_session(agent_id="a1")
    (audio,) = proto.receive_bytes(stereo_frame())
    assert isinstance(audio, Audio) and set(audio.legs) == {"customer", "agent"}
    client.position_ms = 20
    (pong,) = client.seen(proto.receive_text(client.msg("ping", rtt="PT0.05S")))
    assert pong["type"] == "pong" and pong["seq"] == 2 and pong["clientseq"] == 2

    # server-initiated pause: the server asks, the client confirms with paused
    (pause,) = client.seen(proto.pause())
    assert pause["type"] == "pause"
    assert proto.receive_text(client.msg("paused")) == []
    assert proto.state == "paused"
    with pytest.raises(ProtocolError, match="paused"):
        proto.receive_bytes(stereo_frame())
    (resume,) = client.seen(proto.resume())
    assert resume["type"] == "resume"
    client.position_ms = 2020
    assert proto.receive_text(client.msg("resumed", start="PT0.02S", discarded="PT2S")) == []
    assert proto.state == "active"
    assert proto.position_ms == 2020  # 20 ms received + 2 s discarded

    assert proto.receive_text(client.msg("update", language="de-DE")) == []
    assert proto.language == "de-DE"
    assert proto.receive_text(client.msg("error", code=500, message="client trouble")) == []
    assert proto.client_errors == ["500: client trouble"]

    actions = proto.receive_text(client.msg("close", reason="end"))
    assert [type(a).__name__ for a in actions][-3:] == ["EndCall", "Send", "Close"]
    assert any(isinstance(a, EndCall) and a.reason == "close:end" for a in actions)
    closed = [a.message for a in actions if isinstance(a, Send)][0]
    assert closed["type"] == "closed" and closed["clientseq"] == client.seq


def test_seq_out_of_order_disconnects_with_error() -> None:
    proto, client, _ = opened_session(agent_id="a1")
    client.seq += 1  # skip one
    with pytest.raises(ProtocolError) as info:
        proto.receive_text(client.msg("ping"))
    assert info.value.code == "bad_sequence"
    actions = proto.fail(info.value)
    sent = [a.message for a in actions if isinstance(a, Send)]
    assert sent[-1]["type"] == "disconnect"
    assert sent[-1]["parameters"]["reason"] == "error"
    assert "bad_sequence" in sent[-1]["parameters"]["info"]
    assert any(isinstance(a, EndCall) for a in actions)
    # frames in flight are dropped; then the client closes and gets closed
    assert proto.receive_bytes(stereo_frame()) == []
    client.seq = proto.clientseq
    actions = proto.receive_text(client.msg("close", reason="error"))
    assert [a.message["type"] for a in actions if isinstance(a, Send)] == ["closed"]
    assert not any(isinstance(a, EndCall) for a in actions)  # ended once already


def test_serverseq_ahead_of_server() -> None:
    proto, client, _ = opened_session(agent_id="a1")
    client.serverseq = 99
    with pytest.raises(ProtocolError, match="serverseq"):
        proto.receive_text(client.msg("ping"))


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda m: m.update(version="1"), "bad_message"),
        (lambda m: m.update(type="dance"), "unknown_type"),
        (lambda m: m.update(position="12 seconds"), "bad_message"),
        (lambda m: m.update(parameters=[]), "bad_message"),
        (lambda m: m.pop("seq"), "bad_message"),
    ],
)
def test_bad_envelopes(mutate: Any, code: str) -> None:
    proto, client = AudioHookProtocol(), Client()
    message = json.loads(client.msg("open", **open_params(agent_id="a")))
    mutate(message)
    with pytest.raises(ProtocolError) as info:
        proto.receive_text(json.dumps(message))
    assert info.value.code == code


def test_binary_before_open_and_no_usable_media() -> None:
    with pytest.raises(ProtocolError) as info:
        AudioHookProtocol().receive_bytes(stereo_frame())
    assert info.value.code == "binary_before_start"
    params = open_params(agent_id="a")
    params["media"] = [{"type": "audio", "format": "L16", "channels": ["external"], "rate": 8000}]
    proto, client = AudioHookProtocol(), Client()
    with pytest.raises(ProtocolError) as info:
        proto.receive_text(client.msg("open", **params))
    assert info.value.code == "unsupported_media"
    sent = [a.message for a in proto.fail(info.value) if isinstance(a, Send)]
    assert sent[0]["type"] == "disconnect"


def test_wrong_frame_size() -> None:
    proto, _, _ = opened_session(agent_id="a1")
    with pytest.raises(ProtocolError) as info:
        proto.receive_bytes(b"\xff" * 161)  # stereo PCMU needs an even byte count
    assert info.value.code == "bad_frame_size"


def test_refused_call_disconnects_unauthorized_or_error() -> None:
    proto, client = AudioHookProtocol(), Client()
    proto.receive_text(client.msg("open", **open_params(agent_id="a")))
    sent = [
        a.message
        for a in proto.call_refused(ProtocolError("at capacity", code="overloaded"))
        if isinstance(a, Send)
    ]
    assert sent[0]["type"] == "disconnect" and sent[0]["parameters"]["reason"] == "error"
    assert "opened" not in [m["type"] for m in sent]


def test_transcripts_and_prompts_go_back_as_events() -> None:
    proto, _, _ = opened_session(agent_id="a1")
    proto.discarded_ms = 1000
    words = (ev.Word(text=" Hello", start_ms=200, end_ms=500, probability=0.9),)
    final = ev.TranscriptEvent(
        call_id="call-1",
        t_ms=900,
        channel="agent",
        utterance_id="u1",
        is_final=True,
        text=" Hello",
        start_ms=200,
        end_ms=900,
        words=words,
    )
    (send,) = proto.on_event(final)
    assert isinstance(send, Send)
    entity = send.message["parameters"]["entities"][0]
    assert entity["type"] == "transcript"
    assert entity["data"]["channel"] == "internal"
    assert entity["data"]["offset"] == "PT1.2S"
    assert entity["data"]["alternatives"][0]["interpretations"][0]["transcript"] == "Hello"
    partial = ev.TranscriptEvent(
        call_id="call-1",
        t_ms=900,
        channel="agent",
        utterance_id="u2",
        is_final=False,
        text="Hel",
        start_ms=0,
        end_ms=900,
    )
    assert proto.on_event(partial) == []
    prompt = ev.Prompt(
        call_id="call-1",
        t_ms=1000,
        prompt_id="p1",
        kind="pause_and_acknowledge",
        severity="urgent",
        text="Pause and acknowledge",
        suggested_phrase="I can see where that would be <really> frustrating",
        evidence={},
        ttl_ms=20000,
    )
    (send,) = proto.on_event(prompt)
    assert isinstance(send, Send)
    suggestion = send.message["parameters"]["entities"][0]["data"]["suggestions"][0]
    assert "&lt;really&gt;" in suggestion["answer"]


def test_connection_lost_ends_call() -> None:
    proto, _, _ = opened_session(agent_id="a1")
    actions = proto.connection_lost()
    assert [a.reason for a in actions if isinstance(a, EndCall)] == ["client_gone"]
    assert proto.connection_lost() == []


def test_durations() -> None:
    assert parse_duration_ms("PT12.345S") == 12345
    assert parse_duration_ms("PT0S") == 0
    assert format_duration(1200) == "PT1.2S"
    assert format_duration(0) == "PT0S"
    for bad in ("12S", "PT-1S", "P1D", None):
        with pytest.raises(ProtocolError):
            parse_duration_ms(bad)


def test_close_reason_fits_a_close_frame() -> None:
    proto = AudioHookProtocol()
    proto.state = "disconnecting"
    (close,) = proto.fail(ProtocolError("x" * 300, code="bad_message"))
    assert isinstance(close, Close) and len(close.reason.encode()) <= 123
