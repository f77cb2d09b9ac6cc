"""``/v1/ingest``: the native audio ingress protocol (docs/design.md, "Wire protocols").

Client -> server::

    {"type": "start", "media": {"encoding": "pcm_s16le"|"mulaw", "sample_rate": 8000|16000,
     "channels": 1|2, "channel_map": ["customer", "agent"]}, "agent_id": "a42", "custom": {}}
    <binary frames of interleaved samples>
    {"type": "ping", "id": ...}    {"type": "mark", "name": ...}    {"type": "stop"}
    {"type": "pause"}    {"type": "resume"}

Server -> client (``seq`` counts this connection's messages, ``t_ms`` is the media
position, i.e. audio received so far)::

    {"type": "started", "call_id": ..., "media": {...}}
    {"type": "pong", "id": ...}     {"type": "mark", "name": ...}   {"type": "stopped"}
    {"type": "paused"}    {"type": "resumed", "discarded_ms": ...}
    {"type": "error", "code": ..., "message": ..., "fatal": true|false}

``pause`` (a secure payment flow: the caller keys in card details) makes the server drop
every audio frame until ``resume``: nothing of the paused span is transcribed, stored or
archived, and the media clock (``t_ms``) skips it.  ``resumed`` says how much was dropped.

A ``mark`` is answered once all audio sent before it has been handed to the pipeline.
Fatal errors are followed by a websocket close whose reason is the error code.  A
client that stops sending audio (hold) sends ``ping`` at least every
``server.idle_timeout_s``, or the connection is closed as idle (4408) and the call ends.
"""

from __future__ import annotations

import math
from typing import Any

from voice_assist.errors import AudioError, ProtocolError
from voice_assist.server.ingress import (
    CLOSE_NORMAL,
    Action,
    Audio,
    Close,
    EndCall,
    IngressProtocol,
    Send,
    StartCall,
    close_code_for,
    close_reason,
    flush_actions,
    is_credential_name,
    parse_json_object,
)
from voice_assist.server.legs import LegDecoder, MediaFormat, parse_channel_map

WIRE_VERSION = 1
MAX_META_ITEMS = 32
MAX_META_CHARS = 256


class NativeProtocol(IngressProtocol):
    """Sans-I/O state machine of one ``/v1/ingest`` connection."""

    source = "native"

    def __init__(self, *, max_payload_bytes: int = 1 << 20) -> None:
        super().__init__()
        self.max_payload_bytes = max_payload_bytes
        self.decoder: LegDecoder | None = None
        self.state = "awaiting_start"  # -> "streaming" (<-> "paused") -> "stopped"
        self._seq = 0
        self.discarded_bytes = 0
        """Audio dropped while paused (all pauses of the call)."""

    # -- input ---------------------------------------------------------------------------
    def receive_text(self, text: str) -> list[Action]:
        message = parse_json_object(text)
        kind = message.get("type")
        if kind == "start":
            return self._start(message)
        if kind == "stop":
            return self._stop()
        if kind in ("pause", "resume"):
            return self._pause(kind == "pause")
        if kind == "ping":
            return [self._send("pong", id=_plain_id(message.get("id")))]
        if kind == "mark":
            name = message.get("name")
            if not isinstance(name, str | int) or len(str(name)) > 128:
                raise ProtocolError("mark needs a name (string, <= 128 chars)", code="bad_message")
            return [self._send("mark", name=name)]
        # Unknown types are reported, not fatal: a newer client may send more.
        return [
            self._send(
                "error",
                code="unknown_type",
                message=f"unknown message type {str(kind)[:40]!r}",
                fatal=False,
            )
        ]

    def receive_bytes(self, data: bytes) -> list[Action]:
        if self.state == "awaiting_start" or self.decoder is None:
            raise ProtocolError("binary audio before start", code="binary_before_start")
        if self.state == "paused":
            self.discarded_bytes += len(data)  # secure flow: never decoded, never stored
            return []
        if self.state != "streaming":
            raise ProtocolError("binary audio after stop", code="audio_after_stop")
        return [Audio(legs=self.decoder.decode(data))]

    # -- runner callbacks ----------------------------------------------------------------
    def call_opened(self, call_id: str) -> list[Action]:
        super().call_opened(call_id)
        assert self.decoder is not None
        return [self._send("started", media=self.decoder.media.describe())]

    def fail(self, error: ProtocolError) -> list[Action]:
        actions: list[Action] = [
            self._send("error", code=error.code, message=str(error), fatal=True)
        ]
        if not self.finished:
            self.finished = True
            if self.decoder is not None:
                actions += flush_actions(self.decoder.finish())
            if self.call_id is not None:
                actions.append(EndCall(reason=f"protocol_error:{error.code}"))
        self.state = "stopped"
        actions.append(Close(code=close_code_for(error.code), reason=close_reason(error.code)))
        return actions

    def connection_lost(self) -> list[Action]:
        if self.finished:
            return []
        actions: list[Action] = []
        if self.decoder is not None:
            actions += flush_actions(self.decoder.finish())
        return actions + super().connection_lost()

    # -- internals -----------------------------------------------------------------------
    def _start(self, message: dict[str, Any]) -> list[Action]:
        if self.state != "awaiting_start":
            raise ProtocolError("start sent twice", code="unexpected_start")
        media = message.get("media")
        if not isinstance(media, dict):
            raise ProtocolError("start needs a media object", code="bad_message")
        agent_id = message.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id.strip() or len(agent_id) > 128:
            raise ProtocolError("start needs an agent_id (1-128 characters)", code="bad_message")
        channels = media.get("channels", 1)
        rate = media.get("sample_rate")
        if not isinstance(channels, int) or not isinstance(rate, int):
            raise ProtocolError(
                "media.channels and media.sample_rate must be integers", code="unsupported_media"
            )
        try:
            fmt = MediaFormat(
                encoding=str(media.get("encoding")),
                sample_rate_hz=rate,
                channels=channels,
                channel_map=parse_channel_map(media.get("channel_map"), channels),
            )
        except AudioError as exc:
            raise ProtocolError(str(exc), code="unsupported_media") from exc
        self.decoder = LegDecoder(fmt, max_payload_bytes=self.max_payload_bytes)
        self.state = "streaming"
        return [StartCall(agent_id=agent_id.strip(), media=fmt, meta=_meta(message.get("custom")))]

    def _pause(self, pause: bool) -> list[Action]:
        if self.state not in ("streaming", "paused") or self.decoder is None:
            raise ProtocolError("pause/resume without a started call", code="unexpected_pause")
        if pause:
            self.state = "paused"
            return [self._send("paused")]
        self.state = "streaming"
        fmt = self.decoder.media
        discarded_ms = self.discarded_bytes // fmt.frame_bytes * 1000 // fmt.sample_rate_hz
        return [self._send("resumed", discarded_ms=discarded_ms)]

    def _stop(self) -> list[Action]:
        if self.state not in ("streaming", "paused") or self.decoder is None:
            raise ProtocolError("stop without a started call", code="unexpected_stop")
        self.state = "stopped"
        self.finished = True
        return [
            *flush_actions(self.decoder.finish()),
            EndCall(reason="stop"),
            self._send("stopped"),
            Close(code=CLOSE_NORMAL, reason="stopped"),
        ]

    def _send(self, kind: str, **fields: Any) -> Send:
        self._seq += 1
        body: dict[str, Any] = {
            "type": kind,
            "v": WIRE_VERSION,
            "call_id": self.call_id,
            "seq": self._seq,
            "t_ms": self.decoder.position_ms if self.decoder else 0,
        }
        body.update(fields)
        return Send(message=body)


def _plain_id(value: object) -> object:
    """A ping id echoed back as the client sent it, if it is a short string or a plain,
    finite number (Python's JSON reader accepts NaN and 1e999; a reply may not carry them)."""
    if isinstance(value, str):
        return value[:128]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and abs(value) < 2**53:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _meta(custom: object) -> dict[str, str]:
    """Client metadata kept with the call: a flat string map, bounded in size."""
    if custom is None:
        return {}
    if not isinstance(custom, dict):
        raise ProtocolError("custom must be an object", code="bad_message")
    out: dict[str, str] = {}
    for key, value in list(custom.items())[:MAX_META_ITEMS]:
        if value is None or isinstance(value, dict | list) or is_credential_name(key):
            continue  # nested values are dropped; so is anything named like a credential
        out[str(key)[:64]] = str(value)[:MAX_META_CHARS]
    return out
