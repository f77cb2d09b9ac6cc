"""Episode hysteresis, minimum duration and cooldown on hand-made score streams."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from voice_assist.distress.episodes import EpisodeSettings, EpisodeTracker
from voice_assist.events import DistressEpisode

SETTINGS = EpisodeSettings(
    on_threshold=0.6, off_threshold=0.4, min_ms=1000, end_hold_ms=500, cooldown_ms=3000
)


def feed(
    scores: Sequence[float], *, step_ms: int = 250, settings: EpisodeSettings = SETTINGS
) -> list[DistressEpisode]:
    tracker = EpisodeTracker(call_id="c", channel="customer", settings=settings)
    out: list[DistressEpisode] = []
    for i, s in enumerate(scores):
        out.extend(tracker.update((i + 1) * step_ms, s, [("anger", s)]))
    out.extend(tracker.finish(len(scores) * step_ms + step_ms))
    return out


def test_short_spike_is_not_an_episode() -> None:
    assert feed([0.1] * 8 + [0.9] * 3 + [0.1] * 8) == []  # 750 ms above on < 1000 ms


def test_sustained_rise_starts_and_ends_once() -> None:
    eps = feed([0.1] * 4 + [0.8] * 10 + [0.1] * 8)
    assert [(e.state, e.t_ms) for e in eps] == [("start", 2000), ("end", 4250)]
    assert eps[0].episode_id == eps[1].episode_id == "c-ep1"
    assert eps[1].peak == 0.8 and eps[0].cause == ("anger",)


def test_hysteresis_dips_between_thresholds_do_not_end_it() -> None:
    eps = feed([0.8] * 8 + [0.5, 0.45, 0.5] * 4 + [0.8] * 4 + [0.1] * 6)
    assert [e.state for e in eps] == ["start", "end"]
    # and a dip between the thresholds pauses but does not reset the pending count
    eps = feed([0.1, 0.8, 0.8, 0.5, 0.5, 0.8, 0.8, 0.1, 0.1, 0.1, 0.1])
    assert [e.state for e in eps] == ["start", "end"]


def test_drop_below_off_resets_the_pending_count() -> None:
    assert feed([0.8, 0.8, 0.8, 0.3, 0.8, 0.8, 0.8, 0.1, 0.1]) == []


def test_cooldown_blocks_a_quick_second_episode() -> None:
    burst = [0.9] * 8 + [0.1] * 4
    eps = feed(burst + burst + [0.1] * 20)
    assert [e.state for e in eps] == ["start", "end"]
    eps = feed(burst + [0.1] * 12 + burst)  # second one after the 3 s cooldown
    assert [e.state for e in eps] == ["start", "end", "start", "end"]
    assert eps[2].episode_id == "c-ep2"


def test_finish_closes_an_open_episode() -> None:
    eps = feed([0.9] * 10)
    assert [e.state for e in eps] == ["start", "end"]
    assert eps[1].t_ms == 2750


def test_strong_scores_count_faster_weak_ones_wait_the_full_minimum() -> None:
    fast = dataclasses.replace(SETTINGS, strength_gain=3.0)
    # a score of 1.0 counts 4x: the episode starts on the update after the rise, where a
    # plain count would need four (the rise is at 1250 ms)
    strong = feed([0.1] * 4 + [1.0] * 6 + [0.1] * 8, settings=fast)
    assert [(e.state, e.t_ms) for e in strong][0] == ("start", 1500)
    assert feed([0.1] * 4 + [1.0] * 6 + [0.1] * 8)[0].t_ms == 2000
    # a score just above on counts at (nearly) plain speed, as without the gain
    weak = feed([0.1] * 4 + [0.61] * 6 + [0.1] * 8, settings=fast)
    plain = feed([0.1] * 4 + [0.61] * 6 + [0.1] * 8)
    assert [e.t_ms for e in weak] == [e.t_ms for e in plain] and weak[0].t_ms == 2000
    # a strong spike shorter than min_ms / (1 + gain) is still not an episode
    assert feed([0.1] * 4 + [1.0] + [0.1] * 8, settings=fast) == []


def test_strength_weight_runs_from_one_at_the_threshold_to_one_plus_gain() -> None:
    s = dataclasses.replace(SETTINGS, strength_gain=2.0)
    assert s.weight(0.6) == 1.0 and s.weight(0.3) == 1.0
    assert s.weight(0.8) == 2.0 and s.weight(1.0) == 3.0
    assert SETTINGS.weight(1.0) == 1.0  # no gain: plain time above on
