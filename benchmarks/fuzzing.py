"""Fuzzing the wire: hypothesis strategies for every ingress adapter and feed handler,
and the drivers that check what must hold whatever a client sends.

Used by ``tests/test_fuzz_*.py`` (a modest example budget) and ``voice-assist bench
fuzz`` (a larger one, with counts).  Needs hypothesis, a dev dependency: import this
module lazily.

Invariants, checked for every generated input sequence
-------------------------------------------------------
Ingress adapters (:mod:`voice_assist.server.native`, ``.twilio``, ``.audiohook``), driven
the way :class:`~voice_assist.server.ingest.IngressConnection` drives them:

* an input either returns actions or raises :class:`ProtocolError` with a non-empty
  code; any other exception is a crash;
* every :class:`Send` serialises to strict JSON (no NaN) of bounded size; every
  :class:`Close` has a websocket close code and a reason that fits a close frame;
* every :class:`Audio` leg is a finite float32 vector of a known channel, no longer than
  one message may carry (memory stays bounded per message);
* a :class:`StartCall` carries a bounded agent id and bounded string metadata, all of it
  storable text (UTF-8, no NUL) and nothing named like a credential (``api_key``, ...);
* a call that was opened ends exactly once (one :class:`EndCall`), however the
  connection goes (without a call, at most one EndCall, which the runner ignores).

Feed handlers (``/v1/agent``, ``/v1/supervisor``): every client message goes through the
feed's own reader (size cap, JSON, ``on_message``); no exception escapes, every reply is
strict JSON, and the connection is closed (1008) only after too many bad messages.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

from voice_assist import events as ev
from voice_assist.errors import ProtocolError
from voice_assist.server.audiohook import AudioHookProtocol, format_duration
from voice_assist.server.ingress import (
    Audio,
    Close,
    EndCall,
    IngressProtocol,
    Send,
    StartCall,
    is_credential_name,
)
from voice_assist.server.native import NativeProtocol
from voice_assist.server.twilio import MAX_GAP_FILL_MS, TwilioProtocol

MAX_PAYLOAD_BYTES = 4096
"""Payload limit the fuzzed adapters are built with (frames around it are generated)."""
MAX_SEND_CHARS = 8192
MAX_META_ITEMS = 40
RESAMPLER_SLACK = 4096

Step = tuple[str, Any]
"""``("text", str)``, ``("bytes", bytes)``, ``("lost", None)`` or ``("ah", spec)``."""


# -- tallies ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Tally:
    """What one target was fed and how it answered."""

    sequences: int = 0
    messages: int = 0
    calls_opened: int = 0
    rejections: collections.Counter[str] = field(default_factory=collections.Counter)
    closes: collections.Counter[int] = field(default_factory=collections.Counter)
    replies: collections.Counter[str] = field(default_factory=collections.Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sequences": self.sequences,
            "messages": self.messages,
            "calls_opened": self.calls_opened,
            "rejections": dict(self.rejections.most_common()),
            "close_codes": {str(k): v for k, v in sorted(self.closes.items())},
            "replies": dict(self.replies.most_common()),
        }


# -- generic junk ------------------------------------------------------------------------------
MISSING = object()

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u202e", "../../etc/passwd"])
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)
huge_strings = st.builds(
    lambda n, c: c * n, st.integers(min_value=200, max_value=20_000), st.sampled_from("x9é\0 ")
)
junk = json_values | huge_strings
meta_keys = st.sampled_from(["api_key", "Token", "KEY", "crm", "agent_id"]) | st.text(max_size=80)
"""Keys of client metadata, credential-like names included."""
junk_lists = st.lists(json_values, min_size=1, max_size=3)
"""Lists of anything, nested lists and objects included (unhashable members)."""
MALFORMED_TEXT = (
    "",
    "{",
    "}",
    "null",
    "[]",
    "[1, 2]",
    '"start"',
    "1e999",
    "NaN",
    "-Infinity",
    '{"type": "start"}{',
    '{"type": NaN}',
    '{"event": "media", "media": {"payload": "AAAA"}',
    "[" * 5000,
    '{"a":' * 3000,
    "\ud800",
    "\x00",
)
malformed_text = st.sampled_from(MALFORMED_TEXT) | st.text(max_size=300)


def maybe(
    valid: st.SearchStrategy[Any], junk_values: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[Any]:
    """Mostly the valid value, sometimes junk, sometimes missing."""
    return st.one_of(valid, valid, valid, junk if junk_values is None else junk_values,
                     st.just(MISSING))  # fmt: skip


def message(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object whose fields are drawn from ``fields`` (``MISSING`` ones dropped),
    sometimes with junk extra keys."""

    def build(values: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in values.items() if v is not MISSING}
        out.update(extra)
        return out

    return st.builds(
        build,
        st.fixed_dictionaries(fields),
        st.dictionaries(st.text(max_size=8), json_values, max_size=2),
    )


def text_step(obj: st.SearchStrategy[Any]) -> st.SearchStrategy[Step]:
    return obj.map(lambda m: ("text", json.dumps(m, allow_nan=True)))


FRAME_SIZES = (0, 1, 2, 3, 159, 160, 161, 319, 320, 321, 640, 1279, 1280, 4095, 4096, 4097)
frames = st.one_of(
    st.binary(max_size=700),
    st.builds(
        lambda n, b: bytes([b]) * n,
        st.sampled_from(FRAME_SIZES) | st.integers(min_value=0, max_value=MAX_PAYLOAD_BYTES + 64),
        st.integers(min_value=0, max_value=255),
    ),
).map(lambda b: ("bytes", b))
raw_text = malformed_text.map(lambda t: ("text", t))
lost = st.just(("lost", None))


# -- native ------------------------------------------------------------------------------------
native_media = message(
    encoding=maybe(st.sampled_from(["pcm_s16le", "mulaw", "opus", "PCM_S16LE"])),
    sample_rate=maybe(st.sampled_from([8000, 16000, 44100, 0, -8000])),
    channels=maybe(st.sampled_from([1, 2, 3, 0])),
    channel_map=maybe(
        st.sampled_from(
            [["customer", "agent"], ["agent", "customer"], ["customer"], ["agent", "agent"], []]
        )
        | junk_lists
    ),
)
native_start = message(
    type=st.just("start"),
    media=maybe(native_media),
    agent_id=maybe(st.sampled_from(["a1", " a2 ", "", "x" * 129])),
    custom=maybe(st.dictionaries(meta_keys, junk, max_size=40)),
)
native_other = message(
    type=st.sampled_from(["stop", "ping", "mark", "pong", "dance", ""]) | junk,
    id=maybe(json_scalars),
    name=maybe(st.text(max_size=200) | st.integers()),
)
native_step = st.one_of(
    text_step(native_start), text_step(native_other), frames, frames, raw_text, lost
)
native_sequences = st.lists(native_step, min_size=1, max_size=12)
"""Anything, in any order; a well-formed start is common so later messages matter."""
native_good_start = st.builds(
    lambda enc, rate, chans, swap, custom: {
        "type": "start",
        "media": {
            "encoding": enc,
            "sample_rate": rate,
            "channels": chans,
            "channel_map": (["agent", "customer"] if swap else ["customer", "agent"])[:chans],
        },
        "agent_id": "a1",
        "custom": custom,
    },
    st.sampled_from(["pcm_s16le", "mulaw"]),
    st.sampled_from([8000, 16000]),
    st.sampled_from([1, 2]),
    st.booleans(),
    st.dictionaries(meta_keys, junk, max_size=40),
)
native_sessions = st.builds(
    lambda start, rest: [start, *rest],
    text_step(native_good_start),
    st.lists(
        st.one_of(
            frames, frames, frames, text_step(native_other), text_step(native_start), raw_text, lost
        ),
        max_size=12,
    ),
)
"""A well-formed start, then anything."""


# -- Twilio ------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


payloads = st.one_of(
    st.builds(lambda n: _b64(bytes(n)), st.sampled_from([0, 1, 80, 160, 161, 4096, 4097])),
    st.binary(max_size=400).map(_b64),
    st.sampled_from(
        ["", "=", "A", "AB=", "A===", "!!!!", "AAAA AAAA", "AA\nAA", "-_-_", "\u00e9AAA"]
    ),
    json_scalars,
)
timestamps = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**12).map(str),
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["", "1.5", "1e9", "9" * 5000, "-1", "NaN"]),
    json_scalars,
)
twilio_start = message(
    event=st.just("start"),
    sequenceNumber=maybe(st.text(max_size=5)),
    streamSid=maybe(st.text(max_size=40)),
    start=maybe(
        message(
            streamSid=maybe(st.text(max_size=40)),
            callSid=maybe(st.text(max_size=80)),
            tracks=maybe(
                st.sampled_from(
                    [
                        ["inbound"],
                        ["outbound"],
                        ["inbound", "outbound"],
                        ["inbound", "inbound"],
                        [],
                        ["both"],
                    ]
                )
                | junk_lists
            ),
            mediaFormat=maybe(
                message(
                    encoding=maybe(st.sampled_from(["audio/x-mulaw", "audio/l16"])),
                    sampleRate=maybe(st.sampled_from([8000, 16000])),
                    channels=maybe(st.sampled_from([1, 2])),
                )
            ),
            customParameters=maybe(
                message(
                    agent_id=maybe(st.sampled_from(["tw1", "", "y" * 200])),
                    api_key=maybe(st.sampled_from(["the-key", ""])),
                    key=maybe(st.just("other-key")),
                    crm=maybe(st.text(max_size=300)),
                )
            ),
        )
    ),
)
twilio_media = message(
    event=st.just("media"),
    sequenceNumber=maybe(st.integers(min_value=0).map(str)),
    media=maybe(
        message(
            track=maybe(st.sampled_from(["inbound", "outbound", "both", ""])),
            chunk=maybe(st.integers(min_value=0).map(str)),
            timestamp=maybe(timestamps),
            payload=maybe(payloads),
        )
    ),
)
twilio_other = message(
    event=st.sampled_from(["connected", "mark", "dtmf", "stop", "closed", "unknown"]) | junk,
    mark=maybe(message(name=maybe(st.text(max_size=300)))),
    stop=maybe(st.just({})),
)
twilio_step = st.one_of(
    text_step(twilio_start),
    text_step(twilio_media),
    text_step(twilio_media),
    text_step(twilio_other),
    raw_text,
    frames,
    lost,
)
twilio_sequences = st.lists(twilio_step, min_size=1, max_size=14)
twilio_good_start = st.builds(
    lambda tracks, params: {
        "event": "start",
        "start": {
            "streamSid": "MZ1",
            "callSid": "CA1",
            "tracks": tracks,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"agent_id": "tw1", "api_key": "the-key", **params},
        },
    },
    st.sampled_from([["inbound"], ["outbound"], ["inbound", "outbound"]]),
    st.dictionaries(meta_keys, junk, max_size=40),
)
twilio_sessions = st.builds(
    lambda start, rest: [start, *rest],
    text_step(twilio_good_start),
    st.lists(
        st.one_of(text_step(twilio_media), text_step(twilio_media), text_step(twilio_other), lost),
        max_size=12,
    ),
)


# -- AudioHook ---------------------------------------------------------------------------------
durations = st.one_of(
    st.integers(min_value=0, max_value=10**7).map(format_duration),
    st.sampled_from(["PT0S", "PT1.5S", "PT", "P1S", "PT-1S", "PT1e3S", "PT" + "9" * 400 + "S"]),
    json_scalars,
)
ah_offer = message(
    type=maybe(st.just("audio")),
    format=maybe(st.sampled_from(["PCMU", "L16"])),
    rate=maybe(st.sampled_from([8000, 16000])),
    channels=maybe(
        st.sampled_from(
            [
                ["external", "internal"],
                ["external"],
                ["internal"],
                ["internal", "external"],
                ["x"],
                [],
            ]
        )
        | junk_lists
    ),
)
ah_channels_only = st.builds(
    lambda channels: {"type": "audio", "format": "PCMU", "rate": 8000, "channels": channels},
    junk_lists | st.lists(st.sampled_from(["external", "internal", "x"]), max_size=3),
)
"""An offer that is right but for its channels (reaching the channel checks)."""
ah_open_params = message(
    organizationId=maybe(st.text(max_size=80)),
    conversationId=maybe(st.text(max_size=80)),
    language=maybe(st.text(max_size=80)),
    media=maybe(st.lists(ah_offer | ah_channels_only | junk, max_size=3)),
    participant=maybe(message(id=maybe(st.sampled_from(["p1", "", "z" * 300])))),
    customConfig=maybe(message(agent_id=maybe(st.sampled_from(["ah1", "", "w" * 300])))),
)
ah_params = st.one_of(
    message(  # open
        organizationId=maybe(st.text(max_size=80)),
        conversationId=maybe(st.text(max_size=80)),
        language=maybe(st.text(max_size=80)),
        media=maybe(st.lists(ah_offer | junk, max_size=3)),
        participant=maybe(message(id=maybe(st.sampled_from(["p1", "", "z" * 300])))),
        customConfig=maybe(message(agent_id=maybe(st.sampled_from(["ah1", "", "w" * 300])))),
    ),
    message(discarded=maybe(durations)),
    message(language=maybe(st.text(max_size=60)), reason=maybe(st.text(max_size=60))),
    message(code=maybe(json_scalars), message=maybe(st.text(max_size=400))),
    st.just({}),
    junk,
)
ah_spec = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["open", "open", "ping", "paused", "resumed", "discarded", "update", "error", "close"]
        )
        | junk,
        "parameters": ah_params,
        "seq": st.sampled_from(["next"] * 6 + ["repeat", "skip", "zero", "junk"]),
        "serverseq": st.sampled_from(["last"] * 4 + ["ahead", "negative", "junk"]),
        "position": durations,
        "version": st.sampled_from(["2"] * 8 + ["1", 2, None]),
        "id": st.sampled_from(["sess"] * 8 + ["other", "", None]),
    }
)
audiohook_step = st.one_of(ah_spec.map(lambda s: ("ah", s)), frames, frames, raw_text, lost)
audiohook_sequences = st.lists(audiohook_step, min_size=1, max_size=14)


def _open_spec(agent: str = "ah1") -> dict[str, Any]:
    offer = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
    return {
        "type": "open",
        "parameters": {"media": [offer], "customConfig": {"agent_id": agent}},
        "seq": "next",
        "serverseq": "last",
        "position": "PT0S",
        "version": "2",
        "id": "sess",
    }


audiohook_sessions = st.lists(audiohook_step, max_size=12).map(
    lambda rest: [("ah", _open_spec()), *rest]
)
"""A well-formed open, then anything."""
audiohook_opens = st.builds(
    lambda params, rest: [("ah", dict(_open_spec(), parameters=params)), *rest],
    ah_open_params,
    st.lists(st.one_of(frames, ah_spec.map(lambda s: ("ah", s))), max_size=4),
)
"""An open with a right envelope and fuzzed parameters (media offers, agent, ...)."""


def render_audiohook(spec: dict[str, Any], proto: AudioHookProtocol) -> str:
    """One AudioHook client message from a spec, numbered against the adapter's state."""
    seq = {
        "next": proto.clientseq + 1,
        "repeat": proto.clientseq,
        "skip": proto.clientseq + 2,
        "zero": 0,
        "junk": "1",
    }[spec["seq"]]
    serverseq = {"last": proto.seq, "ahead": proto.seq + 1, "negative": -1, "junk": None}[
        spec["serverseq"]
    ]
    body = {
        "version": spec["version"],
        "id": spec["id"],
        "type": spec["type"],
        "seq": seq,
        "serverseq": serverseq,
        "position": spec["position"],
        "parameters": spec["parameters"],
    }
    return json.dumps(body, allow_nan=True)


# -- the ingress driver ------------------------------------------------------------------------
PROTOCOLS: dict[str, Callable[[], IngressProtocol]] = {
    "native": lambda: NativeProtocol(max_payload_bytes=MAX_PAYLOAD_BYTES),
    "twilio": lambda: TwilioProtocol(max_payload_bytes=MAX_PAYLOAD_BYTES),
    "audiohook": lambda: AudioHookProtocol(max_payload_bytes=MAX_PAYLOAD_BYTES),
}
MAX_AUDIO_SAMPLES = 2 * MAX_PAYLOAD_BYTES + 16 * MAX_GAP_FILL_MS + RESAMPLER_SLACK
"""Most 16 kHz samples one message may yield per leg: a whole payload of 8 kHz mu-law
(doubled by resampling), plus Twilio's largest gap fill, plus a filter tail."""


@dataclass(slots=True)
class _Run:
    opened: bool = False
    ended: int = 0
    closed: bool = False
    calls: int = 0


def drive_ingress(kind: str, steps: list[Step], tally: Tally, *, open_ok: bool = True) -> None:
    """Feed ``steps`` to a fresh adapter of ``kind`` as the websocket runner would, and
    assert the invariants of the module docstring (AssertionError on a violation)."""
    proto = PROTOCOLS[kind]()
    run = _Run()
    tally.sequences += 1
    for step in steps:
        if run.closed:
            break
        tally.messages += 1
        _carry_out(proto, _input(proto, step, tally), run, tally, open_ok)
        if step[0] == "lost":  # the runner reads nothing after a disconnect
            return _check_ending(kind, run)
    if not run.closed:  # the client goes away (or had gone): the runner's last word
        _carry_out(proto, proto.connection_lost(), run, tally, open_ok)
    _check_ending(kind, run)


def _check_ending(kind: str, run: _Run) -> None:
    # the runner ignores an EndCall when no call was opened; an opened call ends once
    assert run.ended == 1 if run.opened else run.ended <= 1, (
        f"{kind}: call opened={run.opened} ended {run.ended} times"
    )


def _input(proto: IngressProtocol, step: Step, tally: Tally) -> list[Any]:
    kind, value = step
    try:
        if kind == "text":
            return proto.receive_text(value)
        if kind == "bytes":
            return proto.receive_bytes(value)
        if kind == "ah":
            assert isinstance(proto, AudioHookProtocol)
            return proto.receive_text(render_audiohook(value, proto))
        return proto.connection_lost()
    except ProtocolError as exc:
        return _rejected(proto, exc, tally)


def _rejected(proto: IngressProtocol, exc: ProtocolError, tally: Tally) -> list[Any]:
    assert isinstance(exc.code, str) and exc.code, "a ProtocolError without a code"
    assert str(exc), "a ProtocolError without a message"
    tally.rejections[exc.code] += 1
    return proto.fail(exc)


def _carry_out(
    proto: IngressProtocol, actions: list[Any], run: _Run, tally: Tally, open_ok: bool
) -> None:
    pending = list(actions)
    while pending:
        action = pending.pop(0)
        if isinstance(action, StartCall):
            _check_start(action)
            if open_ok:
                run.opened = True
                run.calls += 1
                tally.calls_opened += 1
                assert run.calls == 1, "a second StartCall on one connection"
                pending = proto.call_opened(f"call-{run.calls}") + pending
            else:
                pending = (
                    proto.call_refused(ProtocolError("no capacity", code="overloaded")) + pending
                )
        elif isinstance(action, Audio):
            _check_audio(action)
            if not run.opened or run.ended:  # what the runner does with such audio
                code = "bad_message" if not run.opened else "call_ended"
                pending = _rejected(proto, ProtocolError("audio out of turn", code=code), tally)
        elif isinstance(action, Send):
            text = action.text()  # strict JSON: raises on NaN/inf
            assert len(text) <= MAX_SEND_CHARS, f"a {len(text)}-char reply"
            assert isinstance(json.loads(text), dict)
        elif isinstance(action, EndCall):
            assert isinstance(action.reason, str) and action.reason
            run.ended += 1
        elif isinstance(action, Close):
            assert 1000 <= action.code <= 4999, action.code
            assert len(action.reason.encode()) <= 123, "close reason too long for a frame"
            tally.closes[action.code] += 1
            run.closed = True
            return  # the runner stops at a close
        else:
            raise AssertionError(f"unknown action {action!r}")


def _check_start(action: StartCall) -> None:
    assert isinstance(action.agent_id, str) and 1 <= len(action.agent_id) <= 128
    assert action.agent_id == action.agent_id.strip()
    _check_storable(action.agent_id)
    assert len(action.meta) <= MAX_META_ITEMS
    for key, value in action.meta.items():
        assert isinstance(key, str) and isinstance(value, str)
        assert len(key) <= 64 and len(value) <= 256
        assert not is_credential_name(key), "a credential was kept in the call metadata"
        _check_storable(key)
        _check_storable(value)


def _check_storable(text: str) -> None:
    """Text the call store can keep: UTF-8 encodable (no lone surrogate), no NUL."""
    text.encode("utf-8")
    assert "\x00" not in text, "a NUL character would make the call unstorable (PostgreSQL)"


def _check_audio(action: Audio) -> None:
    for channel, samples in action.legs.items():
        assert channel in ev.CHANNELS
        assert isinstance(samples, np.ndarray) and samples.dtype == np.float32
        assert samples.ndim == 1 and samples.size <= MAX_AUDIO_SAMPLES, samples.shape
        assert bool(np.isfinite(samples).all())


# -- feeds -------------------------------------------------------------------------------------
LIVE_CALL = "20260101-000000-abcdef"
FEED_AGENT = "a1"

feed_types = st.sampled_from(
    ["ping", "snapshot", "prompt_ack", "subscribe", "focus", "pong", "", "PING"]
)
feed_typed = text_step(
    message(
        type=maybe(feed_types, json_values),
        id=maybe(json_scalars, json_values),
        prompt_id=maybe(st.sampled_from(["p1", "", "q" * 200]), json_values),
        action=maybe(st.sampled_from(["shown", "dismissed", "followed", "eat"]), json_values),
        call_id=maybe(st.sampled_from([LIVE_CALL, "other", ""]), json_values),
        calls=maybe(
            st.sampled_from(["*", [LIVE_CALL], [], ["x"] * 300, [1, 2], "all"]) | junk_lists,
            json_values,
        ),
    )
)
"""Feed messages that fit the feeds' 4096-character cap (junk of every JSON type)."""
feed_messages = st.one_of(
    feed_typed,
    feed_typed,
    feed_typed,
    raw_text,
    frames,
    st.builds(
        lambda n: ("text", json.dumps({"type": "ping", "id": "x" * n})), st.integers(4000, 9000)
    ),
)
feed_sequences = st.lists(feed_messages, min_size=1, max_size=25)


class ScriptedSocket:
    """A websocket transport that delivers a script of client messages, then a
    disconnect, and keeps what the server sends (a stand-in for the network only)."""

    def __init__(self, steps: list[Step]) -> None:
        self._steps = list(steps)
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        from starlette.websockets import WebSocketState

        self.application_state = WebSocketState.CONNECTED

    async def receive(self) -> dict[str, Any]:
        await asyncio.sleep(0)
        if not self._steps:
            return {"type": "websocket.disconnect", "code": 1000}
        kind, value = self._steps.pop(0)
        if kind == "bytes":
            return {"type": "websocket.receive", "bytes": value}
        return {"type": "websocket.receive", "text": value}

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        from starlette.websockets import WebSocketState

        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED


class _Session:
    """The little of a call session a feed touches (acks are recorded)."""

    def __init__(self, call_id: str, agent_id: str) -> None:
        self.call_id, self.agent_id = call_id, agent_id
        self.acks: list[tuple[str, str]] = []

    def ack(self, prompt_id: str, action: str) -> None:
        self.acks.append((prompt_id, action))


class _FeedEngine:
    """A real event bus with one live call of agent ``a1`` and its session stand-in."""

    def __init__(self) -> None:
        from voice_assist.runtime.bus import EventBus

        self.bus = EventBus()
        self.ready = True
        self.sessions = {LIVE_CALL: _Session(LIVE_CALL, FEED_AGENT)}
        for event in _live_call_events():
            self.bus.publish(event, agent_id=FEED_AGENT)

    def session(self, call_id: str) -> _Session | None:
        return self.sessions.get(call_id)


def _live_call_events() -> list[ev.Event]:
    word = ev.Word(text="hello", start_ms=0, end_ms=400, probability=0.9)
    return [
        ev.CallStarted(call_id=LIVE_CALL, t_ms=0, agent_id=FEED_AGENT, source="native"),
        ev.DistressUpdate(
            call_id=LIVE_CALL,
            t_ms=250,
            channel="customer",
            score=0.7,
            level="elevated",
            provisional=False,
            features={"pitch_z": 1.0},
        ),
        ev.TranscriptEvent(
            call_id=LIVE_CALL,
            t_ms=400,
            channel="customer",
            utterance_id="u1",
            is_final=True,
            text="hello",
            stable_text="hello",
            start_ms=0,
            end_ms=400,
            words=(word,),
        ),
    ]


async def drive_feed(kind: str, steps: list[Step], tally: Tally) -> None:
    """Read ``steps`` through a real ``/v1/agent`` or ``/v1/supervisor`` feed connection."""
    from voice_assist.config import load_settings
    from voice_assist.server import auth
    from voice_assist.server.context import ServerContext
    from voice_assist.server.feeds import (
        MAX_BAD_CLIENT_MESSAGES,
        AgentFeed,
        FeedConnection,
        SupervisorFeed,
        TranscriptTail,
    )

    engine = _FeedEngine()
    settings = load_settings(env={}, overrides={"server": {"send_queue_max": 10_000}})
    ctx = ServerContext(settings=settings, secret="s", keys=auth.IngestKeys([]), engine=engine)  # type: ignore[arg-type]
    ctx.tail = TranscriptTail(engine.bus)  # type: ignore[arg-type]
    for event in _live_call_events():
        ctx.tail.on_event(event)
    role: auth.Role = "agent" if kind == "agent" else "supervisor"
    claims = auth.TokenClaims(
        role=role,
        agent_id=FEED_AGENT if role == "agent" else None,
        issued_at_s=0,
        expires_at_s=2**40,
    )
    sock = ScriptedSocket(steps)
    cls: type[FeedConnection] = AgentFeed if kind == "agent" else SupervisorFeed
    feed = cls(sock, ctx, claims)  # type: ignore[arg-type]
    tally.sequences += 1
    tally.messages += len(steps)
    try:
        await feed._read()
    finally:
        feed.sub.close()
    queued: list[str] = []
    while not feed.outbox._queue.empty():
        item = feed.outbox._queue.get_nowait()
        if isinstance(item, str):
            queued.append(item)
    for text in queued:
        body = json.loads(text, parse_constant=_no_constants)
        assert isinstance(body, dict) and isinstance(body.get("type"), str)
        tally.replies[body["type"]] += 1
        if body["type"] == "error":
            tally.rejections[str(body.get("code"))] += 1
            assert LIVE_CALL not in text or role == "supervisor" or body["code"] != "unknown_call"
    if feed.bad_messages >= MAX_BAD_CLIENT_MESSAGES:
        assert feed.outbox.closing
    elif feed.outbox.closing:
        raise AssertionError("a feed closed without cause")
    for session in engine.sessions.values():
        assert all(a in ("shown", "dismissed", "followed") for _, a in session.acks)


def _no_constants(name: str) -> float:
    raise AssertionError(f"non-standard JSON constant {name} sent to a client")


def finite(x: float) -> bool:
    return math.isfinite(x)


# -- catalogue ---------------------------------------------------------------------------------
INGRESS_TARGETS: dict[str, tuple[str, st.SearchStrategy[list[Step]]]] = {
    "native_any_order": ("native", native_sequences),
    "native_after_start": ("native", native_sessions),
    "twilio_any_order": ("twilio", twilio_sequences),
    "twilio_after_start": ("twilio", twilio_sessions),
    "audiohook_any_order": ("audiohook", audiohook_sequences),
    "audiohook_after_open": ("audiohook", audiohook_sessions),
    "audiohook_open": ("audiohook", audiohook_opens),
}
FEED_TARGETS: dict[str, tuple[str, st.SearchStrategy[list[Step]]]] = {
    "agent_feed": ("agent", feed_sequences),
    "supervisor_feed": ("supervisor", feed_sequences),
}
