"""Stream message codec: one call event <-> the flat fields of one Redis stream entry.

Sans-I/O.  ``decode`` never raises: a malformed or foreign entry gives ``None`` and a
logged reason, so one bad producer cannot crash a gateway.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from voice_assist import events as ev
from voice_assist import wire

log = logging.getLogger(__name__)

MAGIC = "voice_assist/1"
"""The ``kind`` field every entry of ours carries; anything else on a stream is foreign."""


@dataclass(frozen=True, slots=True)
class BusEntry:
    """One event as carried on the bus, with who owns its call."""

    event: ev.Event
    agent_id: str
    worker_id: str
    seq: int = 0
    """The worker's running number (from 1); 0: not numbered (a gateway's entry about a
    lost worker's calls).  A gateway drops an entry whose number it has seen."""


def encode(entry: BusEntry) -> dict[str, str]:
    return {
        "kind": MAGIC,
        "agent": entry.agent_id,
        "worker": entry.worker_id,
        "seq": str(entry.seq),
        "event": json.dumps(wire.to_wire(entry.event), separators=(",", ":")),
    }


def decode(fields: dict[bytes, bytes] | dict[str, str], *, entry_id: str = "?") -> BusEntry | None:
    """The entry, or ``None`` (logged) when it is not one of ours or does not parse."""
    try:
        plain = {_text(k): _text(v) for k, v in fields.items()}
    except UnicodeDecodeError:
        log.warning("bus entry %s ignored: not UTF-8", entry_id)
        return None
    if plain.get("kind") != MAGIC:
        log.warning("bus entry %s ignored: foreign (kind=%r)", entry_id, plain.get("kind"))
        return None
    try:
        body = json.loads(plain["event"])
        event = wire.from_wire(body)
        seq = int(plain.get("seq", "0"))
        return BusEntry(event=event, agent_id=plain["agent"], worker_id=plain["worker"], seq=seq)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("bus entry %s ignored: malformed (%s: %s)", entry_id, type(exc).__name__, exc)
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
