"""A feed gateway: every worker's calls in one local bus, for overlays and wall boards.

The gateway runs no engine.  At start it reads the stream position, then the live-call
hash (calls already running, seeded into its bus), then relays the stream from that
position, so its snapshot and the deltas after it agree.  Its feeds are the ones a
one-process server runs (:mod:`voice_assist.server.feeds`), on this bus.

It also:

* sends an agent's ``prompt_ack`` to the control stream of the worker owning the call;
* tells each worker which of its calls' partial transcripts a connected overlay or
  wall-board detail pane shows (workers decode partials only for those);
* watches the workers' liveness keys: a worker whose key has expired (and Redis has
  been reachable meanwhile) is lost; one gateway claims each of its calls, ends it on
  the stream (``reason: worker_lost``) and marks it interrupted in the store, so every
  gateway's wall board drops it when the relay brings that entry back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from voice_assist import events as ev
from voice_assist.cluster.codec import MAGIC, BusEntry
from voice_assist.cluster.redis_bus import RedisRelay, RedisStreams
from voice_assist.config import ClusterOptions
from voice_assist.runtime.bus import EventBus, LiveCall

log = logging.getLogger(__name__)

WATCH_REFRESH_S = 1.0
WATCH_TTL_MS = 3000
LOST_REASON = "worker_lost"


class Gateway:
    def __init__(
        self,
        streams: RedisStreams,
        options: ClusterOptions,
        *,
        reader: Any = None,
        on_lost: Any = None,
    ) -> None:
        """``reader``: a second Redis client for the blocking stream read; ``on_lost``:
        called with the call ids this gateway ended for a lost worker (the store marks
        them interrupted)."""
        self.streams = streams
        self.options = options
        self.bus = EventBus()
        self.owner: dict[str, str] = {}
        """Call id -> the worker running it."""
        self.workers: dict[str, dict[str, Any]] = {}
        """The live workers' load figures, from their liveness keys (last sweep)."""
        self.lost_workers: set[str] = set()
        self.calls_lost = 0
        self.ready = False
        self.redis_up = False
        self.redis_failures = 0
        self._reader = reader
        self._on_lost = on_lost
        self._relay: RedisRelay | None = None
        self._up_since: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Snapshot (position first, then the live-call hash), then relay from there."""
        position = await self.streams.position()
        for call_id, row in (await self.streams.live_calls()).items():
            self.bus.seed(LiveCall(call_id, row["agent_id"], row["source"], row["started_wall_s"]))
            self.owner[call_id] = row["worker_id"]
        self._relay = RedisRelay(
            self.streams,
            self.bus,
            start_id=position,
            on_entry=self._learn,
            client=self._reader,
        )
        await self._sweep_once()
        self._tasks = [
            asyncio.create_task(self._relay.run(), name="cluster-relay"),
            asyncio.create_task(self._sweep_loop(), name="cluster-sweep"),
            asyncio.create_task(self._watch_loop(), name="cluster-watch"),
        ]
        self.ready = True
        log.info(
            "gateway ready: %d live call(s) on %d worker(s)", len(self.owner), len(self.workers)
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _learn(self, entry: BusEntry) -> None:
        call_id = entry.event.call_id
        if isinstance(entry.event, ev.CallEnded):
            self.owner.pop(call_id, None)
        else:
            self.owner[call_id] = entry.worker_id

    # -- the CallHub seam --------------------------------------------------------------------
    def ack_prompt(self, call_id: str, agent_id: str, prompt_id: str, action: str) -> bool:
        live = self.bus.live_call(call_id)
        worker = self.owner.get(call_id)
        if live is None or live.agent_id != agent_id or worker is None:
            return False
        fields = {
            "kind": MAGIC,
            "type": "prompt_ack",
            "call_id": call_id,
            "agent_id": agent_id,
            "prompt_id": prompt_id,
            "action": action,
        }
        task = asyncio.get_running_loop().create_task(self._send_control(worker, fields))
        self._tasks.append(task)
        task.add_done_callback(self._forget)
        return True

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _send_control(self, worker: str, fields: dict[str, str]) -> None:
        try:
            await self.streams.client.xadd(
                self.streams.control_stream(worker), fields, maxlen=10_000, approximate=True
            )
        except Exception as exc:
            log.error(
                "[call_id=%s] prompt ack not delivered to worker %s: %s",
                fields["call_id"],
                worker,
                exc,
            )

    # -- what /healthz says ------------------------------------------------------------------
    def health(self) -> tuple[int, dict[str, Any]]:
        """HTTP status and body: 503 with a reason when no worker would take a call."""
        admitting = [w for w, load in self.workers.items() if load.get("admit")]
        relay = self._relay
        body: dict[str, Any] = {
            "role": "gateway",
            "redis": "up" if self.redis_up else "down",
            "live_calls": len(self.bus.live_calls()),
            "workers": self.workers,
            "workers_admitting": len(admitting),
            "workers_lost": sorted(self.lost_workers),
            "calls_lost": self.calls_lost,
            "relayed": relay.relayed if relay else 0,
            "duplicates_dropped": relay.duplicates if relay else 0,
            "relay_last_outage_s": round(relay.last_outage_s, 3) if relay else 0.0,
        }
        if not self.ready:
            return 503, {"status": "starting", **body}
        if not self.redis_up:
            return 503, {"status": "redis_down", **body}
        if not self.workers:
            return 503, {"status": "no_workers", **body}
        if not admitting:
            return 503, {"status": "full", **body}
        return 200, {"status": "ok", **body}

    # -- liveness ----------------------------------------------------------------------------
    async def _sweep_loop(self) -> None:
        interval_s = self.options.heartbeat_interval_ms / 1000
        while True:
            await asyncio.sleep(interval_s)
            await self._sweep_once()

    async def _sweep_once(self) -> None:
        now = time.monotonic()
        try:
            self.workers = await self.streams.alive_workers()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.redis_failures += 1
            if self.redis_up or self.redis_failures % 20 == 0:
                log.error(
                    "gateway: Redis unreachable (%s: %s; %d failed reads): no worker is "
                    "judged lost meanwhile",
                    type(exc).__name__,
                    exc,
                    self.redis_failures,
                )
            self.redis_up = False
            self._up_since = None
            return
        if not self.redis_up and self.ready:
            log.warning("gateway: Redis reachable again")
        self.redis_up = True
        if self._up_since is None:
            self._up_since = now
        self.lost_workers.difference_update(self.workers)
        ttl_s = self.options.liveness_ttl_ms / 1000
        if now - self._up_since < ttl_s:
            return  # Redis just came back: the workers' keys are still being re-set
        lost: dict[str, list[str]] = {}
        for call_id, worker in list(self.owner.items()):
            if worker not in self.workers:  # its key expired: ttl_s without a heartbeat
                lost.setdefault(worker, []).append(call_id)
        for worker, calls in lost.items():
            await self._end_lost(worker, calls)

    async def _end_lost(self, worker: str, call_ids: list[str]) -> None:
        if worker not in self.lost_workers:
            log.error("worker %s lost (liveness key expired): %d call(s)", worker, len(call_ids))
            self.lost_workers.add(worker)
        claimed: list[str] = []
        for call_id in call_ids:
            live = self.bus.live_call(call_id)
            try:
                won = await self.streams.client.set(
                    self.streams.lost_key(call_id), worker, nx=True, ex=3600
                )
                if won:
                    media_ms = live.media_ms if live is not None else 0
                    end = ev.CallEnded(
                        call_id=call_id, t_ms=media_ms, reason=LOST_REASON, duration_ms=media_ms
                    )
                    agent = live.agent_id if live is not None else ""
                    pipe = self.streams.client.pipeline(transaction=True)
                    self.streams.add_to(pipe, BusEntry(event=end, agent_id=agent, worker_id=worker))
                    pipe.hdel(self.streams.live_hash, call_id)
                    await pipe.execute()
                    claimed.append(call_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("[call_id=%s] cannot end the lost call yet: %s", call_id, exc)
        if claimed:
            self.calls_lost += len(claimed)
            log.error("calls of lost worker %s ended: %s", worker, ", ".join(claimed))
            if self._on_lost is not None:
                try:
                    await asyncio.to_thread(self._on_lost, claimed)
                except Exception as exc:
                    log.error("cannot mark the lost calls interrupted in the store: %s", exc)

    # -- partial transcripts -----------------------------------------------------------------
    async def _watch_loop(self) -> None:
        while True:
            try:
                await self._watch_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("watch refresh failed: %s", exc)
            await asyncio.sleep(WATCH_REFRESH_S)

    async def _watch_once(self) -> None:
        until_ms = int(time.time() * 1000) + WATCH_TTL_MS
        by_worker: dict[str, dict[str, int]] = {}
        for live in self.bus.live_calls():
            worker = self.owner.get(live.call_id)
            if worker is not None and self.bus.partials_watched(live.call_id, live.agent_id):
                by_worker.setdefault(worker, {})[live.call_id] = until_ms
        if not by_worker:
            return
        pipe = self.streams.client.pipeline(transaction=False)
        for worker, members in by_worker.items():
            key = self.streams.watch_key(worker)
            pipe.zadd(key, members)  # type: ignore[arg-type]
            pipe.zremrangebyscore(key, "-inf", until_ms - WATCH_TTL_MS)
            pipe.pexpire(key, WATCH_TTL_MS * 2)
        await pipe.execute()
