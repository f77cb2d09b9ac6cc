"""The native /v1/ingest protocol and per-leg decoding, driven with plain messages (no server)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voice_assist.audio import pcm
from voice_assist.errors import ProtocolError, UnsupportedAudioError
from voice_assist.server.ingress import Audio, Close, EndCall, Send, StartCall
from voice_assist.server.legs import LegDecoder, MediaFormat
from voice_assist.server.native import NativeProtocol


def start_message(**media: object) -> str:
    fmt = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
    fmt.update(media)
    return json.dumps({"type": "start", "media": fmt, "agent_id": "a42", "custom": {"crm": "7"}})


def tone(freq_hz: float, n: int, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    return (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def interleave(*planes: np.ndarray) -> np.ndarray:
    return np.stack(planes, axis=1).reshape(-1)


def test_start_stream_stop() -> None:
    proto = NativeProtocol()
    actions = proto.receive_text(start_message())
    assert len(actions) == 1 and isinstance(actions[0], StartCall)
    start = actions[0]
    assert start.agent_id == "a42"
    assert start.media.channel_map == ("customer", "agent")
    assert dict(start.meta) == {"crm": "7"}

    (started,) = proto.call_opened("c1")
    assert isinstance(started, Send)
    assert started.message["type"] == "started"
    assert started.message["call_id"] == "c1"
    assert started.message["seq"] == 1

    customer, agent = tone(300, 1600, 16000), tone(900, 1600, 16000)
    (audio,) = proto.receive_bytes(pcm.pcm16_encode(interleave(customer, agent)))
    assert isinstance(audio, Audio)
    np.testing.assert_allclose(audio.legs["customer"], customer, atol=1e-4)
    np.testing.assert_allclose(audio.legs["agent"], agent, atol=1e-4)

    (mark,) = proto.receive_text('{"type": "mark", "name": "m1"}')
    assert isinstance(mark, Send) and mark.message == {
        "type": "mark",
        "v": 1,
        "call_id": "c1",
        "seq": 2,
        "t_ms": 100,
        "name": "m1",
    }
    (pong,) = proto.receive_text('{"type": "ping", "id": 7}')
    assert isinstance(pong, Send) and pong.message["type"] == "pong" and pong.message["id"] == 7

    actions = proto.receive_text('{"type": "stop"}')
    kinds = [type(a).__name__ for a in actions]
    assert kinds[-3:] == ["EndCall", "Send", "Close"]
    end = actions[-3]
    assert isinstance(end, EndCall) and end.reason == "stop"
    close = actions[-1]
    assert isinstance(close, Close) and close.code == 1000


def test_mulaw_8k_mono_is_resampled_to_16k() -> None:
    proto = NativeProtocol()
    proto.receive_text(start_message(encoding="mulaw", sample_rate=8000, channels=1))
    proto.call_opened("c2")
    x = tone(400, 8000, 8000)
    got = []
    for i in range(0, 8000, 160):  # 20 ms telephony frames
        (audio,) = proto.receive_bytes(pcm.mulaw_encode(x[i : i + 160]))
        assert isinstance(audio, Audio)
        assert set(audio.legs) == {"customer"}
        got.append(audio.legs["customer"])
    for action in proto.receive_text('{"type": "stop"}'):
        if isinstance(action, Audio):
            got.append(action.legs["customer"])
    y = np.concatenate(got)
    assert abs(y.size - 16000) <= 2
    # A 400 Hz tone survives: the spectrum peaks at 400 Hz at the new rate.
    spectrum = np.abs(np.fft.rfft(y[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert abs(peak_hz - 400) < 5


def test_channel_map_can_swap_legs() -> None:
    proto = NativeProtocol()
    proto.receive_text(start_message(channel_map=["agent", "customer"]))
    proto.call_opened("c3")
    a, b = tone(300, 320, 16000), tone(900, 320, 16000)
    (audio,) = proto.receive_bytes(pcm.pcm16_encode(interleave(a, b)))
    assert isinstance(audio, Audio)
    np.testing.assert_allclose(audio.legs["agent"], a, atol=1e-4)
    np.testing.assert_allclose(audio.legs["customer"], b, atol=1e-4)


def test_binary_before_start() -> None:
    proto = NativeProtocol()
    with pytest.raises(ProtocolError) as info:
        proto.receive_bytes(b"\0\0" * 10)
    assert info.value.code == "binary_before_start"
    actions = proto.fail(info.value)
    assert isinstance(actions[0], Send) and actions[0].message["code"] == "binary_before_start"
    assert isinstance(actions[-1], Close) and actions[-1].code == 1008
    assert not any(isinstance(a, EndCall) for a in actions)  # no call was open


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "malformed_json"),
        ('{"type": "start"}', "bad_message"),
        (
            '{"type": "start", "media": {"encoding": "pcm_s16le", "sample_rate": 16000}}',
            "bad_message",
        ),
        (start_message(encoding="opus"), "unsupported_media"),
        (start_message(sample_rate=44100), "unsupported_media"),
        (start_message(channels=3), "unsupported_media"),
        (start_message(channel_map=["customer", "customer"]), "unsupported_media"),
        (start_message(channel_map=["caller", "agent"]), "unsupported_media"),
        (start_message(sample_rate="16000"), "unsupported_media"),
        ('{"type": "stop"}', "unexpected_stop"),
    ],
)
def test_bad_start_messages(text: str, code: str) -> None:
    proto = NativeProtocol()
    with pytest.raises(ProtocolError) as info:
        proto.receive_text(text)
    assert info.value.code == code


def test_unknown_type_is_reported_not_fatal() -> None:
    proto = NativeProtocol()
    (reply,) = proto.receive_text('{"type": "dance"}')
    assert isinstance(reply, Send)
    assert reply.message["code"] == "unknown_type" and reply.message["fatal"] is False
    # the connection goes on: a start still works
    assert isinstance(proto.receive_text(start_message())[0], StartCall)


def test_wrong_payload_size_fails_and_ends_the_call() -> None:
    proto = NativeProtocol()
    proto.receive_text(start_message())  # stereo pcm16: 4-byte frames
    proto.call_opened("c4")
    for size in (3, 6, 0):
        with pytest.raises(ProtocolError) as info:
            proto.receive_bytes(b"\1" * size)
        assert info.value.code == "bad_frame_size"
    actions = proto.fail(info.value)
    assert isinstance(actions[0], Send) and actions[0].message["fatal"] is True
    assert any(
        isinstance(a, EndCall) and a.reason == "protocol_error:bad_frame_size" for a in actions
    )
    assert isinstance(actions[-1], Close) and actions[-1].code == 1007
    assert actions[-1].reason == "bad_frame_size"


def test_oversized_payload() -> None:
    proto = NativeProtocol(max_payload_bytes=1024)
    proto.receive_text(start_message())
    proto.call_opened("c5")
    with pytest.raises(ProtocolError, match="exceeds"):
        proto.receive_bytes(b"\0" * 2048)


def test_start_twice_and_audio_after_stop() -> None:
    proto = NativeProtocol()
    proto.receive_text(start_message())
    proto.call_opened("c6")
    with pytest.raises(ProtocolError) as info:
        proto.receive_text(start_message())
    assert info.value.code == "unexpected_start"
    proto.receive_text('{"type": "stop"}')
    with pytest.raises(ProtocolError) as info:
        proto.receive_bytes(b"\0" * 4)
    assert info.value.code == "audio_after_stop"


def test_client_vanishing_ends_the_call_once() -> None:
    proto = NativeProtocol()
    proto.receive_text(start_message())
    proto.call_opened("c7")
    proto.receive_bytes(pcm.pcm16_encode(np.zeros(640, dtype=np.float32)))
    actions = proto.connection_lost()
    assert [a.reason for a in actions if isinstance(a, EndCall)] == ["client_gone"]
    assert proto.connection_lost() == []


def test_nan_samples_cannot_come_from_pcm_but_are_counted_when_sanitised() -> None:
    dec = LegDecoder(
        MediaFormat(
            encoding="pcm_s16le", sample_rate_hz=16000, channels=1, channel_map=("customer",)
        )
    )
    out = dec.decode(pcm.pcm16_encode(np.full(160, 2.0, dtype=np.float32)))  # clipped, not NaN
    assert float(np.max(out["customer"])) <= 1.0
    assert dec.position_ms == 10


def test_media_format_validation() -> None:
    with pytest.raises(UnsupportedAudioError):
        MediaFormat(
            encoding="pcm_s16le", sample_rate_hz=16000, channels=2, channel_map=("customer",)
        )
    fmt = MediaFormat(
        encoding="mulaw", sample_rate_hz=8000, channels=2, channel_map=("customer", "agent")
    )
    assert fmt.frame_bytes == 2
    assert fmt.describe()["channel_map"] == ["customer", "agent"]
