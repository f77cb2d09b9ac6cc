"""Secure-flow pauses at the edge: no audio of a paused span reaches the pipeline (sans-I/O)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voice_assist.audio import pcm
from voice_assist.errors import ProtocolError
from voice_assist.server.audiohook import AudioHookProtocol
from voice_assist.server.ingress import Audio, Send
from voice_assist.server.native import NativeProtocol

SECOND = pcm.pcm16_encode(np.full(2 * 16000, 0.01, np.float32))  # 1 s, two channels


def started() -> NativeProtocol:
    proto = NativeProtocol()
    start = {"type": "start", "agent_id": "a1",
             "media": {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}}  # fmt: skip
    proto.receive_text(json.dumps(start))
    proto.call_opened("c1")
    return proto


def test_native_pause_drops_audio_until_resume() -> None:
    proto = started()
    assert isinstance(proto.receive_bytes(SECOND)[0], Audio)
    (paused,) = proto.receive_text('{"type": "pause"}')
    assert isinstance(paused, Send) and paused.message["type"] == "paused"
    assert proto.receive_bytes(SECOND) == [] and proto.receive_bytes(SECOND[:640]) == []
    (resumed,) = proto.receive_text('{"type": "resume"}')
    assert resumed.message["type"] == "resumed"  # type: ignore[union-attr]
    assert resumed.message["discarded_ms"] == 1010 and resumed.message["t_ms"] == 1000  # type: ignore[union-attr]
    assert isinstance(proto.receive_bytes(SECOND)[0], Audio)
    proto.receive_text('{"type": "pause"}')
    actions = proto.receive_text('{"type": "stop"}')  # a call may end while paused
    assert any(isinstance(a, Send) and a.message["type"] == "stopped" for a in actions)


def test_native_pause_before_start_is_an_error() -> None:
    with pytest.raises(ProtocolError) as info:
        NativeProtocol().receive_text('{"type": "pause"}')
    assert info.value.code == "unexpected_pause"


def test_audiohook_audio_while_paused_is_refused() -> None:
    proto = AudioHookProtocol()
    envelope = {"version": "2", "id": "s1", "serverseq": 0, "position": "PT0S"}
    proto.receive_text(json.dumps({**envelope, "type": "open", "seq": 1, "parameters": {
        "participant": {"id": "p"},
        "media": [{"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}],
    }}))  # fmt: skip
    proto.call_opened("c1")
    proto.receive_text(json.dumps({**envelope, "type": "paused", "seq": 2, "parameters": {}}))
    with pytest.raises(ProtocolError, match="paused"):
        proto.receive_bytes(b"\xff" * 160)
