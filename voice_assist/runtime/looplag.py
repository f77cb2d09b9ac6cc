"""How late the event loop runs: the event-loop side of a live call's cost.

Everything a call does outside the decoder (ingress parsing, resampling, VAD,
prosody, distress, the coach, feeds and their JSON) runs on the one event loop.
When the loop is saturated every one of those is late, whatever the decoder does;
the decode pool's own measures cannot see it.  :class:`LoopLag` keeps a sliding
window of *lag* samples (how much later than asked a timer fired) and answers with
their 90th percentile; :func:`watch_loop` is the task that takes the samples.
The clock is injected, so tests step time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time

from voice_assist.asr.admission import Clock
from voice_assist.runtime.cpuload import CpuLoad

LOOP_PROBE_S = 0.1
"""A sample every this many seconds (a timer asked for this delay)."""
LOOP_MIN_SAMPLES = 10
"""Samples the window must hold before its percentile is used."""


class LoopLag:
    def __init__(self, *, window_s: float = 30.0, clock: Clock = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._samples: collections.deque[tuple[float, float]] = collections.deque()

    def add(self, lag_s: float) -> None:
        now = self._clock()
        self._samples.append((now, max(0.0, lag_s)))
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._samples and self._samples[0][0] <= now - self.window_s:
            self._samples.popleft()

    def p90_s(self) -> float | None:
        """90th percentile lag over the window (``None`` with too few samples)."""
        self._trim(self._clock())
        lags = sorted(lag for _, lag in self._samples)
        if len(lags) < LOOP_MIN_SAMPLES:
            return None
        return lags[min(len(lags) - 1, math.ceil(0.9 * len(lags)) - 1)]


async def watch_loop(
    lag: LoopLag, probe_s: float = LOOP_PROBE_S, *, cpu: CpuLoad | None = None
) -> None:
    """Sample the running loop's lag into ``lag`` (and the process's CPU into ``cpu``)
    until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(probe_s)
        lag.add(loop.time() - asked - probe_s)
        if cpu is not None:
            cpu.sample()
