"""A call worker's side of the cluster: its events onto Redis, its liveness, its control.

One :class:`WorkerLink` per worker process, attached to the process's engine:

* every event the engine's bus publishes, but prosody frames (no feed sends those), is
  queued (the bus tap never blocks); one task writes the queue to the call-event stream
  in order, a batch per round trip.  A call's start and end go in the same ``MULTI`` as
  a change of the live-call hash (``{prefix}:live``), so a gateway that reads the stream
  position and then the hash has a snapshot consistent with the entries after it.
* each entry carries the worker's sequence number: a batch re-sent after a lost reply
  is recognised by gateways and dropped, not shown twice.
* while Redis is unreachable events wait (up to ``cluster.publish_backlog_max``, then
  the oldest are dropped and counted); calls go on, the store records them as ever.
* a liveness key, refreshed every ``heartbeat_interval_ms`` and expiring after
  ``liveness_ttl_ms``, carries the worker's load (decoder and event loop) for gateways
  and for ``/healthz``.
* the control stream brings prompt acks from gateways (an overlay may be connected to
  any gateway) and the set of calls whose partial transcripts someone watches.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import time
from typing import Any

from voice_assist import events as ev
from voice_assist.cluster.codec import MAGIC, BusEntry
from voice_assist.cluster.redis_bus import RedisStreams, text
from voice_assist.config import ClusterOptions
from voice_assist.runtime.bus import EventBus

log = logging.getLogger(__name__)

BATCH_MAX = 200


class WorkerLink:
    def __init__(
        self,
        engine: Any,
        streams: RedisStreams,
        options: ClusterOptions,
        *,
        worker_id: str,
        media_url: str = "",
        reader: Any = None,
    ) -> None:
        """``engine``: the process's :class:`voice_assist.runtime.engine.Engine`;
        ``reader``: a second Redis client for the blocking control read (default: the
        streams' client)."""
        self.engine = engine
        self.bus: EventBus = engine.bus
        self.streams = streams
        self.reader = reader if reader is not None else streams.client
        self.options = options
        self.worker_id = worker_id
        self.media_url = media_url
        self.seq = 0
        self.published = 0
        self.dropped = 0
        self.redis_errors = 0
        self.outage_started: float | None = None
        self.last_outage_s = 0.0
        self.watched: set[str] = set()
        self._queue: collections.deque[BusEntry] = collections.deque()
        self._wake = asyncio.Event()
        self._resync = False
        self._tasks: list[asyncio.Task[None]] = []
        self._cpu_mark = (time.process_time(), time.monotonic())

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """First heartbeat (so no gateway takes this worker's calls for lost), then the tasks."""
        try:
            await self._heartbeat_once()
        except Exception as exc:  # Redis down at start: the loops retry
            self._failed("first heartbeat", exc)
        self.bus.taps.append(self._tap)
        self.engine.remote_watch = self.watched.__contains__
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="cluster-publish"),
            asyncio.create_task(self._heartbeat_loop(), name="cluster-heartbeat"),
            asyncio.create_task(self._control_loop(), name="cluster-control"),
        ]
        log.info("cluster worker %s linked (prefix %s)", self.worker_id, self.streams.prefix)

    async def close(self, *, flush_timeout_s: float = 3.0) -> None:
        """Publish what is queued (bounded wait), stop, and remove the liveness key."""
        deadline = time.monotonic() + flush_timeout_s
        while self._queue and time.monotonic() < deadline and self.outage_started is None:
            self._wake.set()
            await asyncio.sleep(0.02)
        with contextlib.suppress(ValueError):
            self.bus.taps.remove(self._tap)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.streams.client.delete(self.streams.alive_key(self.worker_id))

    def figures(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "published": self.published,
            "queued": len(self._queue),
            "dropped": self.dropped,
            "redis_errors": self.redis_errors,
            "redis_down_s": round(time.monotonic() - self.outage_started, 3)
            if self.outage_started is not None
            else 0.0,
            "last_outage_s": round(self.last_outage_s, 3),
            "watched_calls": len(self.watched),
        }

    # -- events out --------------------------------------------------------------------------
    def _tap(self, event: ev.Event, agent_id: str) -> None:
        if isinstance(event, ev.ProsodyFrame):
            return  # no feed sends them (the store keeps them): not worth their encoding
        self.seq += 1
        self._queue.append(
            BusEntry(event=event, agent_id=agent_id, worker_id=self.worker_id, seq=self.seq)
        )
        while len(self._queue) > self.options.publish_backlog_max:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "cluster: %d event(s) dropped while Redis is unreachable (backlog full)",
                    self.dropped,
                )
        self._wake.set()

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(BATCH_MAX, len(self._queue)))]
                try:
                    if self._resync:
                        await self._resync_live()
                    await self._publish(batch)
                except asyncio.CancelledError:
                    self._queue.extendleft(reversed(batch))
                    raise
                except Exception as exc:
                    self._queue.extendleft(reversed(batch))
                    self._failed("publish", exc)
                    self._resync = True
                    await asyncio.sleep(0.5)
                    continue
                self._recovered()
                self.published += len(batch)

    async def _publish(self, batch: list[BusEntry]) -> None:
        pipe = self.streams.client.pipeline(transaction=True)
        for entry in batch:
            self.streams.add_to(pipe, entry)
            if isinstance(entry.event, ev.CallStarted):
                pipe.hset(self.streams.live_hash, entry.event.call_id, self._live_row(entry))
            elif isinstance(entry.event, ev.CallEnded):
                pipe.hdel(self.streams.live_hash, entry.event.call_id)
        await pipe.execute()

    def _live_row(self, entry: BusEntry) -> str:
        event = entry.event
        source = event.source if isinstance(event, ev.CallStarted) else ""
        return json.dumps(
            {
                "agent_id": entry.agent_id,
                "source": source,
                "worker_id": self.worker_id,
                "started_wall_s": time.time(),
            }
        )

    async def _resync_live(self) -> None:
        """After an outage (Redis may have restarted empty): re-list this worker's calls."""
        pipe = self.streams.client.pipeline(transaction=True)
        for live in self.bus.live_calls():
            row = {
                "agent_id": live.agent_id,
                "source": live.source,
                "worker_id": self.worker_id,
                "started_wall_s": live.started_wall_s,
            }
            pipe.hset(self.streams.live_hash, live.call_id, json.dumps(row))
        await pipe.execute()
        self._resync = False

    # -- liveness and load -------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        """What gateways and load balancers read: admission and its figures."""
        verdict = self.engine.admission()
        lag = verdict.loop_lag_p90_s
        return {
            "worker_id": self.worker_id,
            "pid": os.getpid(),
            "media_url": self.media_url,
            "live_calls": len(self.engine.sessions),
            "admit": verdict.admit,
            "reason": verdict.reason,
            "decoder_utilization": round(verdict.utilization, 3),
            "loop_lag_p90_ms": None if lag is None else round(lag * 1000, 1),
            "cpu_cores": round(self._cpu_cores(), 3),
            "published": self.published,
            "queued": len(self._queue),
            "dropped": self.dropped,
            "redis_errors": self.redis_errors,
            "redis_last_outage_s": round(self.last_outage_s, 3),
        }

    def _cpu_cores(self) -> float:
        """Cores this process used since the last call (decoder threads included)."""
        cpu, wall = time.process_time(), time.monotonic()
        last_cpu, last_wall = self._cpu_mark
        self._cpu_mark = (cpu, wall)
        return (cpu - last_cpu) / (wall - last_wall) if wall > last_wall else 0.0

    async def _heartbeat_once(self) -> None:
        await self.streams.heartbeat(
            self.worker_id, self.load(), ttl_ms=self.options.liveness_ttl_ms
        )
        now_ms = int(time.time() * 1000)
        raw = await self.streams.client.zrangebyscore(
            self.streams.watch_key(self.worker_id), now_ms, "+inf"
        )
        self.watched.clear()
        self.watched.update(text(r) for r in raw)

    async def _heartbeat_loop(self) -> None:
        interval_s = self.options.heartbeat_interval_ms / 1000
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self._heartbeat_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed("heartbeat", exc)
                self._resync = True

    # -- control in --------------------------------------------------------------------------
    async def _control_loop(self) -> None:
        stream = self.streams.control_stream(self.worker_id)
        last_id = "$"
        while True:
            try:
                reply = await self.reader.xread({stream: last_id}, block=1000, count=100)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed("control read", exc)
                await asyncio.sleep(0.5)
                continue
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    last_id = text(entry_id)
                    self.on_control(fields, entry_id=last_id)

    def on_control(self, fields: dict[Any, Any], *, entry_id: str = "?") -> bool:
        """Apply one control message; a malformed one is logged and ignored (False)."""
        try:
            msg = {text(k): text(v) for k, v in fields.items()}
        except UnicodeDecodeError:
            log.warning("control entry %s ignored: not UTF-8", entry_id)
            return False
        if msg.get("kind") != MAGIC or msg.get("type") != "prompt_ack":
            log.warning("control entry %s ignored: not a prompt_ack of ours", entry_id)
            return False
        try:
            call_id, agent_id = msg["call_id"], msg["agent_id"]
            prompt_id, action = msg["prompt_id"], msg["action"]
        except KeyError as exc:
            log.warning("control entry %s ignored: no %s", entry_id, exc)
            return False
        if not self.engine.ack_prompt(call_id, agent_id, prompt_id, action):
            log.info("[call_id=%s] ack for a call not live here (ended?): ignored", call_id)
            return False
        return True

    # -- outages -----------------------------------------------------------------------------
    def _failed(self, what: str, exc: BaseException) -> None:
        self.redis_errors += 1
        if self.outage_started is None:
            self.outage_started = time.monotonic()
            log.error("cluster: Redis %s failed (%s); calls go on, events are held", what, exc)

    def _recovered(self) -> None:
        if self.outage_started is not None:
            self.last_outage_s = time.monotonic() - self.outage_started
            self.outage_started = None
            log.warning(
                "cluster: Redis reachable again after %.1f s; %d event(s) dropped in all",
                self.last_outage_s,
                self.dropped,
            )
