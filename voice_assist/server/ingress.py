"""What the ingress adapters say to the server: a small sans-I/O vocabulary.

Each telephony protocol (:mod:`.native`, :mod:`.twilio`, :mod:`.audiohook`) is a class
fed the connection's messages (``receive_text`` / ``receive_bytes``) that returns a list
of *actions*; it does no I/O and knows nothing of asyncio, so tests drive it with plain
strings and bytes.  The websocket runner (:mod:`.ingest`) carries the actions out:

- :class:`StartCall`: open a call (agent, media format, metadata, an in-band API key);
- :class:`Audio`: 16 kHz float32 samples per leg, from the adapter's
  :class:`~voice_assist.server.legs.LegDecoder`;
- :class:`Send`: one JSON message back to the client;
- :class:`EndCall`: the call is over (``stop``, ``close``, client gone, protocol error);
- :class:`Close`: close the websocket with a code and a reason.

Protocol violations raise :class:`~voice_assist.errors.ProtocolError` (with a ``code``);
the runner hands them back to the adapter's :meth:`IngressProtocol.fail`, which turns
them into the protocol's own error message and close.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice_assist import events as ev
from voice_assist.errors import ProtocolError
from voice_assist.events import Channel
from voice_assist.server.legs import MediaFormat

# Websocket close codes (RFC 6455 section 7.4.1, 4000-4999 private use).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_IDLE = 4408
CLOSE_TOO_SLOW = 4409
CLOSE_TOO_MANY = 4429

_CLOSE_FOR_CODE = {
    "malformed_json": CLOSE_INVALID_PAYLOAD,
    "bad_message": CLOSE_INVALID_PAYLOAD,
    "bad_frame_size": CLOSE_INVALID_PAYLOAD,
    "bad_payload": CLOSE_INVALID_PAYLOAD,
    "unsupported_media": CLOSE_UNSUPPORTED,
    "message_too_big": CLOSE_TOO_BIG,
    "idle_timeout": CLOSE_IDLE,
    "start_timeout": CLOSE_IDLE,
    "too_many_connections": CLOSE_TOO_MANY,
    "max_duration": CLOSE_POLICY,
    "unauthorized": CLOSE_UNAUTHORIZED,
    "overloaded": CLOSE_TRY_AGAIN,
    "not_ready": CLOSE_TRY_AGAIN,
    "internal_error": CLOSE_INTERNAL,
}


CREDENTIAL_NAMES = frozenset(
    {"api_key", "apikey", "key", "token", "secret", "password", "authorization", "x-api-key"}
)
"""Client metadata entries with these names (any case) are credentials: never kept."""


def is_credential_name(name: object) -> bool:
    return isinstance(name, str) and name.strip().lower() in CREDENTIAL_NAMES


def close_code_for(error_code: str) -> int:
    """The websocket close code for a :class:`ProtocolError` code (default: policy)."""
    return _CLOSE_FOR_CODE.get(error_code, CLOSE_POLICY)


def close_reason(text: str) -> str:
    """A close reason that fits the 123-byte limit of a close frame."""
    data = text.encode()
    if len(data) <= 123:
        return text
    return data[:120].decode(errors="ignore") + "..."


@dataclass(frozen=True, slots=True, kw_only=True)
class StartCall:
    agent_id: str
    media: MediaFormat
    meta: Mapping[str, str] = field(default_factory=dict)
    api_key: str | None = None
    """A credential that came in-band (Twilio customParameters); never stored or logged."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Audio:
    legs: Mapping[Channel, np.ndarray]


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    message: Mapping[str, Any]

    def text(self) -> str:
        return json.dumps(self.message, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndCall:
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    code: int
    reason: str


Action = StartCall | Audio | Send | EndCall | Close


class IngressProtocol:
    """Base of the sans-I/O ingress adapters (see the module docstring)."""

    source: str = "native"

    def __init__(self) -> None:
        self.call_id: str | None = None
        self.finished = False

    # -- fed by the runner -------------------------------------------------------------
    def receive_text(self, text: str) -> list[Action]:
        raise NotImplementedError

    def receive_bytes(self, data: bytes) -> list[Action]:
        raise NotImplementedError

    def call_opened(self, call_id: str) -> list[Action]:
        """The runner opened the call asked for by :class:`StartCall`."""
        self.call_id = call_id
        return []

    def call_refused(self, error: ProtocolError) -> list[Action]:
        """The runner could not open the call (auth, overload, not ready)."""
        return self.fail(error)

    def fail(self, error: ProtocolError) -> list[Action]:
        """A protocol violation or server-side refusal: tell the client and close."""
        raise NotImplementedError

    def connection_lost(self) -> list[Action]:
        """The client went away without the protocol's goodbye."""
        if self.finished:
            return []
        self.finished = True
        return [EndCall(reason="client_gone")]

    def on_event(self, event: ev.Event) -> list[Action]:
        """An event of this call; adapters that report back to the client override this."""
        return []

    @property
    def wants_events(self) -> bool:
        return False


def parse_json_object(text: str) -> dict[str, Any]:
    """Parse one text message that must be a JSON object of storable text."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("text message is not valid JSON", code="malformed_json") from exc
    if not isinstance(message, dict):
        raise ProtocolError("text message must be a JSON object", code="malformed_json")
    problem = unstorable_text(text, message)
    if problem:
        raise ProtocolError(f"text message {problem}", code="malformed_json")
    return message


_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def unstorable_text(raw: str, parsed: object) -> str | None:
    """Why a parsed JSON message holds text no store can keep, or ``None``.

    JSON may escape what is not text: a lone UTF-16 surrogate (``\\ud800``) cannot be
    encoded as UTF-8, and PostgreSQL refuses NUL (``\\u0000``).  Either in an agent id or
    in call metadata would make the whole call unstorable, so such messages are refused
    at the edge.  The raw text is searched for those escapes first (cheap); only then
    are the parsed strings checked (a valid surrogate pair, an emoji, is fine).
    """
    if not _SUSPECT_ESCAPE.search(raw):
        return None
    for text in _strings(parsed):
        if "\x00" in text:
            return "contains a NUL character"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone UTF-16 surrogate (not text)"
    return None


def _strings(value: object) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included (iteratively: no recursion limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def flush_actions(legs: Mapping[Channel, np.ndarray]) -> list[Action]:
    """An :class:`Audio` action for a decoder flush, if it holds any samples."""
    kept = {ch: x for ch, x in legs.items() if x.size}
    return [Audio(legs=kept)] if kept else []
