"""The decode worker pool: the one thread/async boundary of the pipeline.

All calls share one model and ``workers`` decode threads.  Scheduling policy:

* Finals run first, oldest first, and are never dropped.  A final decodes with the
  final window and beam (``asr.final_min_window_ms``, ``asr.final_beam_size``) only
  when nothing else is waiting; with a queue it takes the partials' window and beam
  (``narrow``: a 10 s window costs a third of a 30 s one on CPU), so a busy pool keeps
  the latency of the finals behind it and accuracy is what gives first.
* Partials run only when no final is waiting, and on at most ``workers - 1`` workers
  at once: with two or more, one worker is always free for the next final, which
  then never waits behind a partial.  Each leg has at most one queued partial, and a
  newer one replaces it (stale partials are worth nothing).
* Partials yield to slow finals: a published final that waited longer than
  ``partial_yield_final_wait_s`` after its speech ended (:meth:`record_final_wait`)
  pauses new partials for ``partial_yield_s``.  On a CPU the partials' worker shares
  the cores with the finals and the event loop, so a busy server gives its partials up
  first; queued partials wait (newest per leg) and run when the pause ends.
* When the oldest waiting final has waited longer than ``max_queue_s`` the pool is
  *overloaded*: queued partials are shed and every shed partial is counted; the
  runtime turns that into an :class:`~voice_assist.events.Overload` event.

Each decode runs whole inside the worker thread (:meth:`Decoder.decode` returns a
finished :class:`Hypothesis`).

Admission control (:meth:`DecodePool.admission`): shedding at ``max_queue_s`` comes too
late for the calls already running, so the pool also measures its load over a sliding
window (:class:`DecoderLoad`) and answers "may one more call start?" *before* the
latency budget is spent:

* **final wait**: how long the calls already running wait for their final
  transcripts, from the end of the utterance's speech to the final being published
  (media time; the runtime reports each final with :meth:`DecodePool.record_final_wait`): its
  90th percentile over the window must stay within ``admit_max_final_wait_ms``.  It
  holds end-of-speech detection, queueing and decoding, i.e. the final-transcript
  budget (1.2 s p95, docs/design.md "Latency budget") less the delivery to the
  overlay; a threshold below the budget refuses the next call while the running ones
  still keep theirs.  (Only published finals count: an early final thrown away
  because speech resumed keeps no one waiting, however long it queued.)
* **projected utilisation**: every decode request, when it is submitted, adds the
  running mean decode time of its kind (seconds) to the window's *demand* (demand
  counts partials that are later replaced, so it does not fall when the pool is
  saturated); a final counts at the cost of a narrow final, since that is what it costs
  once the decoder is shared (:meth:`DecodePool.demand_s`).  Demand divided by the
  call-seconds lived in the window is the measured cost of one call (decoder seconds
  per second of call); with one more call the workers would be
  ``(live_calls + 1) * cost / workers`` busy, which must stay within
  ``admit_max_utilization``.  The cost is measured only once the window holds
  ``ADMIT_MIN_CALL_S`` call-seconds; until then only the final-wait rule applies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from voice_assist.asr.admission import Admission, Clock, DecoderLoad
from voice_assist.asr.decoder import Decoder, Hypothesis
from voice_assist.asr.stream import DecodeRequest

log = logging.getLogger(__name__)

DecodeFn = Callable[[DecodeRequest], Hypothesis]
Done = Callable[[DecodeRequest, Hypothesis | None, BaseException | None], None]
ADMIT_MIN_CALL_S = 20.0
"""Call-seconds the window must hold before the per-call cost counts as measured."""
COST_SMOOTHING = 0.2
"""Weight of the newest decode in the running mean decode time of its kind."""
PARTIAL_COST_GUESS = 0.5
"""Before any partial was decoded, a partial is assumed to cost this share of a final."""


@dataclass(slots=True)
class PoolStats:
    finals_done: int = 0
    finals_narrow: int = 0
    """Finals decoded with the partials' beam because other work was waiting."""
    partials_done: int = 0
    partials_shed: int = 0
    partial_yields: int = 0
    """Slow finals that paused new partials."""
    failures: int = 0
    busy_s: float = 0.0
    busy_s_by_kind: dict[str, float] = field(default_factory=dict)
    """Decoder seconds per kind (``partial``, ``final``, ``final_narrow``), failures too."""
    final_wait_s: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=512)
    )


@dataclass(slots=True, eq=False)  # identity: jobs hold audio arrays, never compared by value
class _Job:
    request: DecodeRequest
    done: Done
    queued_at: float


class DecodePool:
    """Runs :class:`DecodeRequest` objects on worker threads with the policy above."""

    def __init__(
        self,
        decode: DecodeFn,
        *,
        workers: int = 1,
        max_queue_s: float = 6.0,
        admit_max_utilization: float = 0.0,
        admit_max_final_wait_s: float = 0.0,
        admit_window_s: float = 30.0,
        partial_yield_final_wait_s: float = 0.0,
        partial_yield_s: float = 0.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._decode = decode
        self._workers = max(1, workers)
        self.max_queue_s = max_queue_s
        self.admit_max_utilization = admit_max_utilization
        self.admit_max_final_wait_s = admit_max_final_wait_s
        self.partial_yield_final_wait_s = partial_yield_final_wait_s
        self.partial_yield_s = partial_yield_s
        self._partials_paused_until = -math.inf
        self._clock = clock
        self.load = DecoderLoad(window_s=admit_window_s, clock=clock)
        self._cost_s: dict[str, float] = {}
        """Running mean decode time per kind (``partial``, ``final``, ``final_narrow``)."""
        self._finals: collections.deque[_Job] = collections.deque()
        self._partials: dict[tuple[str, str], _Job] = {}
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="decode")
        self._tasks: list[asyncio.Task[None]] = []
        self._partials_running = 0
        self._max_partials_running = max(1, self._workers - 1)
        self._closed = False
        self.stats = PoolStats()
        self.on_shed: Callable[[DecodeRequest, float], None] | None = None

    @classmethod
    def for_decoder(
        cls,
        decoder: Decoder,
        *,
        workers: int,
        max_queue_s: float,
        admit_max_utilization: float = 0.0,
        admit_max_final_wait_s: float = 0.0,
        admit_window_s: float = 30.0,
        partial_yield_final_wait_s: float = 0.0,
        partial_yield_s: float = 0.0,
    ) -> DecodePool:
        def run(req: DecodeRequest) -> Hypothesis:
            return decoder.decode(
                req.audio, words=req.kind == "final", prompt=req.prompt, narrow=req.narrow
            )

        return cls(
            run,
            workers=workers,
            max_queue_s=max_queue_s,
            admit_max_utilization=admit_max_utilization,
            admit_max_final_wait_s=admit_max_final_wait_s,
            admit_window_s=admit_window_s,
            partial_yield_final_wait_s=partial_yield_final_wait_s,
            partial_yield_s=partial_yield_s,
        )

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
        job = _Job(request, done, self._clock())
        self.load.add_demand(self.demand_s(request))
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

    def withdraw(self, request: DecodeRequest) -> bool:
        """Take a queued request back (an early final whose speech resumed).

        Returns whether it was still queued; one already running finishes and its
        result is ignored by the transcriber.
        """
        for job in self._finals:
            if job.request is request:
                self._finals.remove(job)
                job.done(job.request, None, None)
                return True
        return False

    def drop_call(self, call_id: str) -> None:
        """Forget queued partials of a call that ended (its finals still run)."""
        for key in [k for k in self._partials if k[0] == call_id]:
            job = self._partials.pop(key)
            job.done(job.request, None, None)

    # ------------------------------------------------------------- state
    def oldest_final_wait_s(self) -> float:
        if not self._finals:
            return 0.0
        return self._clock() - self._finals[0].queued_at

    def backlog_s(self) -> float:
        """Seconds of audio waiting to be decoded as finals."""
        return sum(j.request.duration_s for j in self._finals)

    def overloaded(self) -> bool:
        return self.oldest_final_wait_s() > self.max_queue_s

    def decode_cost_s(self, kind: str) -> float:
        """Running mean decode time of ``partial``, ``final`` (wide) or ``final_narrow``.

        A kind not measured yet is estimated from the others: a wide and a narrow final
        stand for each other (on a CPU they take the same window), and a partial (a
        shorter window, no word times) is ``PARTIAL_COST_GUESS`` of a final.  0 before
        anything ran.
        """
        cost = self._cost_s
        if kind in cost:
            return cost[kind]
        other = "final" if kind == "final_narrow" else "final_narrow"
        if kind == "partial":
            return PARTIAL_COST_GUESS * cost.get("final_narrow", cost.get("final", 0.0))
        return cost.get(other, cost.get("partial", 0.0) / PARTIAL_COST_GUESS)

    def demand_s(self, request: DecodeRequest) -> float:
        """Decoder time a submitted request commits: a final counts at its narrow cost,
        a partial not at all.

        A busy pool decodes finals narrow, so that is what one more call costs once the
        decoder is shared; a wide final only fills time that would otherwise be idle.
        Partials are elastic: a newer one replaces the queued one, they never hold more
        than ``workers - 1`` workers, and an overloaded pool sheds them; what they use
        at one call is idle time, not what the call needs.
        """
        return self.decode_cost_s("final_narrow") if request.kind == "final" else 0.0

    def record_final_wait(self, seconds: float) -> None:
        """A final was published ``seconds`` (media time) after its utterance ended."""
        self.load.add_final_wait(seconds)
        if 0 < self.partial_yield_final_wait_s < seconds and self.partial_yield_s > 0:
            self._partials_paused_until = self._clock() + self.partial_yield_s
            self.stats.partial_yields += 1

    def partials_paused_s(self) -> float:
        """Seconds until new partials may start again (0: they may now)."""
        return max(0.0, self._partials_paused_until - self._clock())

    def calls_changed(self, live_calls: int) -> None:
        """The runtime opened or closed a call (the load meter integrates call-seconds)."""
        self.load.set_calls(live_calls)

    def admission(self, live_calls: int) -> Admission:
        """Whether one more call may start now (see the module docstring for the rule)."""
        demand_s, busy_s, call_s = self.load.totals()
        utilization = busy_s / (self.load.span_s() * self._workers)
        wait_p90 = self.load.final_wait_p90_s()
        cost = demand_s / call_s if call_s >= ADMIT_MIN_CALL_S else None
        projected = capacity = None
        if cost is not None:
            projected = (live_calls + 1) * cost / self._workers
            if self.admit_max_utilization > 0:
                capacity = (
                    int(self.admit_max_utilization * self._workers / cost) if cost > 0 else None
                )
        reason = ""
        if self.overloaded():
            reason = (
                f"decoder behind by {self.oldest_final_wait_s():.1f} s "
                f"(asr.max_queue_s={self.max_queue_s:g})"
            )
        elif (
            self.admit_max_final_wait_s > 0
            and live_calls > 0  # slow finals of calls that have ended keep no one waiting
            and wait_p90 is not None
            and wait_p90 > self.admit_max_final_wait_s
        ):
            reason = (
                f"final transcripts of the running calls take {wait_p90 * 1000:.0f} ms (p90), "
                f"over asr.admit_max_final_wait_ms={self.admit_max_final_wait_s * 1000:.0f}"
            )
        elif (
            self.admit_max_utilization > 0
            and live_calls > 0  # the first call always fits: an idle server serves
            and projected is not None
            and projected > self.admit_max_utilization
        ):
            reason = (
                f"one more call would keep the decoder {projected:.0%} busy, over "
                f"asr.admit_max_utilization={self.admit_max_utilization:.0%} "
                f"({live_calls} live calls)"
            )
        return Admission(
            admit=not reason,
            reason=reason,
            live_calls=live_calls,
            utilization=utilization,
            call_cost=cost,
            projected_utilization=projected,
            final_wait_p90_s=wait_p90,
            capacity_calls=capacity,
        )

    @property
    def queued(self) -> int:
        return len(self._finals) + len(self._partials)

    # ------------------------------------------------------------- workers
    def _next_job(self) -> _Job | None:
        if self._finals:
            return self._finals.popleft()
        if (
            self._partials
            and self._partials_running < self._max_partials_running
            and not self.partials_paused_s()
        ):
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
                paused = self.partials_paused_s() if self._partials else 0.0
                if paused:  # queued partials may start when the pause ends
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), paused)
                else:
                    await self._wakeup.wait()
                continue
            if job.request.kind == "partial" and self.overloaded():
                self._shed(job)
                continue
            started = self._clock()
            request = job.request
            if request.kind == "final":
                self.stats.final_wait_s.append(started - job.queued_at)
                if self.queued:  # others wait: short window, greedy (job.request is kept)
                    request = replace(request, narrow=True)
                    self.stats.finals_narrow += 1
            hyp: Hypothesis | None = None
            error: BaseException | None = None
            partial = request.kind == "partial"
            if partial:
                self._partials_running += 1
            try:
                hyp = await loop.run_in_executor(self._executor, self._decode, request)
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
            finally:
                if partial:
                    self._partials_running -= 1
                    self._wakeup.set()  # a worker held back from partials may take one
            took = self._clock() - started
            self.stats.busy_s += took
            kind = "final_narrow" if request.narrow else request.kind
            self.stats.busy_s_by_kind[kind] = self.stats.busy_s_by_kind.get(kind, 0.0) + took
            self.load.add_busy(took)
            if error is None:
                old = self._cost_s.get(kind)
                self._cost_s[kind] = took if old is None else old + COST_SMOOTHING * (took - old)
            if job.request.kind == "final":
                self.stats.finals_done += 1
            else:
                self.stats.partials_done += 1
            try:
                job.done(job.request, hyp, error)
            except Exception:
                log.exception("[call_id=%s] decode callback failed", job.request.call_id)
