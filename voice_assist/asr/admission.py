"""Admission measurements: what the decoder is asked for and how long finals wait.

:class:`DecoderLoad` keeps the figures of a sliding window; :class:`Admission` is the
answer to "may one more call start?" with the figures behind it.  The rule that turns
the figures into the answer is :meth:`voice_assist.asr.pool.DecodePool.admission`
(it also needs the pool's queue).  The clock is injected, so tests step time instead
of sleeping.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

Clock = Callable[[], float]

ADMIT_MIN_FINALS = 3
"""Final waits the window must hold before their percentile is used."""


@dataclass(frozen=True, slots=True)
class Admission:
    """The pool's answer to "may one more call start?", with the figures behind it.

    ``reason`` is empty when admitted, else one sentence for the refused client.
    Times in seconds; ``call_cost`` in decoder seconds per second of one call;
    ``capacity_calls`` is the number of calls the measured cost allows at the
    utilisation limit (``None`` until measured or when the rule is off).
    """

    admit: bool
    reason: str
    live_calls: int
    utilization: float
    call_cost: float | None
    projected_utilization: float | None
    final_wait_p90_s: float | None
    capacity_calls: int | None
    loop_lag_p90_s: float | None = None
    """The event loop's lag (:mod:`voice_assist.runtime.looplag`), where the host measures it."""
    cpu_cores: float | None = None
    """The server process's CPU (:mod:`voice_assist.runtime.cpuload`), where the host
    measures it."""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 4)
        return out


@dataclass(slots=True)
class _Bucket:
    demand_s: float = 0.0
    busy_s: float = 0.0
    call_s: float = 0.0


class DecoderLoad:
    """Decoder demand, busy time, call-seconds and final waits over a sliding window.

    Kept in one-second buckets (at most ``window_s + 1`` of them) plus the window's
    final waits, so memory is bounded whatever the load.  ``clock`` is injectable for
    tests.
    """

    def __init__(self, *, window_s: float = 30.0, clock: Clock = time.monotonic) -> None:
        self.window_s = max(1.0, window_s)
        self._clock = clock
        self._buckets: dict[int, _Bucket] = {}
        self._waits: collections.deque[tuple[float, float]] = collections.deque()
        self._calls = 0
        self._calls_since = clock()
        self.started = clock()

    def reset(self) -> None:
        """Forget everything measured (the warm-up decode is no call's demand)."""
        self._buckets.clear()
        self._waits.clear()
        self._calls_since = self.started = self._clock()

    # -- recording ---------------------------------------------------------------------
    def _bucket(self, t: float) -> _Bucket:
        second = math.floor(t)
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = _Bucket()
            self._trim(self._clock())
        return bucket

    def _trim(self, now: float) -> None:
        oldest = now - self.window_s
        for second in [s for s in self._buckets if s + 1 <= oldest]:
            del self._buckets[second]
        while self._waits and self._waits[0][0] <= oldest:
            self._waits.popleft()

    def add_demand(self, seconds: float) -> None:
        self._bucket(self._clock()).demand_s += seconds

    def add_busy(self, seconds: float) -> None:
        self._bucket(self._clock()).busy_s += seconds

    def add_final_wait(self, seconds: float) -> None:
        now = self._clock()
        self._trim(now)
        self._waits.append((now, seconds))

    def set_calls(self, live_calls: int) -> None:
        """The number of live calls changed: close the call-seconds of the old number."""
        self._accrue_calls(self._clock())
        self._calls = live_calls

    def _accrue_calls(self, now: float) -> None:
        # spread the call-seconds since the last change over the buckets they fall in
        t = max(self._calls_since, now - self.window_s)
        while t < now and self._calls:
            end = min(now, math.floor(t) + 1.0)
            self._bucket(t).call_s += self._calls * (end - t)
            t = end
        self._calls_since = now

    # -- reading -----------------------------------------------------------------------
    def span_s(self) -> float:
        """Seconds the window covers so far (less than ``window_s`` just after a reset)."""
        return min(self.window_s, max(1e-9, self._clock() - self.started))

    def totals(self) -> tuple[float, float, float]:
        """``(demand_s, busy_s, call_s)`` over the window."""
        now = self._clock()
        self._accrue_calls(now)
        self._trim(now)
        demand = sum(b.demand_s for b in self._buckets.values())
        busy = sum(b.busy_s for b in self._buckets.values())
        calls = sum(b.call_s for b in self._buckets.values())
        return demand, busy, calls

    def final_wait_p90_s(self) -> float | None:
        """90th percentile of the window's final waits (``None`` with too few finals)."""
        self._trim(self._clock())
        waits = [w for _, w in self._waits]
        if len(waits) < ADMIT_MIN_FINALS:
            return None
        waits.sort()
        return waits[min(len(waits) - 1, math.ceil(0.9 * len(waits)) - 1)]
