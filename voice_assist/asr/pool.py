"""The decode worker pool: the one thread/async boundary of the pipeline.

All calls share one model and ``workers`` decode threads.  Scheduling policy:

* Finals run first, oldest first, and are never dropped.
* Partials run only when no final is waiting; each leg has at most one queued
  partial, and a newer one replaces it (stale partials are worth nothing).
* When the oldest waiting final has waited longer than ``max_queue_s`` the pool is
  *overloaded*: queued partials are shed and every shed partial is counted; the
  runtime turns that into an :class:`~voice_assist.events.Overload` event.

The faster-whisper segment generator is consumed inside the worker thread
(:meth:`Decoder.decode` returns a finished :class:`Hypothesis`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from voice_assist.asr.decoder import Decoder, Hypothesis
from voice_assist.asr.stream import DecodeRequest

log = logging.getLogger(__name__)

DecodeFn = Callable[[DecodeRequest], Hypothesis]
Done = Callable[[DecodeRequest, Hypothesis | None, BaseException | None], None]


@dataclass(slots=True)
class PoolStats:
    finals_done: int = 0
    partials_done: int = 0
    partials_shed: int = 0
    failures: int = 0
    busy_s: float = 0.0
    final_wait_s: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=512)
    )


@dataclass(slots=True)
class _Job:
    request: DecodeRequest
    done: Done
    queued_at: float


class DecodePool:
    """Runs :class:`DecodeRequest` objects on worker threads with the policy above."""

    def __init__(self, decode: DecodeFn, *, workers: int = 1, max_queue_s: float = 6.0) -> None:
        self._decode = decode
        self._workers = max(1, workers)
        self.max_queue_s = max_queue_s
        self._finals: collections.deque[_Job] = collections.deque()
        self._partials: dict[tuple[str, str], _Job] = {}
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="decode")
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.stats = PoolStats()
        self.on_shed: Callable[[DecodeRequest, float], None] | None = None

    @classmethod
    def for_decoder(cls, decoder: Decoder, *, workers: int, max_queue_s: float) -> DecodePool:
        def run(req: DecodeRequest) -> Hypothesis:
            return decoder.decode(req.audio, words=req.kind == "final")

        return cls(run, workers=workers, max_queue_s=max_queue_s)

    def start(self) -> None:
        for i in range(self._workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"decode-worker-{i}"))

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------- submission
    def submit(self, request: DecodeRequest, done: Done) -> None:
        """Queue a decode; ``done(request, hypothesis, error)`` runs on the event loop."""
        job = _Job(request, done, time.monotonic())
        if request.kind == "final":
            self._finals.append(job)
            # the utterance is final now: its queued partial is stale
            stale = self._partials.pop((request.call_id, request.channel), None)
            if stale is not None:
                stale.done(stale.request, None, None)
        else:
            key = (request.call_id, request.channel)
            old = self._partials.pop(key, None)
            if old is not None:
                old.done(old.request, None, None)
            if self.overloaded():
                self._shed(job)
                return
            self._partials[key] = job
        self._wakeup.set()

    def drop_call(self, call_id: str) -> None:
        """Forget queued partials of a call that ended (its finals still run)."""
        for key in [k for k in self._partials if k[0] == call_id]:
            job = self._partials.pop(key)
            job.done(job.request, None, None)

    # ------------------------------------------------------------- state
    def oldest_final_wait_s(self) -> float:
        if not self._finals:
            return 0.0
        return time.monotonic() - self._finals[0].queued_at

    def backlog_s(self) -> float:
        """Seconds of audio waiting to be decoded as finals."""
        return sum(j.request.duration_s for j in self._finals)

    def overloaded(self) -> bool:
        return self.oldest_final_wait_s() > self.max_queue_s

    @property
    def queued(self) -> int:
        return len(self._finals) + len(self._partials)

    # ------------------------------------------------------------- workers
    def _next_job(self) -> _Job | None:
        if self._finals:
            return self._finals.popleft()
        if self._partials:
            key = min(self._partials, key=lambda k: self._partials[k].queued_at)
            return self._partials.pop(key)
        return None

    def _shed(self, job: _Job) -> None:
        self.stats.partials_shed += 1
        if self.on_shed is not None:
            self.on_shed(job.request, self.backlog_s())
        job.done(job.request, None, None)

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            job = self._next_job()
            if job is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if job.request.kind == "partial" and self.overloaded():
                self._shed(job)
                continue
            started = time.monotonic()
            if job.request.kind == "final":
                self.stats.final_wait_s.append(started - job.queued_at)
            hyp: Hypothesis | None = None
            error: BaseException | None = None
            try:
                hyp = await loop.run_in_executor(self._executor, self._decode, job.request)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a model failure is this utterance's problem only
                error = exc
                self.stats.failures += 1
                log.exception(
                    "[call_id=%s channel=%s] decode failed",
                    job.request.call_id,
                    job.request.channel,
                )
            self.stats.busy_s += time.monotonic() - started
            if job.request.kind == "final":
                self.stats.finals_done += 1
            else:
                self.stats.partials_done += 1
            try:
                job.done(job.request, hyp, error)
            except Exception:
                log.exception("[call_id=%s] decode callback failed", job.request.call_id)
