"""Redis streams adapter: workers publish call events, gateways relay them into a local bus.

Streams (``prefix`` default ``va``):

* ``{prefix}:sup`` - every call event (but prosody frames) of every worker, ``MAXLEN ~``;
  a gateway relays it into its own :class:`EventBus`, whose feeds then serve overlays and
  wall boards exactly as in one process (per-call order is the stream's order).
* ``{prefix}:ctl:{worker_id}`` - control messages for one worker (prompt acks).
* ``{prefix}:alive:{worker_id}`` - a liveness key with expiry carrying load figures.
* ``{prefix}:live`` - a hash of the live calls (call id -> agent, source, worker), changed
  in the same ``MULTI`` as the stream entry that starts or ends the call.
* ``{prefix}:watch:{worker_id}`` - a sorted set of the worker's calls whose partial
  transcripts a gateway shows, scored by when that interest expires (ms since the epoch).
* ``{prefix}:lost:{call_id}`` - claimed (``SET NX``) by the one gateway that ends a lost
  worker's call.

A gateway that takes a snapshot reads :meth:`RedisStreams.position` *before* it, and
relays from that position, so the snapshot plus the deltas after it miss no event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

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

    @property
    def live_hash(self) -> str:
        return f"{self.prefix}:live"

    def watch_key(self, worker_id: str) -> str:
        return f"{self.prefix}:watch:{worker_id}"

    def lost_key(self, call_id: str) -> str:
        return f"{self.prefix}:lost:{call_id}"

    def add_to(self, pipe: Any, entry: BusEntry) -> None:
        """Queue the ``XADD`` of ``entry`` on a pipeline."""
        pipe.xadd(self.supervisor_stream, encode(entry), maxlen=self.maxlen, approximate=True)

    async def publish(self, entry: BusEntry) -> str:
        entry_id = await self.client.xadd(
            self.supervisor_stream, encode(entry), maxlen=self.maxlen, approximate=True
        )
        return text(entry_id)

    async def live_calls(self) -> dict[str, dict[str, Any]]:
        """The live-call hash: call id -> {agent_id, source, worker_id, started_wall_s}."""
        out: dict[str, dict[str, Any]] = {}
        for key, raw in (await self.client.hgetall(self.live_hash)).items():
            try:
                row = json.loads(raw)
                out[text(key)] = {
                    "agent_id": str(row["agent_id"]),
                    "source": str(row.get("source", "")),
                    "worker_id": str(row["worker_id"]),
                    "started_wall_s": float(row.get("started_wall_s", 0.0)),
                }
            except (ValueError, KeyError, TypeError):
                log.warning("live-call entry %s ignored: malformed", text(key))
        return out

    async def position(self) -> str:
        """The id of the newest entry (``0-0`` when empty): read before a snapshot."""
        last = await self.client.xrevrange(self.supervisor_stream, count=1)
        return text(last[0][0]) if last else "0-0"

    async def heartbeat(self, worker_id: str, load: dict[str, float], *, ttl_ms: int) -> None:
        await self.client.set(self.alive_key(worker_id), json.dumps(load), px=ttl_ms)

    async def alive_workers(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        async for key in self.client.scan_iter(match=f"{self.prefix}:alive:*"):
            raw = await self.client.get(key)
            if raw is None:
                continue
            try:
                out[text(key).rsplit(":", 1)[1]] = json.loads(raw)
            except ValueError:
                log.warning("liveness key %s ignored: not JSON", text(key))
        return out


class RedisRelay:
    """Reads the supervisor stream from ``start_id`` into a local bus (a gateway's).

    An entry whose worker sequence number was already relayed (a batch re-sent after a
    lost reply) is dropped and counted in ``duplicates``; ``on_entry`` sees every entry
    relayed (the gateway learns from it which worker owns which call).
    """

    def __init__(
        self,
        streams: RedisStreams,
        bus: EventBus,
        *,
        start_id: str = "$",
        on_entry: Callable[[BusEntry], None] | None = None,
        client: Any = None,
    ) -> None:
        self.streams = streams
        self.client = client if client is not None else streams.client
        self.bus = bus
        self.last_id = start_id
        self.on_entry = on_entry
        self.relayed = 0
        self.ignored = 0
        self.duplicates = 0
        self.errors = 0
        self.down_since: float | None = None
        self.last_outage_s = 0.0
        self._last_seq: dict[str, int] = {}

    async def step(self, *, block_ms: int = 500) -> int:
        """Relay what arrived (waits up to ``block_ms``); returns how many entries were read."""
        reply = await self.client.xread(
            {self.streams.supervisor_stream: self.last_id}, block=block_ms, count=500
        )
        n = 0
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                n += 1
                self.last_id = text(entry_id)
                entry = decode(fields, entry_id=self.last_id)
                if entry is None:
                    self.ignored += 1
                    continue
                if entry.seq:
                    if entry.seq <= self._last_seq.get(entry.worker_id, 0):
                        self.duplicates += 1
                        continue
                    self._last_seq[entry.worker_id] = entry.seq
                self.relayed += 1
                if self.on_entry is not None:
                    self.on_entry(entry)
                self.bus.publish(entry.event, agent_id=entry.agent_id)
        return n

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis restart, network: retry from last_id
                self.errors += 1
                if self.down_since is None:
                    self.down_since = time.monotonic()
                    log.warning("relay read failed (%s); retrying from %s", exc, self.last_id)
                await asyncio.sleep(0.5)
            else:
                if self.down_since is not None:
                    self.last_outage_s = time.monotonic() - self.down_since
                    self.down_since = None
                    log.warning("relay reading again after %.1f s", self.last_outage_s)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
