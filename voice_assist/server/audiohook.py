"""``/v1/audiohook``: Genesys Cloud AudioHook protocol, version 2 (server side).

Every text message is ``{"version": "2", "id": session, "type": ..., "seq": n,
"parameters": {...}}``; client messages add ``serverseq`` (last server message seen)
and ``position`` (ISO 8601 duration of the audio stream so far, ``PT12.34S``), server
messages add ``clientseq`` (last client message processed).  ``seq`` starts at 1 on
each side and grows by one per message; a client ``seq`` out of order, a ``serverseq``
ahead of what the server sent, or another session ``id`` is a protocol error.

Client -> server: ``open`` (media offers, participant, ``customConfig``), ``ping``,
``paused`` / ``resumed`` (either side's pause, ``resumed`` says how much was
discarded), ``discarded``, ``update`` (language), ``error``, ``close``.
Server -> client: ``opened`` (the chosen media: PCMU 8000 Hz stereo, channels
``external`` = customer and ``internal`` = agent), ``pong``, ``pause`` / ``resume``
(server-initiated), ``event`` (transcripts and agent-assist suggestions back to the
client), ``closed``, ``disconnect`` (``completed`` | ``unauthorized`` | ``error``).
Binary frames carry interleaved PCMU audio of the chosen channels, only while active.

Errors follow the protocol: the server sends ``disconnect`` with reason ``error`` and
waits for the client's ``close``; the runner's idle timeout ends a client that never
sends it.
"""

from __future__ import annotations

import re
from typing import Any

from voice_assist import events as ev
from voice_assist.errors import ProtocolError
from voice_assist.events import Channel
from voice_assist.server.ingress import (
    CLOSE_NORMAL,
    Action,
    Audio,
    Close,
    EndCall,
    IngressProtocol,
    Send,
    StartCall,
    flush_actions,
    parse_json_object,
)
from voice_assist.server.legs import LegDecoder, MediaFormat

VERSION = "2"
RATE_HZ = 8000
CHANNEL_OF: dict[str, Channel] = {"external": "customer", "internal": "agent"}
AUDIOHOOK_CHANNEL: dict[str, str] = {"customer": "external", "agent": "internal"}
CLIENT_TYPES = ("open", "ping", "paused", "resumed", "discarded", "update", "error", "close")
MAX_CLIENT_ERRORS = 32
_DURATION = re.compile(r"^PT(\d+(?:\.\d+)?)S$")


def parse_duration_ms(value: object) -> int:
    """``PT12.345S`` -> 12345 (the only form AudioHook uses)."""
    match = _DURATION.match(value) if isinstance(value, str) and len(value) <= 40 else None
    if match is None:
        raise ProtocolError(f"bad duration {str(value)[:40]!r}", code="bad_message")
    return round(float(match.group(1)) * 1000)  # <= 36 digits: always finite


def format_duration(ms: int) -> str:
    seconds = f"{max(ms, 0) / 1000:.3f}".rstrip("0").rstrip(".")
    return f"PT{seconds}S"


class AudioHookProtocol(IngressProtocol):
    """Sans-I/O state machine of one AudioHook v2 session.

    States: ``preparing`` (until ``open``), ``opening`` (call being opened),
    ``active``, ``paused``, ``closing`` (close received, ``closed`` sent), and
    ``disconnecting`` (the server sent ``disconnect``; waiting for ``close``).
    """

    source = "audiohook"

    def __init__(self, *, send_events: bool = True, max_payload_bytes: int = 1 << 20) -> None:
        super().__init__()
        self.send_events = send_events
        self.max_payload_bytes = max_payload_bytes
        self.state = "preparing"
        self.session_id: str | None = None
        self.seq = 0
        self.clientseq = 0
        self.client_position_ms = 0
        self.discarded_ms = 0
        """Audio the client discarded (pauses, backpressure): position = received + discarded."""
        self.decoder: LegDecoder | None = None
        self.media: dict[str, Any] | None = None
        self.language: str | None = None
        self.client_errors: list[str] = []
        """The latest :data:`MAX_CLIENT_ERRORS` errors the client reported (bounded)."""
        self._close_reason = "close"

    # -- position ----------------------------------------------------------------------
    @property
    def received_ms(self) -> int:
        return self.decoder.position_ms if self.decoder else 0

    @property
    def position_ms(self) -> int:
        """Stream position as AudioHook counts it: audio received plus audio discarded."""
        return self.received_ms + self.discarded_ms

    # -- input -------------------------------------------------------------------------
    def receive_text(self, text: str) -> list[Action]:
        message = parse_json_object(text)
        self._check_envelope(message)
        kind = message["type"]
        params = message["parameters"]
        if kind == "open":
            return self._open(params)
        if kind == "ping":
            return [self._send("pong", {})]
        if kind == "close":
            return self._close(params)
        if kind == "paused":
            if self.state == "active":
                self.state = "paused"
            return []
        if kind == "resumed":
            if self.state == "paused":
                self.state = "active"
                if "discarded" in params:
                    self.discarded_ms += parse_duration_ms(params["discarded"])
            return []
        if kind == "discarded":
            self.discarded_ms += parse_duration_ms(params.get("discarded"))
            return []
        if kind == "update":
            language = params.get("language")
            if isinstance(language, str):
                self.language = language[:32]
            return []
        # kind == "error": the client reports a problem; the session goes on.
        code = params.get("code")
        self.client_errors.append(f"{str(code)[:40]}: {str(params.get('message', ''))[:200]}")
        del self.client_errors[:-MAX_CLIENT_ERRORS]
        return []

    def receive_bytes(self, data: bytes) -> list[Action]:
        if self.state == "disconnecting":
            return []  # frames in flight before the client saw our disconnect
        if self.decoder is None or self.state in ("preparing", "opening"):
            raise ProtocolError("audio before the session was opened", code="binary_before_start")
        if self.state == "paused":
            raise ProtocolError("audio while paused", code="audio_while_paused")
        if self.state != "active":
            raise ProtocolError(f"audio in state {self.state}", code="audio_after_stop")
        return [Audio(legs=self.decoder.decode(data))]

    # -- server-initiated ----------------------------------------------------------------
    def pause(self) -> list[Action]:
        """Ask the client to pause the audio (it answers ``paused``)."""
        if self.state not in ("active", "paused"):
            return []
        return [self._send("pause", {})]

    def resume(self) -> list[Action]:
        """Ask the client to resume a server-initiated pause (it answers ``resumed``)."""
        if self.state not in ("active", "paused"):
            return []
        return [self._send("resume", {})]

    def disconnect(self, reason: str, info: str = "") -> list[Action]:
        """End the session from the server side; the client follows with ``close``."""
        if self.state in ("closing", "disconnecting"):
            return []
        actions: list[Action] = []
        if not self.finished:
            self.finished = True
            if self.decoder is not None:
                actions += flush_actions(self.decoder.finish())
            if self.call_id is not None:
                actions.append(EndCall(reason=f"disconnect:{reason}"))
        self.state = "disconnecting"
        params: dict[str, Any] = {"reason": reason}
        if info:
            params["info"] = info[:500]
        return [*actions, self._send("disconnect", params)]

    # -- runner callbacks ----------------------------------------------------------------
    def call_opened(self, call_id: str) -> list[Action]:
        super().call_opened(call_id)
        self.state = "active"
        return [self._send("opened", {"media": [self.media], "startPaused": False})]

    def call_refused(self, error: ProtocolError) -> list[Action]:
        reason = "unauthorized" if error.code == "unauthorized" else "error"
        return self.disconnect(reason, f"{error.code}: {error}")

    def fail(self, error: ProtocolError) -> list[Action]:
        if self.state in ("closing", "disconnecting"):
            return [Close(code=1008, reason=error.code)]
        return self.disconnect("error", f"{error.code}: {error}")

    def connection_lost(self) -> list[Action]:
        if self.finished:
            return []
        actions: list[Action] = []
        if self.decoder is not None:
            actions += flush_actions(self.decoder.finish())
        return actions + super().connection_lost()

    @property
    def wants_events(self) -> bool:
        return self.send_events

    def on_event(self, event: ev.Event) -> list[Action]:
        """Final transcripts and prompts back to the client as ``event`` messages."""
        if not self.send_events or self.state not in ("active", "paused", "closing"):
            return []
        if isinstance(event, ev.TranscriptEvent) and event.is_final and event.text.strip():
            return [self._send("event", {"entities": [self._transcript_entity(event)]})]
        if isinstance(event, ev.Prompt):
            return [self._send("event", {"entities": [_agentassist_entity(event)]})]
        return []

    # -- internals -----------------------------------------------------------------------
    def _check_envelope(self, message: dict[str, Any]) -> None:
        if message.get("version") != VERSION:
            raise ProtocolError(
                f"unsupported protocol version {str(message.get('version'))[:10]!r}",
                code="bad_message",
            )
        kind, seq, sid = message.get("type"), message.get("seq"), message.get("id")
        serverseq, params = message.get("serverseq"), message.get("parameters")
        if not isinstance(kind, str) or not isinstance(sid, str) or not sid:
            raise ProtocolError("message needs a type and a session id", code="bad_message")
        if not isinstance(seq, int) or not isinstance(serverseq, int):
            raise ProtocolError("seq and serverseq must be integers", code="bad_message")
        if seq != self.clientseq + 1:
            raise ProtocolError(
                f"seq {seq} out of order (expected {self.clientseq + 1})", code="bad_sequence"
            )
        self.clientseq = seq
        if serverseq > self.seq or serverseq < 0:
            raise ProtocolError(
                f"serverseq {serverseq} is ahead of the server's {self.seq}", code="bad_sequence"
            )
        if self.session_id is None:
            self.session_id = sid
        elif sid != self.session_id:
            raise ProtocolError("session id changed", code="bad_message")
        if not isinstance(params, dict):
            raise ProtocolError("parameters must be an object", code="bad_message")
        if kind not in CLIENT_TYPES:
            raise ProtocolError(
                f"{kind[:40]!r} is not a supported client message", code="unknown_type"
            )
        self.client_position_ms = parse_duration_ms(message.get("position"))

    def _open(self, params: dict[str, Any]) -> list[Action]:
        if self.state != "preparing":
            raise ProtocolError(f"open in state {self.state}", code="unexpected_start")
        offers = params.get("media")
        if not isinstance(offers, list):
            raise ProtocolError("open.parameters.media must be a list", code="bad_message")
        chosen = _choose_media(offers)
        if chosen is None:
            raise ProtocolError(
                "no supported media offered (need PCMU 8000 Hz with external/internal channels)",
                code="unsupported_media",
            )
        self.media = chosen
        legs = tuple(CHANNEL_OF[c] for c in chosen["channels"])
        self.decoder = LegDecoder(
            MediaFormat(
                encoding="mulaw", sample_rate_hz=RATE_HZ, channels=len(legs), channel_map=legs
            ),
            max_payload_bytes=self.max_payload_bytes,
        )
        custom = params.get("customConfig") or {}
        participant = params.get("participant") or {}
        if not isinstance(custom, dict) or not isinstance(participant, dict):
            raise ProtocolError("customConfig and participant must be objects", code="bad_message")
        agent_id = custom.get("agent_id") or participant.get("id")
        if not isinstance(agent_id, str) or not agent_id.strip() or len(agent_id) > 128:
            raise ProtocolError(
                "no agent id: set customConfig.agent_id (or a participant id)", code="bad_message"
            )
        meta = {"audiohook_session_id": str(self.session_id)}
        for key, name in (
            ("conversationId", "conversation_id"),
            ("organizationId", "organization_id"),
            ("language", "language"),
        ):
            if isinstance(params.get(key), str):
                meta[name] = params[key][:64]
        self.language = meta.get("language")
        self.state = "opening"
        return [
            StartCall(
                agent_id=agent_id.strip(),
                media=self.decoder.media,
                meta=meta,
            )
        ]

    def _close(self, params: dict[str, Any]) -> list[Action]:
        reason = params.get("reason")
        self._close_reason = reason if isinstance(reason, str) else "end"
        actions: list[Action] = []
        if not self.finished:
            self.finished = True
            if self.decoder is not None:
                actions += flush_actions(self.decoder.finish())
            if self.call_id is not None:
                actions.append(EndCall(reason=f"close:{self._close_reason[:20]}"))
        self.state = "closing"
        return [*actions, self._send("closed", {}), Close(code=CLOSE_NORMAL, reason="closed")]

    def _send(self, kind: str, parameters: dict[str, Any]) -> Send:
        self.seq += 1
        return Send(
            message={
                "version": VERSION,
                "type": kind,
                "seq": self.seq,
                "clientseq": self.clientseq,
                "id": self.session_id or "00000000-0000-0000-0000-000000000000",
                "parameters": parameters,
            }
        )

    def _transcript_entity(self, event: ev.TranscriptEvent) -> dict[str, Any]:
        # Pipeline times count received audio; AudioHook offsets count discarded audio too.
        shift = self.discarded_ms
        tokens = [
            {
                "type": "word",
                "value": w.text.strip(),
                "confidence": round(w.probability, 3),
                "offset": format_duration(w.start_ms + shift),
                "duration": format_duration(w.end_ms - w.start_ms),
            }
            for w in event.words
        ]
        confidence = (
            sum(w.probability for w in event.words) / len(event.words) if event.words else 1.0
        )
        interpretation: dict[str, Any] = {"type": "display", "transcript": event.text.strip()}
        if tokens:
            interpretation["tokens"] = tokens
        alternative: dict[str, Any] = {
            "confidence": round(confidence, 3),
            "interpretations": [interpretation],
        }
        if self.language:
            alternative["languages"] = [self.language]
        return {
            "type": "transcript",
            "data": {
                "id": event.utterance_id,
                "channel": AUDIOHOOK_CHANNEL[event.channel],
                "isFinal": True,
                "offset": format_duration(event.start_ms + shift),
                "duration": format_duration(event.end_ms - event.start_ms),
                "alternatives": [alternative],
            },
        }


def _choose_media(offers: list[Any]) -> dict[str, Any] | None:
    """PCMU 8000 Hz, preferring stereo ``[external, internal]``; else any PCMU subset."""
    usable: list[dict[str, Any]] = []
    for offer in offers:
        if not isinstance(offer, dict):
            continue
        channels = offer.get("channels")
        if (
            offer.get("type") == "audio"
            and offer.get("format") == "PCMU"
            and offer.get("rate") == RATE_HZ
            and isinstance(channels, list)
            and 1 <= len(channels) <= 2
            and all(isinstance(c, str) and c in CHANNEL_OF for c in channels)
            and len(set(channels)) == len(channels)
        ):
            usable.append(
                {"type": "audio", "format": "PCMU", "channels": list(channels), "rate": RATE_HZ}
            )
    usable.sort(key=lambda o: (o["channels"] != ["external", "internal"], -len(o["channels"])))
    return usable[0] if usable else None


def _agentassist_entity(prompt: ev.Prompt) -> dict[str, Any]:
    return {
        "type": "agentassist",
        "data": {
            "id": prompt.prompt_id,
            "suggestions": [
                {
                    "type": "faq",
                    "id": prompt.prompt_id,
                    "confidence": 1.0,
                    "question": prompt.text,
                    "answer": _html_escape(prompt.suggested_phrase),
                }
            ],
        },
    }


def _html_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
