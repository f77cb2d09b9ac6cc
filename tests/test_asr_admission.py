"""Admission control in the decode pool: measured load over a window decides new calls.

The pool and its load meter are under test; the clock is injected and the decode
function is a stand-in (no model): the figures are fed, not timed.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from conftest import DATA

from voice_assist import events as ev
from voice_assist.asr.admission import DecoderLoad
from voice_assist.asr.decoder import Hypothesis
from voice_assist.asr.pool import ADMIT_MIN_CALL_S, PARTIAL_COST_GUESS, DecodePool
from voice_assist.asr.stream import DecodeRequest
from voice_assist.audio.files import load_legs
from voice_assist.config import Settings
from voice_assist.runtime.engine import Engine
from voice_assist.runtime.filefeed import feed_legs


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def hyp(text: str = "ok") -> Hypothesis:
    return Hypothesis(
        text=text, words=(), avg_logprob=-0.1, no_speech_prob=0.0, compression_ratio=1.0,
        window_s=10.0,
    )  # fmt: skip


def request(kind: str = "final", call_id: str = "c1", end_sample: int = 16000) -> DecodeRequest:
    return DecodeRequest(
        call_id=call_id, channel="customer", utterance_id="u1", utterance_index=0,
        kind=kind,  # type: ignore[arg-type]
        audio=np.zeros(16000, np.float32), start_sample=0, end_sample=end_sample,
    )  # fmt: skip


def pool(clock: Clock, **kw: float) -> DecodePool:
    return DecodePool(lambda r: hyp(), workers=1, clock=clock, **kw)  # type: ignore[arg-type]


def test_load_meter_integrates_calls_and_forgets_old_seconds() -> None:
    clock = Clock()
    load = DecoderLoad(window_s=10, clock=clock)
    load.set_calls(2)
    clock.advance(4)
    load.add_demand(1.0)
    load.add_busy(0.5)
    demand, busy, call_s = load.totals()
    assert (demand, busy) == (1.0, 0.5)
    assert abs(call_s - 8.0) < 1e-9  # 2 calls for 4 s
    load.set_calls(1)
    clock.advance(3)
    assert abs(load.totals()[2] - 11.0) < 1e-9
    clock.advance(20)  # everything measured is now older than the window
    demand, busy, call_s = load.totals()
    assert demand == 0.0 and busy == 0.0
    assert abs(call_s - 10.0) < 1.0  # one call for the whole window, nothing older


def test_final_wait_percentile_needs_a_few_finals() -> None:
    load = DecoderLoad(window_s=30, clock=Clock())
    assert load.final_wait_p90_s() is None
    for w in (0.2, 0.3, 0.4):
        load.add_final_wait(w)
    assert load.final_wait_p90_s() == 0.4
    for w in [0.1] * 25 + [5.0] * 2:
        load.add_final_wait(w)
    assert load.final_wait_p90_s() == 0.3  # the slowest tenth does not decide


def test_projected_utilization_refuses_the_call_that_would_overload_the_decoder() -> None:
    clock = Clock()
    p = pool(clock, admit_max_utilization=0.8)
    p._cost_s["final"] = 0.5  # measured decode time of a final (s)
    p.calls_changed(2)
    # nothing measured yet: the rule does not guess
    assert p.admission(2).admit and p.admission(2).call_cost is None
    for _ in range(int(ADMIT_MIN_CALL_S)):  # 2 calls asking one final each per second
        clock.advance(0.5)
        p.load.add_demand(0.25)
        p.load.add_demand(0.25)
        clock.advance(0.5)
    verdict = p.admission(2)
    assert verdict.call_cost is not None and abs(verdict.call_cost - 0.25) < 0.01
    assert abs(verdict.projected_utilization - 0.75) < 0.03  # type: ignore[operator]
    assert verdict.admit and verdict.capacity_calls == 3
    p.calls_changed(3)
    refused = p.admission(3)
    assert not refused.admit
    assert "asr.admit_max_utilization=80%" in refused.reason and "3 live calls" in refused.reason
    off = pool(clock, admit_max_utilization=0.0)
    off.load = p.load
    assert off.admission(3).admit  # 0 turns the rule off


def test_slow_finals_refuse_new_calls_until_they_age_out_of_the_window() -> None:
    clock = Clock()
    p = pool(clock, admit_max_final_wait_s=1.0, admit_window_s=10)
    for w in (0.4, 0.5, 1.6, 1.8, 2.0):
        p.load.add_final_wait(w)
    verdict = p.admission(1)
    assert not verdict.admit
    assert "admit_max_final_wait_ms=1000" in verdict.reason
    assert p.admission(0).admit  # those calls have ended: nobody is kept waiting
    clock.advance(11)
    assert p.admission(1).admit


def test_decodes_feed_the_meter_with_costs_and_busy_time() -> None:
    """Through the real worker: each decode's time becomes its kind's cost and busy time;
    published finals are reported by the runtime (here: by hand) as final waits."""

    async def scenario() -> DecodePool:
        p = DecodePool(lambda r: hyp(), workers=1, admit_max_final_wait_s=0.5)
        p.start()
        done = asyncio.Event()
        seen: list[str] = []

        def finished(r: DecodeRequest, h: Hypothesis | None, e: BaseException | None) -> None:
            seen.append(r.call_id)
            if len(seen) == 3:
                done.set()

        p.calls_changed(1)
        for _ in range(3):
            p.submit(request("final"), finished)
        await asyncio.wait_for(done.wait(), 10)
        await p.close()
        return p

    p = asyncio.run(scenario())
    assert p.stats.finals_done == 3 and p.decode_cost_s("final") >= 0.0
    # the first two had work queued behind them (narrow), the last the pool to itself;
    # a partial (not measured) is estimated as a share of a narrow final
    assert p.stats.finals_narrow == 2
    assert p.decode_cost_s("partial") == PARTIAL_COST_GUESS * p.decode_cost_s("final_narrow")
    assert p.load.totals()[0] >= 0.0 and p.load.final_wait_p90_s() is None
    assert p.admission(1).admit
    for w in (3.0, 3.0, 3.0):  # finals published 3 s after their utterances ended
        p.record_final_wait(w)
    assert not p.admission(1).admit


@pytest.mark.model
def test_the_engine_reports_each_published_final(settings: Settings, whisper_model) -> None:  # type: ignore[no-untyped-def]
    got: list[ev.Event] = []
    media_ms: list[int] = []  # the call's media time when each final was published

    async def scenario() -> Engine:
        engine = await Engine.start(settings, model=whisper_model)

        def sink(event: ev.Event) -> None:
            got.append(event)
            if isinstance(event, ev.TranscriptEvent) and event.is_final:
                media_ms.append(session.media_ms)

        session = engine.open_call(agent_id="a1", source="test", sink=sink)
        await feed_legs(session, load_legs(DATA / "two_utterances_en.flac"))
        await engine.close()
        return engine

    engine = asyncio.run(scenario())
    finals = [e for e in got if isinstance(e, ev.TranscriptEvent) and e.is_final]
    assert len(finals) >= 2
    assert len(engine.pool.load._waits) == len(finals)  # published ones, not every decode
    # timed from the end of the speech, not from the end pad after it
    pad_ms = settings.asr.speech_pad_ms
    expected = [(t - (f.end_ms - pad_ms)) / 1000 for t, f in zip(media_ms, finals, strict=True)]
    assert [w for _, w in engine.pool.load._waits] == pytest.approx(expected)


def test_overloaded_decoder_refuses_first_and_says_why() -> None:
    clock = Clock()
    p = pool(clock, max_queue_s=0.5)
    p.submit(request("final"), lambda r, h, e: None)
    p._finals[0].queued_at -= 1.0  # that final has waited a second for a worker
    verdict = p.admission(0)
    assert not verdict.admit and "asr.max_queue_s" in verdict.reason
    assert verdict.as_dict()["admit"] is False


def test_withdrawn_request_is_not_decoded() -> None:
    import asyncio

    import numpy as np

    from voice_assist.asr.pool import DecodePool
    from voice_assist.asr.stream import DecodeRequest

    decoded: list[str] = []

    def decode(req: DecodeRequest):  # type: ignore[no-untyped-def]
        decoded.append(req.utterance_id)
        return None

    def req(uid: str, n: int = 1600) -> DecodeRequest:
        return DecodeRequest(
            call_id="c",
            channel="customer",
            utterance_id=uid,
            utterance_index=0,
            kind="final",
            audio=np.zeros(n, np.float32),
            start_sample=0,
            end_sample=n,
            speculative=True,
        )

    async def main() -> tuple[bool, bool]:
        pool = DecodePool(decode, workers=1, max_queue_s=6.0)
        # "u2" again, its audio grown: taking it back from behind the others once
        # compared the queued jobs by value (their audio arrays) and raised
        first, second, grown = req("u1"), req("u2"), req("u2", 3200)
        results: list[str] = []
        for r in (first, second, grown):
            pool.submit(r, lambda r, h, e: results.append(r.utterance_id))
        took_back = pool.withdraw(first) and pool.withdraw(grown)
        again = pool.withdraw(first)
        pool.start()
        for _ in range(200):
            if decoded:
                break
            await asyncio.sleep(0.01)
        await pool.close()
        return took_back, again

    took_back, again = asyncio.run(main())
    assert took_back and not again
    assert decoded == ["u2"]


def test_a_final_takes_the_wide_beam_only_when_nothing_else_waits() -> None:
    import asyncio

    import numpy as np

    from voice_assist.asr.pool import DecodePool
    from voice_assist.asr.stream import DecodeRequest

    seen: list[tuple[str, bool]] = []

    def decode(req: DecodeRequest):  # type: ignore[no-untyped-def]
        seen.append((req.utterance_id, req.narrow))
        return None

    def req(uid: str, kind: str = "final") -> DecodeRequest:
        return DecodeRequest(
            call_id=uid,
            channel="customer",
            utterance_id=uid,
            utterance_index=0,
            kind=kind,  # type: ignore[arg-type]
            audio=np.zeros(1600, np.float32),
            start_sample=0,
            end_sample=1600,
        )

    async def main() -> tuple[list[DecodeRequest], int]:
        pool = DecodePool(decode, workers=1, max_queue_s=6.0)
        done: list[DecodeRequest] = []
        queued = [req("a"), req("b"), req("p", "partial")]
        for r in queued:  # three waiting before the worker starts
            pool.submit(r, lambda r, h, e: done.append(r))
        pool.start()
        for _ in range(200):
            if len(seen) == 3:
                break
            await asyncio.sleep(0.01)
        pool.submit(req("alone"), lambda r, h, e: done.append(r))  # an idle pool
        for _ in range(200):
            if len(seen) == 4:
                break
            await asyncio.sleep(0.01)
        await pool.close()
        assert [d for d in done if d in queued] == queued  # callbacks get the request as sent
        return done, pool.stats.finals_narrow

    _, narrow = asyncio.run(main())
    # "a" had "b" and a partial behind it, "b" the partial; "alone" had the pool to itself
    assert seen == [("a", True), ("b", True), ("p", False), ("alone", False)]
    assert narrow == 2


def test_unmeasured_costs_are_estimated_and_only_finals_commit_demand() -> None:
    p = pool(Clock())
    assert p.decode_cost_s("final") == p.decode_cost_s("partial") == 0.0
    p._cost_s["partial"] = 0.2  # only partials seen so far
    assert p.decode_cost_s("final_narrow") == p.decode_cost_s("final") == 0.4  # 0.2 / guess
    p._cost_s["final"] = 0.8  # a wide final (one call, an idle decoder)
    assert p.decode_cost_s("final_narrow") == 0.8  # stands for the narrow one
    final, partial = request("final"), request("partial")
    assert p.demand_s(final) == 0.8 and p.demand_s(partial) == 0.0  # partials are elastic
    p._cost_s["final_narrow"] = 0.25
    assert p.demand_s(final) == 0.25 and p.decode_cost_s("final") == 0.8


def test_one_worker_of_two_is_kept_for_finals_while_partials_wait() -> None:
    import threading

    release = threading.Event()
    running: list[str] = []

    def decode(req: DecodeRequest) -> Hypothesis:
        running.append(f"{req.kind}:{req.call_id}")
        if req.kind == "partial":
            release.wait(10)  # partials hold their worker until released
        return hyp()

    async def main() -> tuple[list[str], list[str]]:
        p = DecodePool(decode, workers=2, max_queue_s=60.0)
        done: list[str] = []
        p.start()
        for call in ("c1", "c2"):  # two legs' partials: only one may run
            p.submit(request("partial", call), lambda r, h, e: done.append(r.call_id))
        for _ in range(100):
            await asyncio.sleep(0.01)
        started_before_final = list(running)
        p.submit(request("final", "c3"), lambda r, h, e: done.append(r.call_id))
        for _ in range(500):  # the final runs on the kept worker while c1's partial holds
            if "c3" in done:
                break
            await asyncio.sleep(0.01)
        release.set()
        for _ in range(500):
            if len(done) == 3:
                break
            await asyncio.sleep(0.01)
        await p.close()
        return started_before_final, done

    started, done = asyncio.run(main())
    assert started == ["partial:c1"]
    assert done[0] == "c3" and sorted(done[1:]) == ["c1", "c2"]


def test_a_slow_final_pauses_new_partials_but_never_finals() -> None:
    clock = Clock()
    ran: list[str] = []

    def decode(req: DecodeRequest) -> Hypothesis:
        ran.append(f"{req.kind}:{req.call_id}")
        return hyp()

    async def settle() -> None:
        for _ in range(20):
            await asyncio.sleep(0.005)

    async def main() -> None:
        p = DecodePool(
            decode, workers=2, clock=clock, partial_yield_final_wait_s=0.8, partial_yield_s=5.0
        )
        p.start()
        p.record_final_wait(0.7)  # within the threshold: no pause
        assert p.partials_paused_s() == 0 and p.stats.partial_yields == 0
        p.record_final_wait(1.1)
        assert p.partials_paused_s() == pytest.approx(5.0) and p.stats.partial_yields == 1
        p.submit(request("partial", "c1"), lambda r, h, e: None)
        p.submit(request("final", "c2"), lambda r, h, e: None)
        await settle()
        assert ran == ["final:c2"]  # the partial waits, the final does not
        p.submit(request("partial", "c1"), lambda r, h, e: None)  # replaces the queued one
        clock.advance(5.1)
        p.submit(request("partial", "c3"), lambda r, h, e: None)
        await settle()
        assert sorted(ran[1:]) == ["partial:c1", "partial:c3"]
        await p.close()

    asyncio.run(main())


def test_queued_partials_start_when_the_pause_ends_without_new_work() -> None:
    ran: list[str] = []

    async def main() -> None:
        p = DecodePool(
            lambda r: ran.append(r.kind) or hyp(),  # type: ignore[func-returns-value]
            workers=2,
            partial_yield_final_wait_s=0.8,
            partial_yield_s=0.2,
        )
        p.start()
        p.record_final_wait(2.0)
        p.submit(request("partial"), lambda r, h, e: None)
        await asyncio.sleep(0.05)
        assert ran == []
        for _ in range(200):  # nothing else is submitted: the worker wakes by itself
            if ran:
                break
            await asyncio.sleep(0.01)
        assert ran == ["partial"]
        await p.close()

    asyncio.run(main())


def test_partial_yield_off_never_pauses() -> None:
    p = pool(Clock(), partial_yield_final_wait_s=0.0, partial_yield_s=5.0)
    p.record_final_wait(30.0)
    assert p.partials_paused_s() == 0 and p.stats.partial_yields == 0
