"""Tone replay feed: stored events re-emitted through the wire serializers, paced on the
media clock (checked with a virtual clock, no wall-clock timing)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from voice_assist import events as ev
from voice_assist.config import StoreOptions
from voice_assist.errors import CallNotFoundError
from voice_assist.replay.feed import ReplayControl, check_speed, replay_feed
from voice_assist.store import Store
from voice_assist.wire import from_wire, to_wire


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def _events(call_id: str) -> list[ev.Event]:
    return [
        ev.CallStarted(call_id=call_id, t_ms=0, agent_id="a", source="file"),
        ev.TranscriptEvent(call_id=call_id, t_ms=1000, channel="customer", utterance_id="u1",
                           is_final=False, text="my bill", start_ms=200, end_ms=1000),
        ev.DistressUpdate(call_id=call_id, t_ms=2000, channel="customer", score=0.7,
                          level="elevated", provisional=False,
                          features={"pitch_z": 2.0, "loudness_z": math.nan}),
        ev.CallMetrics(call_id=call_id, t_ms=3000, distress=0.7, distress_slope_per_s=0.1,
                       level="elevated", agent_talk_ratio=0.4, agent_words_per_min=140.0,
                       overtalk_ms=0, silence_ms=0),
        ev.Prompt(call_id=call_id, t_ms=5000, prompt_id="p1", kind="pause_and_acknowledge",
                  severity="warn", text="Pause and acknowledge", suggested_phrase="I can see",
                  evidence={"distress": 0.7}, ttl_ms=20000, episode_id="e1"),
        ev.CallEnded(call_id=call_id, t_ms=6000, reason="hangup", duration_ms=6000),
    ]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(StoreOptions(), data_dir=tmp_path)
    rec = s.recorder("c1", agent_id="a", source="file")
    for e in _events("c1"):
        rec.on_event(e)
    rec.close()
    s.flush()
    yield s
    s.close()


async def _collect(gen: Any, vc: VirtualClock) -> list[tuple[float, dict[str, Any]]]:
    return [(vc.now, msg) async for msg in gen]


def test_paced_at_speed_and_identical_events(store: Store) -> None:
    vc = VirtualClock()
    out = asyncio.run(_collect(
        replay_feed(store, "c1", speed=4, types=None, clock=vc.clock, sleep=vc.sleep), vc
    ))  # fmt: skip
    times = [t for t, _ in out]
    assert times == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.25, 1.5])
    assert [m["seq"] for _, m in out] == [1, 2, 3, 4, 5, 6]
    originals = _events("c1")
    for (_, msg), original in zip(out, originals, strict=True):
        assert msg == to_wire(original, seq=msg["seq"])
        rebuilt = from_wire(msg)
        assert type(rebuilt) is type(original)


def test_default_types_are_the_overlays(store: Store) -> None:
    vc = VirtualClock()
    out = asyncio.run(_collect(
        replay_feed(store, "c1", speed=math.inf, clock=vc.clock, sleep=vc.sleep), vc
    ))  # fmt: skip
    assert [m["type"] for _, m in out] == [
        "call_started", "transcript", "distress", "prompt", "call_ended"
    ]  # fmt: skip
    assert vc.now == 0.0  # infinite speed: no pacing


def test_start_ms_skips_and_starts_the_clock_there(store: Store) -> None:
    vc = VirtualClock()
    out = asyncio.run(_collect(
        replay_feed(store, "c1", speed=1, start_ms=2000, clock=vc.clock, sleep=vc.sleep), vc
    ))  # fmt: skip
    assert [(t, m["t_ms"]) for t, m in out] == [(0.0, 2000), (3.0, 5000), (4.0, 6000)]


def test_pause_resume_and_speed_change(store: Store) -> None:
    async def scenario() -> list[float]:
        vc = VirtualClock()
        control = ReplayControl(1.0)
        gen = replay_feed(store, "c1", types=None, control=control, clock=vc.clock,
                          sleep=vc.sleep)  # fmt: skip
        times = []
        await gen.__anext__()  # t=0 at 0 s
        times.append(vc.now)
        control.pause()
        pending = asyncio.ensure_future(gen.__anext__())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not pending.done()  # paused: nothing comes
        vc.now += 10.0
        control.resume()
        await pending  # t=1000 ms: 1 s of media after the resume
        times.append(vc.now)
        control.set_speed(2.0)
        await gen.__anext__()  # t=2000 ms at 2x: 0.5 s later
        times.append(vc.now)
        await gen.aclose()
        return times

    assert asyncio.run(scenario()) == pytest.approx([0.0, 11.0, 11.5])


def test_unknown_call_and_bad_speed(store: Store) -> None:
    async def first(gen: Any) -> Any:
        return await gen.__anext__()

    with pytest.raises(CallNotFoundError):
        asyncio.run(first(replay_feed(store, "missing")))
    for bad in (0.5, 0, -1, 65, math.nan):
        with pytest.raises(ValueError):
            check_speed(bad)
    assert check_speed(64) == 64 and math.isinf(check_speed(math.inf))
