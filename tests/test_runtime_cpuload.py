"""The server's CPU meter (both clocks stepped, not burnt) and the engine's CPU rule."""

from __future__ import annotations

import asyncio

from voice_assist.runtime.cpuload import CPU_MIN_SPAN_S, CpuLoad


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_cores_over_the_window_need_a_span_and_forget_old_bursts() -> None:
    wall, cpu = Clock(), Clock(0.0)
    meter = CpuLoad(window_s=10, clock=wall, cpu_clock=cpu)
    assert meter.cores() is None
    meter.sample()
    wall.t += CPU_MIN_SPAN_S / 2
    cpu.t += 1.0
    meter.sample()
    assert meter.cores() is None  # too short a span to judge
    for _ in range(10):  # a 2-core burst: 2 s of CPU a second
        wall.t += 1
        cpu.t += 2
        meter.sample()
    cores = meter.cores()
    assert cores is not None and 1.9 < cores <= 2.0
    for _ in range(12):  # then half a core: the burst leaves the window
        wall.t += 1
        cpu.t += 0.5
        meter.sample()
    assert meter.cores() == 0.5


def test_a_busy_process_refuses_the_next_call_with_the_reason(settings, whisper_model) -> None:  # type: ignore[no-untyped-def]
    from voice_assist.errors import OverloadError
    from voice_assist.runtime.engine import Engine

    async def main() -> tuple[float | None, str]:
        engine = Engine(settings, whisper_model)
        wall, cpu = Clock(), Clock(0.0)
        engine.cpu = CpuLoad(clock=wall, cpu_clock=cpu)
        engine.cpu_count = 2
        engine.open_call(agent_id="a1", source="test")  # the first call is always taken
        for _ in range(6):  # one call using 0.5 cores: a second fits in 85% of 2
            engine.cpu.sample()
            wall.t += 1
            cpu.t += 0.5
        engine.cpu.sample()
        engine.open_call(agent_id="a2", source="test")
        for _ in range(12):  # two calls using 1.2 cores: 1.8 with a third, over 1.7
            wall.t += 1
            cpu.t += 1.2
            engine.cpu.sample()
        try:
            engine.open_call(agent_id="a3", source="test")
        except OverloadError as exc:
            return engine.admission().cpu_cores, str(exc)
        return None, ""

    cores, reason = asyncio.run(main())
    assert cores is not None and abs(cores - 1.2) < 1e-9
    assert "1.80 of 2 CPU cores" in reason and "admit_max_cpu_share=85%" in reason


def test_usable_cpus_counts_the_cpus_this_process_may_run_on() -> None:
    import os

    from voice_assist.runtime.cpuload import usable_cpus

    n = usable_cpus()
    assert 1 <= n <= (os.cpu_count() or n)
    if hasattr(os, "sched_getaffinity"):
        assert n == len(os.sched_getaffinity(0))
