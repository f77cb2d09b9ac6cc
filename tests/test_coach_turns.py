"""Turn-taking facts: talk ratio, overtalk, silence, speaking rate."""

from __future__ import annotations

import pytest

from voice_assist.coach.distress_track import DistressTrack
from voice_assist.coach.turns import TurnTracker
from voice_assist.events import DistressUpdate, TranscriptEvent, Word


def _final(channel: str, text: str, start: int, end: int, t: int) -> TranscriptEvent:
    n = max(1, len(text.split()))
    step = (end - start) // n
    words = tuple(
        Word(text=w, start_ms=start + i * step, end_ms=start + (i + 1) * step, probability=0.9)
        for i, w in enumerate(text.split())
    )
    return TranscriptEvent(
        call_id="c",
        t_ms=t,
        channel=channel,  # type: ignore[arg-type]
        utterance_id=f"{channel}-{start}",
        is_final=True,
        text=text,
        start_ms=start,
        end_ms=end,
        words=words,
    )


def test_vad_talk_ratio_overtalk_and_silence() -> None:
    tr = TurnTracker()
    tr.on_voice_activity("customer", True, 1000)
    tr.on_voice_activity("agent", True, 3000)
    assert tr.overtalk_run_ms == 0
    tr.advance(3500)
    assert tr.overtalk_run_ms == 500
    assert tr.overtalk_started_by == "agent"
    tr.on_voice_activity("customer", False, 4000)
    tr.on_voice_activity("agent", False, 6000)
    tr.advance(7500)
    assert tr.talk_ms("customer") == 3000
    assert tr.talk_ms("agent") == 3000
    assert tr.agent_talk_ratio == pytest.approx(0.5)
    assert tr.overtalk_total_ms == 1000
    assert tr.silence_run_ms == 1500
    assert tr.silence_total_ms == 1000 + 1500
    assert tr.overtalk_run_id == 1


def test_time_never_runs_back() -> None:
    tr = TurnTracker()
    tr.on_voice_activity("agent", True, 5000)
    tr.on_voice_activity("agent", False, 2000)  # older than the clock: counts as now
    assert tr.now_ms == 5000
    assert tr.talk_ms("agent") == 0
    assert tr.advance(1000) == 5000


def test_transcripts_stand_in_for_missing_vad() -> None:
    tr = TurnTracker()
    partial = TranscriptEvent(
        call_id="c",
        t_ms=1000,
        channel="customer",
        utterance_id="u1",
        is_final=False,
        text="my bill",
        start_ms=0,
        end_ms=1000,
    )
    tr.on_transcript(partial)
    assert tr.speaking("customer")
    tr.on_transcript(_final("customer", "my bill is wrong", 0, 2500, 3000))
    assert not tr.speaking("customer")
    assert tr.talk_ms("customer") == 2000
    # a final with no partial before it adds its own duration
    tr.on_transcript(_final("agent", "oh no", 3000, 4000, 4500))
    assert tr.talk_ms("agent") == 1000
    # once VAD has been seen on a leg, its transcripts no longer drive the speaking state
    tr.on_voice_activity("agent", False, 4600)
    tr.on_transcript(_final("agent", "right", 5000, 5500, 6000))
    assert tr.talk_ms("agent") == 1000


def test_agent_words_per_minute_over_window() -> None:
    tr = TurnTracker(speaking_rate_window_ms=60000)
    assert tr.agent_words_per_min() == 0.0
    tr.on_transcript(_final("agent", " ".join(["word"] * 10), 0, 4000, 4500))  # 150 wpm
    assert tr.agent_words_per_min() == pytest.approx(150.0)
    tr.on_transcript(_final("customer", "hello there", 5000, 6000, 6500))  # not counted
    assert tr.agent_words_per_min() == pytest.approx(150.0)
    tr.advance(100000)
    assert tr.agent_words_per_min() == 0.0


def test_metrics_carry_distress_and_turns() -> None:
    tr = TurnTracker()
    dt = DistressTrack()
    for t, score in ((0, 0.2), (1000, 0.4), (2000, 0.6)):
        tr.advance(t)
        dt.on_update(
            DistressUpdate(
                call_id="c",
                t_ms=t,
                channel="customer",
                score=score,
                level="elevated" if score >= 0.5 else "calm",
                provisional=False,
                features={"pitch_z": 1.0},
            ),
            t,
        )
    m = tr.metrics(call_id="c", distress=dt)
    assert m.t_ms == 2000
    assert m.distress == pytest.approx(0.6)
    assert m.distress_slope_per_s == pytest.approx(0.2)
    assert m.level == "elevated"
    assert m.silence_ms == 2000
    assert m.overtalk_ms == 0
