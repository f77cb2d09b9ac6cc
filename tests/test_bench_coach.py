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


def test_mixed_calls_alternate_two_calm_voices_of_one_language() -> None:
    def calm(name: str, language: str, level: float, n: int) -> bc.CallSpec:
        clips = [np.full(8000 * (i + 1), level, np.float32) for i in range(n)]
        audio, starts = bc.join(clips)
        spans = bc.clip_spans(clips, starts)
        return bc.CallSpec("k", name, "calm", language, audio, audio.size / 16000, clips_at=spans)

    a, b, c = calm("a", "en", 0.1, 3), calm("b", "en", 0.2, 2), calm("c", "de", 0.3, 4)
    mixed = bc.mixed_calls([a, b, c], max_turns=8)
    assert len(mixed) == 1  # "c" has no partner of its language
    m = mixed[0]
    assert (m.kind, m.language, m.corpus) == ("mixed", "en", "mixed_en")
    levels = [float(v) for v in m.audio[m.audio > 0][::4000]]
    assert sorted(set(levels)) == pytest.approx([0.1, 0.2])
    # two turns of each voice (b has two clips), in turn: a1 b1 a2 b2
    assert m.calm_s == pytest.approx(0.5 + 0.5 + 1.0 + 1.0)
    turns = [float(m.audio[int(t * 16000) + 10]) for t in (0.0, 0.5 + bc.GAP_S)]
    assert turns == pytest.approx([0.1, 0.2])
    assert len(bc.mixed_calls([a, b, c], max_turns=1)[0].audio) == int(
        (0.5 + bc.GAP_S + 0.5) * 16000
    )


def test_summary_of_mixed_calls_counts_prompts_and_unprompted_episodes() -> None:
    s = spec("mixed", 1800.0)
    quiet = bc.CallOutcome(s, (), (), episodes=(100.0, 900.0))
    prompted = bc.CallOutcome(s, (bc.PromptSeen(50.0, False),), (50.0,), episodes=(50.0,))
    r = bc.summarise([quiet, prompted])
    assert r["mixed_calls"] == 2 and r["mixed_hours"] == 1.0
    assert r["mixed_false_prompts"] == 1
    assert r["mixed_episodes_per_hour"] == 3.0
    assert r["calm_calls"] == 0  # mixed calls are not counted as calm calls
    assert r["calm_false_prompts_per_hour_ci95"] is None  # no calm hours: no interval (not NaN)


def test_fetched_calls_take_each_speakers_language_from_the_manifest(tmp_path: Path) -> None:
    rows = [
        ("a/x/1.wav", "a", "x", "it", "calm"),
        ("a/x/2.wav", "a", "x", "it", "calm"),
        ("a/y/1.wav", "a", "y", "", "calm"),  # a manifest without a language: English
        ("a/z/1.wav", "a", "z", "fr", "angry"),  # not calm: no calm call
    ]
    for file, *_ in rows:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / file, 0.1 * np.ones(8000), 16000)
    lines = ["file\tcorpus\tspeaker\tlanguage\temotion"]
    lines += ["\t".join(r) for r in rows]
    (tmp_path / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    calls = bc.fetched_calm_calls(tmp_path)
    assert [(c.speaker, c.language, len(c.clips_at)) for c in calls] == [
        ("x", "it", 2),
        ("y", "en", 1),
    ]
