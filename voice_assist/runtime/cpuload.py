"""The server process's CPU use over a sliding window, in cores.

The decoder's busy share and the event loop's lag each see part of a live call's
cost.  Neither sees the machine running out: on 2 cores the decode threads, the
prosody and the loop share the same CPUs, and at 32 calls the decoder was 45% busy
and the loop on time while distress updates ran 22 s late (docs/measurements.md,
"Live call cost").  :class:`CpuLoad` answers with the whole process's CPU, which is
what admission projects one more call onto.  Both clocks are injected, so tests step
them instead of burning CPU.
"""

from __future__ import annotations

import collections
import os
import time

from voice_assist.asr.admission import Clock

CPU_WINDOW_S = 10.0
"""CPU is averaged over this window: short enough that calls that have just started
count (calls arriving every few seconds), long enough to smooth decode bursts."""
CPU_MIN_SPAN_S = 3.0
"""The window must span this long before it is used."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class CpuLoad:
    def __init__(
        self,
        *,
        window_s: float = CPU_WINDOW_S,
        clock: Clock = time.monotonic,
        cpu_clock: Clock = time.process_time,
    ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._samples: collections.deque[tuple[float, float]] = collections.deque()

    def sample(self) -> None:
        now = self._clock()
        self._samples.append((now, self._cpu_clock()))
        # keep one sample at or before the window's start, so the span covers it
        while len(self._samples) > 1 and self._samples[1][0] <= now - self.window_s:
            self._samples.popleft()

    def cores(self) -> float | None:
        """CPU cores the process used over the window (``None`` until it spans
        ``CPU_MIN_SPAN_S``)."""
        if len(self._samples) < 2:
            return None
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        if t1 - t0 < CPU_MIN_SPAN_S:
            return None
        return max(0.0, (c1 - c0) / (t1 - t0))
