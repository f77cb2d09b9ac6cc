"""The operating-point replay of the coaching benchmark, on synthetic legs (no model)."""

from __future__ import annotations

import numpy as np

from benchmarks import coach as bc
from benchmarks import coach_curve as cc
from voice_assist.config import load_settings
from voice_assist.prosody.synth import AGITATED, CALM, synth_voice


def _calls() -> list[bc.CallSpec]:
    calm = synth_voice(60.0, style=CALM, seed=1)
    lead = synth_voice(25.0, style=CALM, seed=2)
    angry = synth_voice(10.0, style=AGITATED, seed=3)
    agitated = np.concatenate([lead, angry, synth_voice(10.0, style=CALM, seed=4)])
    return [
        bc.CallSpec("synth", "a", "calm", "en", calm, 60.0),
        bc.CallSpec("synth", "b", "agitated", "en", agitated, 35.0, ((25.0, 35.0),)),
    ]


def test_curve_replays_each_point_and_a_slower_point_is_not_faster() -> None:
    settings = load_settings(None, env={})
    rows = cc.curve(
        settings,
        _calls(),
        [{}, {"episode_min_ms": 6000}, {"episode_strength_gain": 3.0}],
    )
    assert [r["overrides"] for r in rows] == [
        {},
        {"episode_min_ms": 6000},
        {"episode_strength_gain": 3.0},
    ]
    default, slow, fast = rows
    assert default["calm_false_prompts"] == 0 and default["false_prompt_calls"] == []
    assert default["recall"] == 1.0
    assert slow["onset_to_prompt_p50_s"] > default["onset_to_prompt_p50_s"]
    assert fast["onset_to_prompt_p50_s"] <= default["onset_to_prompt_p50_s"]


def test_replay_marks_a_prompt_urgent_by_the_episode_peak() -> None:
    settings = load_settings(None, env={})
    spec = _calls()[1]
    frames = cc.leg_frames(spec, settings)
    assert frames and all(f.channel == "customer" for f in frames)
    every = cc.replay(spec, frames, settings.distress, urgent_peak=0.0)
    never = cc.replay(spec, frames, settings.distress, urgent_peak=1.01)
    assert every.prompts and all(p.urgent for p in every.prompts)
    assert [p.t_s for p in never.prompts] == [p.t_s for p in every.prompts]
    assert not any(p.urgent for p in never.prompts)
