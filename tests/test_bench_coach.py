"""The coaching benchmark's call building and scoring, on arrays (no model, no I/O)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks import coach as bc

Segments = tuple[tuple[float, float], ...]


def spec(
    kind: bc.CallKind, seconds: float, agitated: Segments = (), calm_s: float | None = None
) -> bc.CallSpec:
    audio = np.zeros(int(seconds * bc.RATE_HZ), np.float32)
    calm = seconds if calm_s is None else calm_s
    return bc.CallSpec("c", "s", kind, "en", audio, calm, agitated)


def outcome(s: bc.CallSpec, *times: float, urgent: bool = False) -> bc.CallOutcome:
    return bc.CallOutcome(s, tuple(bc.PromptSeen(t, urgent) for t in times), tuple(times))


def test_join_puts_the_gap_between_clips_and_reports_starts() -> None:
    a, b = np.ones(16000, np.float32), np.ones(8000, np.float32)
    audio, starts = bc.join([a, b], gap_s=0.5)
    assert audio.size == 16000 + 8000 + 8000
    assert starts == [0.0, 1.5]
    assert not audio[16000:24000].any()


def test_agitated_layout_marks_both_angry_blocks() -> None:
    calm = [np.ones(16000, np.float32)] * 6  # 1 s each
    angry = [np.full(32000, 0.5, np.float32)] * 4  # 2 s each
    audio, calm_s, segments = bc.agitated_layout(calm, angry)
    assert calm_s == 6.0
    assert len(segments) == 2
    for start, end in segments:
        seg = audio[int(start * 16000) : int(end * 16000)]
        assert seg.size and np.all((seg == 0.5) | (seg == 0.0))  # angry clips and gaps only
        assert end - start == pytest.approx(2 * 2 + bc.GAP_S)
    assert segments[0][1] < segments[1][0]


def test_poisson_interval_is_exact_and_covers_zero_counts() -> None:
    lo, hi = bc.poisson_ci95(0, 1.0)
    assert lo == 0.0 and hi == pytest.approx(3.69, abs=0.01)
    lo, hi = bc.poisson_ci95(10, 2.0)
    assert lo == pytest.approx(2.4, abs=0.01) and hi == pytest.approx(9.19, abs=0.01)
    assert all(np.isnan(bc.poisson_ci95(3, 0.0)))


def test_prompts_inside_an_agitated_segment_catch_it_others_are_false() -> None:
    s = spec("agitated", 100.0, agitated=((40.0, 50.0),), calm_s=80.0)
    o = outcome(s, 10.0, 43.0, 54.0, 80.0)
    assert bc.caught_at(o, (40.0, 50.0)) == 43.0
    assert [p.t_s for p in bc.false_prompts(o)] == [10.0, 80.0]  # 54 is within the grace
    assert bc.caught_at(outcome(s, 60.0), (40.0, 50.0)) is None


def test_summary_counts_rates_recall_and_the_angry_caller() -> None:
    calm = outcome(spec("calm", 1800.0), 100.0, urgent=True)
    quiet = outcome(spec("calm", 1800.0))
    agitated = outcome(spec("agitated", 100.0, ((40.0, 50.0), (70.0, 80.0)), 60.0), 42.0)
    angry = outcome(spec("angry_from_start", 30.0, ((0.0, 30.0),), 0.0), 8.0)
    r = bc.summarise([calm, quiet, agitated, angry])
    assert r["calm_hours"] == 1.0
    assert r["calm_false_prompts_per_hour"] == 1.0
    assert r["calm_urgent_prompts"] == 1
    assert r["recall"] == 0.5 and r["onset_to_prompt_p50_s"] == 2.0
    assert r["angry_from_start_first_prompt_s"] == 8.0
    r = bc.summarise([calm, outcome(spec("angry_from_start", 30.0, ((0.0, 30.0),), 0.0))])
    assert r["angry_from_start_first_prompt_s"] is None  # a caller never prompted
    assert r["angry_from_start_prompted"] == 0


def test_corpora_folders_missing_or_odd_give_no_calls(tmp_path: Path) -> None:
    assert bc.fetched_calm_calls(tmp_path) == []
    assert bc.emodb_calls(tmp_path / "absent") == []
    sf.write(tmp_path / "notes.wav", np.zeros(1600), 16000)  # not an Emo-DB name: skipped
    for name in ("03a01Na", "03a02Nb", "03a01Wa", "03a02Wb"):
        sf.write(tmp_path / f"{name}.wav", 0.1 * np.ones(16000), 16000)
    calls = bc.emodb_calls(tmp_path)
    assert [c.kind for c in calls] == ["calm", "agitated", "angry_from_start"]
    assert all(c.speaker == "03" and c.language == "de" for c in calls)
    assert calls[1].calm_s == 2.0 and len(calls[1].agitated_s) == 2
