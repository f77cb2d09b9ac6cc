"""``/v1/twilio``: Twilio Media Streams (and compatible) ingress.

Twilio sends JSON text messages only: ``connected``, ``start`` (``start.tracks``,
``start.mediaFormat`` = audio/x-mulaw 8000 Hz mono, ``start.customParameters``),
``media`` (``media.track`` inbound|outbound, ``chunk``, ``timestamp`` in ms since the
stream began, base64 ``payload``), ``mark``, ``dtmf``, ``stop``.  A unidirectional
stream expects nothing back.

With ``both_tracks`` each track is its own mono leg: by default *inbound* (what the
caller says) is the customer and *outbound* (what the caller hears) is the agent;
``server.twilio_track_map`` swaps them.  One track alone works too.  Twilio skips
nothing on a live call, but when a track's ``timestamp`` runs ahead of the audio
received on it (packet loss upstream), the gap is filled with silence so both legs
keep one media clock.

Twilio cannot send custom headers, so the ingest key may come in
``customParameters.api_key`` (or ``key``); it is handed to the runner and dropped
from the call's metadata.  The agent is ``customParameters.agent_id``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from voice_assist.errors import ProtocolError
from voice_assist.events import CHANNELS, Channel
from voice_assist.server.ingress import (
    CLOSE_NORMAL,
    Action,
    Audio,
    Close,
    EndCall,
    IngressProtocol,
    StartCall,
    close_code_for,
    close_reason,
    flush_actions,
    is_credential_name,
    parse_json_object,
)
from voice_assist.server.legs import LegDecoder, MediaFormat

TRACKS = ("inbound", "outbound")
TWILIO_RATE_HZ = 8000
MAX_GAP_FILL_MS = 10_000
GAP_TOLERANCE_MS = 60
KEY_PARAMETERS = ("api_key", "key")
MAX_MARKS = 64


class TwilioProtocol(IngressProtocol):
    """Sans-I/O state machine of one Twilio Media Streams websocket."""

    source = "twilio"

    def __init__(
        self,
        *,
        track_map: Sequence[str] = ("customer", "agent"),
        max_payload_bytes: int = 1 << 20,
    ) -> None:
        super().__init__()
        if len(track_map) != 2 or set(track_map) != set(CHANNELS):
            raise ValueError("twilio_track_map must name customer and agent once each")
        self.track_channel: dict[str, Channel] = {
            "inbound": _channel(track_map[0]),
            "outbound": _channel(track_map[1]),
        }
        self.max_payload_bytes = max_payload_bytes
        self.state = "awaiting_start"  # -> "streaming" -> "stopped"
        self.stream_sid: str | None = None
        self.decoders: dict[str, LegDecoder] = {}
        self.gap_filled_ms = 0
        self.marks: list[str] = []
        """The latest :data:`MAX_MARKS` mark names (bounded: a client may send marks forever)."""

    def receive_text(self, text: str) -> list[Action]:
        message = parse_json_object(text)
        event = message.get("event")
        if not isinstance(event, str):
            raise ProtocolError("message has no event name", code="bad_message")
        if event == "media":
            return self._media(message)
        if event == "start":
            return self._start(message)
        if event == "stop":
            return self._stop()
        if event == "mark":
            mark = message.get("mark")
            if isinstance(mark, dict) and isinstance(mark.get("name"), str):
                self.marks.append(mark["name"][:128])
                del self.marks[:-MAX_MARKS]
            return []
        # connected, dtmf and event types Twilio adds over time are skipped.
        return []

    def receive_bytes(self, data: bytes) -> list[Action]:
        raise ProtocolError("Twilio Media Streams sends no binary frames", code="unexpected_binary")

    def fail(self, error: ProtocolError) -> list[Action]:
        actions: list[Action] = []
        if not self.finished:
            self.finished = True
            actions += self._flush()
            if self.call_id is not None:
                actions.append(EndCall(reason=f"protocol_error:{error.code}"))
        self.state = "stopped"
        # Twilio shows the close reason in its debugger; it reads no error message.
        actions.append(
            Close(code=close_code_for(error.code), reason=close_reason(f"{error.code}: {error}"))
        )
        return actions

    def connection_lost(self) -> list[Action]:
        if self.finished:
            return []
        return self._flush() + super().connection_lost()

    # -- internals -----------------------------------------------------------------------
    def _start(self, message: dict[str, Any]) -> list[Action]:
        if self.state != "awaiting_start":
            raise ProtocolError("start sent twice", code="unexpected_start")
        start = message.get("start")
        if not isinstance(start, dict):
            raise ProtocolError("start event without a start object", code="bad_message")
        fmt = start.get("mediaFormat") or {}
        if not isinstance(fmt, dict):
            raise ProtocolError("start.mediaFormat must be an object", code="bad_message")
        encoding = fmt.get("encoding", "audio/x-mulaw")
        rate = fmt.get("sampleRate", TWILIO_RATE_HZ)
        channels = fmt.get("channels", 1)
        if encoding != "audio/x-mulaw" or rate != TWILIO_RATE_HZ or channels != 1:
            raise ProtocolError(
                f"unsupported media format {encoding!r} {rate!r} Hz x{channels!r}; "
                "Twilio streams are audio/x-mulaw 8000 Hz mono",
                code="unsupported_media",
            )
        tracks = start.get("tracks", ["inbound"])
        if (
            not isinstance(tracks, list)
            or not tracks
            or any(t not in TRACKS for t in tracks)
            or len(set(tracks)) != len(tracks)
        ):
            raise ProtocolError(
                f"start.tracks must be a subset of {list(TRACKS)}", code="bad_message"
            )
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise ProtocolError("start.customParameters must be an object", code="bad_message")
        agent_id = params.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id.strip() or len(agent_id) > 128:
            raise ProtocolError(
                "customParameters.agent_id is required (1-128 characters)", code="bad_message"
            )
        api_key = next((params[k] for k in KEY_PARAMETERS if isinstance(params.get(k), str)), None)
        meta: dict[str, str] = {
            str(k)[:64]: str(v)[:256]
            for k, v in list(params.items())[:32]
            if k != "agent_id" and not is_credential_name(k)
        }
        for name, key in (("callSid", "twilio_call_sid"), ("streamSid", "twilio_stream_sid")):
            value = start.get(name) or message.get(name)
            if isinstance(value, str):
                meta[key] = value[:64]
        self.stream_sid = meta.get("twilio_stream_sid")
        meta["tracks"] = ",".join(tracks)
        for track in tracks:
            leg = self.track_channel[track]
            self.decoders[track] = LegDecoder(
                MediaFormat(
                    encoding="mulaw", sample_rate_hz=TWILIO_RATE_HZ, channels=1, channel_map=(leg,)
                ),
                max_payload_bytes=self.max_payload_bytes,
            )
        self.state = "streaming"
        # The start event's own format is per track; the call sees mono legs at 8 kHz.
        media = MediaFormat(
            encoding="mulaw",
            sample_rate_hz=TWILIO_RATE_HZ,
            channels=len(tracks),
            channel_map=tuple(self.track_channel[t] for t in tracks),
        )
        return [StartCall(agent_id=agent_id.strip(), media=media, meta=meta, api_key=api_key)]

    def _media(self, message: dict[str, Any]) -> list[Action]:
        if self.state == "awaiting_start":
            raise ProtocolError("media before start", code="binary_before_start")
        if self.state != "streaming":
            raise ProtocolError("media after stop", code="audio_after_stop")
        media = message.get("media")
        if not isinstance(media, dict):
            raise ProtocolError("media event without a media object", code="bad_message")
        track = media.get("track", "inbound")
        decoder = self.decoders.get(track) if isinstance(track, str) else None
        if decoder is None:
            raise ProtocolError(
                f"media on track {str(track)[:20]!r} not started", code="bad_message"
            )
        payload = media.get("payload")
        if not isinstance(payload, str):
            raise ProtocolError("media.payload must be base64 text", code="bad_payload")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError("media.payload is not valid base64", code="bad_payload") from exc
        actions: list[Action] = []
        gap = self._gap_frames(decoder, media.get("timestamp"))
        if gap:
            actions.append(Audio(legs=decoder.silence(gap)))
        actions.append(Audio(legs=decoder.decode(data)))
        return actions

    def _gap_frames(self, decoder: LegDecoder, timestamp: object) -> int:
        """Silence frames to insert when the track's timestamp ran ahead of its audio."""
        try:
            ts_ms = int(str(timestamp))
        except ValueError:
            return 0
        gap_ms = ts_ms - decoder.position_ms
        if gap_ms <= GAP_TOLERANCE_MS:
            return 0
        gap_ms = min(gap_ms, MAX_GAP_FILL_MS)
        self.gap_filled_ms += gap_ms
        return gap_ms * TWILIO_RATE_HZ // 1000

    def _stop(self) -> list[Action]:
        if self.state != "streaming":
            raise ProtocolError("stop without a started stream", code="unexpected_stop")
        self.state = "stopped"
        self.finished = True
        return [*self._flush(), EndCall(reason="stop"), Close(code=CLOSE_NORMAL, reason="stopped")]

    def _flush(self) -> list[Action]:
        actions: list[Action] = []
        for decoder in self.decoders.values():
            actions += flush_actions(decoder.finish())
        return actions


def _channel(name: str) -> Channel:
    if name == "customer":
        return "customer"
    if name == "agent":
        return "agent"
    raise ValueError(f"unknown channel {name!r}")
