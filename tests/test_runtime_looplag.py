"""The event loop's lag meter (the clock is stepped, not slept) and the engine's rule."""

from __future__ import annotations

import asyncio
import time

from voice_assist.runtime.looplag import LOOP_MIN_SAMPLES, LoopLag, watch_loop


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_p90_needs_samples_and_forgets_the_old_ones() -> None:
    clock = Clock()
    lag = LoopLag(window_s=10, clock=clock)
    for _ in range(LOOP_MIN_SAMPLES - 1):
        lag.add(0.5)
    assert lag.p90_s() is None
    lag.add(0.5)
    assert lag.p90_s() == 0.5
    clock.t += 5
    for _ in range(40):
        lag.add(0.01)
    assert lag.p90_s() == 0.5  # 10 of 50 samples late: the p90 sees them
    clock.t += 6  # the late ones leave the window
    assert lag.p90_s() == 0.01
    lag.add(-0.2)  # a timer cannot fire early: counted as no lag
    assert min(s for _, s in lag._samples) == 0.0


def test_the_watcher_sees_a_blocked_loop() -> None:
    lag = LoopLag(window_s=60)

    async def main() -> None:
        task = asyncio.create_task(watch_loop(lag, probe_s=0.01))
        for _ in range(LOOP_MIN_SAMPLES + 2):
            await asyncio.sleep(0.012)
            time.sleep(0.05)  # noqa: ASYNC251 (a stage hogging the loop: what is measured)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    p90 = lag.p90_s()
    assert p90 is not None and p90 >= 0.03


def test_a_late_event_loop_refuses_the_next_call_with_the_reason(settings, whisper_model) -> None:  # type: ignore[no-untyped-def]
    from voice_assist.errors import OverloadError
    from voice_assist.runtime.engine import Engine

    async def main() -> tuple[bool, str]:
        engine = Engine(settings, whisper_model)
        engine.open_call(agent_id="a1", source="test")  # the first call is always taken
        for _ in range(LOOP_MIN_SAMPLES):
            engine.loop_lag.add(0.01)
        assert engine.admission().admit
        for _ in range(LOOP_MIN_SAMPLES * 2):
            engine.loop_lag.add(0.4)
        try:
            engine.open_call(agent_id="a2", source="test")
        except OverloadError as exc:
            return engine.admission().loop_lag_p90_s == 0.4, str(exc)
        return False, ""

    reported, reason = asyncio.run(main())
    assert reported and "event loop runs 400 ms late" in reason
