"""The latency benchmarks' reference: where speech audibly stops in a recording."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import loadgen
from benchmarks.asr import CallRun, latencies
from benchmarks.speech_ends import audible_ends_ms, end_within
from voice_assist.events import TranscriptEvent, Word

RATE = 16000


def _signal(spans_ms: list[tuple[int, int, float]], total_ms: int) -> np.ndarray:
    """Sine bursts ``(start_ms, end_ms, amplitude)`` on digital silence."""
    x = np.zeros(total_ms * RATE // 1000, np.float32)
    for start, end, amp in spans_ms:
        t = np.arange(start * RATE // 1000, end * RATE // 1000)
        x[t] = amp * np.sin(2 * np.pi * 220 * t / RATE)
    return x


def test_ends_of_bursts_separated_by_long_gaps() -> None:
    x = _signal([(200, 1400, 0.3), (2000, 3130, 0.3)], 4000)
    assert audible_ends_ms(x, rate_hz=RATE) == [1400, 3130]


def test_a_short_pause_does_not_end_the_utterance() -> None:
    x = _signal([(200, 1000, 0.3), (1150, 2000, 0.3)], 3000)
    assert audible_ends_ms(x, rate_hz=RATE, min_gap_ms=300) == [2000]


def test_a_quiet_tail_within_range_is_speech_and_hiss_below_the_floor_is_not() -> None:
    rng = np.random.default_rng(0)
    x = _signal([(200, 1000, 0.3), (1000, 1300, 0.01)], 3000)  # -30 dB tail (a fricative)
    x += (10 ** (-75 / 20) * rng.standard_normal(x.size)).astype(np.float32)  # -75 dBFS hiss
    assert audible_ends_ms(x, rate_hz=RATE) == [1300]


def test_speech_running_to_the_end_of_the_audio_ends_there() -> None:
    x = _signal([(500, 2000, 0.3)], 2000)
    assert audible_ends_ms(x, rate_hz=RATE) == [2000]


def test_other_rates_and_empty_or_silent_audio() -> None:
    x8 = _signal([(200, 1400, 0.3)], 3000)[::2]
    assert audible_ends_ms(x8, rate_hz=8000) == [1400]
    assert audible_ends_ms(np.zeros(0, np.float32), rate_hz=RATE) == []
    assert audible_ends_ms(np.zeros(RATE, np.float32), rate_hz=RATE) == []


def test_end_within_takes_the_last_end_inside_the_span() -> None:
    ends = [1000, 2500, 4000]
    assert end_within(ends, 2000, 4200) == 4000
    assert end_within(ends, 0, 3000) == 2500
    assert end_within(ends, 1100, 2400) is None
    assert end_within([], 0, 10_000) is None


def _final(channel: str, start_ms: int, end_ms: int, word_end_ms: int) -> TranscriptEvent:
    return TranscriptEvent(
        call_id="c",
        t_ms=end_ms,
        channel=channel,  # type: ignore[arg-type]
        utterance_id="u",
        is_final=True,
        text="hello",
        stable_text="hello",
        start_ms=start_ms,
        end_ms=end_ms,
        words=(Word(text="hello", start_ms=start_ms, end_ms=word_end_ms, probability=0.9),),
    )


def test_asr_bench_latency_is_timed_from_the_audible_end() -> None:
    run = CallRun(t0=100.0)
    run.finals.append((100.0 + 2.0, _final("customer", 0, 1500, word_end_ms=1100)))
    assert latencies(run, {"customer": [1300]}) == pytest.approx([0.7])
    assert latencies(run) == pytest.approx([0.9])  # from Whisper's word end
    assert latencies(run, {"agent": [1300]}) == pytest.approx([0.9])  # no end on this leg


def test_load_trace_times_finals_from_the_audible_end_with_end_ms_fallback() -> None:
    trace = loadgen.CallTrace(
        index=0,
        source="native",
        clip="c",
        agent_id="a",
        expects_prompt=False,
        speech_ends_ms={"customer": [1300, 5200]},
    )
    final = {"channel": "customer", "start_ms": 0, "end_ms": 1500}
    assert trace.speech_end_ms(final) == 1300
    assert trace.speech_end_ms({**final, "channel": "agent"}) == 1500
    assert trace.speech_end_ms({"channel": "customer", "start_ms": 1400, "end_ms": 1500}) == 1500


def test_clip_reads_its_speech_ends_per_leg() -> None:
    customer = _signal([(200, 1400, 0.3)], 3000)
    agent = _signal([(1600, 2500, 0.3)], 3000)
    clip = loadgen.Clip("c", np.stack([customer, agent], axis=1), RATE, has_episode=False)
    assert clip.speech_ends_ms == {"customer": [1400], "agent": [2500]}
    assert clip.cut(2.0).speech_ends_ms == {"customer": [1400], "agent": [2000]}
