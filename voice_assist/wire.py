"""JSON serialization of events: the one place events become wire messages.

Every message is ``{"type": ..., "v": 1, "call_id": ..., "seq": n, "t_ms": ...}`` plus
the event's own fields (docs/design.md, "Wire protocols").  The same serializer feeds the
``analyze --json`` stream, the overlay and supervisor websockets and the replay feed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from voice_assist import events as ev

WIRE_VERSION = 1

EVENT_TYPES: dict[type[ev.Event], str] = {
    ev.TranscriptEvent: "transcript",
    ev.ProsodyFrame: "prosody",
    ev.DistressUpdate: "distress",
    ev.DistressEpisode: "episode",
    ev.Prompt: "prompt",
    ev.PromptClear: "prompt_clear",
    ev.PromptAck: "prompt_ack",
    ev.EmpathyScore: "empathy",
    ev.CallStarted: "call_started",
    ev.CallEnded: "call_ended",
    ev.CallMetrics: "metrics",
    ev.Overload: "overload",
    ev.PipelineError: "error",
    ev.Alert: "alert",
    ev.VoiceActivity: "vad",
}
TYPE_NAMES = {name: cls for cls, name in EVENT_TYPES.items()}


def to_wire(event: ev.Event, *, seq: int | None = None) -> dict[str, Any]:
    """Turn an event into a JSON-ready dict (floats rounded, NaN -> null)."""
    body: dict[str, Any] = {"type": EVENT_TYPES[type(event)], "v": WIRE_VERSION}
    if seq is not None:
        body["seq"] = seq
    for f in dataclasses.fields(event):
        body[f.name] = _plain(getattr(event, f.name))
    return body


def from_wire(message: Mapping[str, Any]) -> ev.Event:
    """Rebuild an event from :func:`to_wire` output (used by replay and tests).

    Raises ``KeyError``/``TypeError``/``ValueError`` for messages that do not fit.
    """
    cls = TYPE_NAMES[message["type"]]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in message:
            continue
        value = message[f.name]
        if f.name == "words":
            value = tuple(ev.Word(**w) for w in value)
        elif isinstance(value, list):
            value = tuple(value)
        elif f.name == "features" and isinstance(value, Mapping):
            value = {k: (math.nan if v is None else float(v)) for k, v in value.items()}
        kwargs[f.name] = value
    return cls(**kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return value
