"""Redis streams adapter: workers publish call events, gateways relay them into a local bus.

Streams (``prefix`` default ``va``):

* ``{prefix}:sup`` - every event of every call on every worker, bounded with ``MAXLEN ~``;
  a gateway relays it into its own :class:`EventBus`, whose feeds then serve overlays and
  wall boards exactly as in one process (per-call order is the stream's order).
* ``{prefix}:ctl:{worker_id}`` - control messages for one worker (prompt acks).
* ``{prefix}:alive:{worker_id}`` - a liveness key with expiry carrying load figures.

A gateway that takes a snapshot reads :meth:`RedisStreams.position` *before* it, and
relays from that position, so the snapshot plus the deltas after it miss no event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from voice_assist import events as ev
from voice_assist.cluster.codec import BusEntry, decode, encode
from voice_assist.runtime.bus import EventBus

log = logging.getLogger(__name__)


class RedisStreams:
    """Key names and the thin async calls on them (``redis.asyncio.Redis`` client)."""

    def __init__(self, client: Any, *, prefix: str = "va", maxlen: int = 100_000) -> None:
        self.client = client
        self.prefix = prefix
        self.maxlen = maxlen

    @property
    def supervisor_stream(self) -> str:
        return f"{self.prefix}:sup"

    def control_stream(self, worker_id: str) -> str:
        return f"{self.prefix}:ctl:{worker_id}"

    def alive_key(self, worker_id: str) -> str:
        return f"{self.prefix}:alive:{worker_id}"

    async def publish(self, entry: BusEntry) -> str:
        entry_id = await self.client.xadd(
            self.supervisor_stream, encode(entry), maxlen=self.maxlen, approximate=True
        )
        return _text(entry_id)

    async def position(self) -> str:
        """The id of the newest entry (``0-0`` when empty): read before a snapshot."""
        last = await self.client.xrevrange(self.supervisor_stream, count=1)
        return _text(last[0][0]) if last else "0-0"

    async def heartbeat(self, worker_id: str, load: dict[str, float], *, ttl_ms: int) -> None:
        await self.client.set(self.alive_key(worker_id), json.dumps(load), px=ttl_ms)

    async def alive_workers(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        async for key in self.client.scan_iter(match=f"{self.prefix}:alive:*"):
            raw = await self.client.get(key)
            if raw is None:
                continue
            try:
                out[_text(key).rsplit(":", 1)[1]] = json.loads(raw)
            except ValueError:
                log.warning("liveness key %s ignored: not JSON", _text(key))
        return out


class RedisRelay:
    """Reads the supervisor stream from ``start_id`` into a local bus (a gateway's)."""

    def __init__(self, streams: RedisStreams, bus: EventBus, *, start_id: str = "$") -> None:
        self.streams = streams
        self.bus = bus
        self.last_id = start_id
        self.relayed = 0
        self.ignored = 0

    async def step(self, *, block_ms: int = 500) -> int:
        """Relay what arrived (waits up to ``block_ms``); returns how many entries were read."""
        reply = await self.streams.client.xread(
            {self.streams.supervisor_stream: self.last_id}, block=block_ms, count=500
        )
        n = 0
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                n += 1
                self.last_id = _text(entry_id)
                entry = decode(fields, entry_id=self.last_id)
                if entry is None:
                    self.ignored += 1
                    continue
                self.relayed += 1
                self.bus.publish(entry.event, agent_id=entry.agent_id)
        return n

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis restart, network: retry from last_id
                log.warning("relay read failed (%s); retrying from %s", exc, self.last_id)
                await asyncio.sleep(0.5)


def publish_soon(streams: RedisStreams, event: ev.Event, *, agent_id: str, worker_id: str) -> None:
    """Fire-and-forget publish from the event loop (a worker's bus tap)."""
    task = asyncio.get_running_loop().create_task(
        streams.publish(BusEntry(event=event, agent_id=agent_id, worker_id=worker_id))
    )
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[str]] = set()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
