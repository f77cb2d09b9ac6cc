"""The WER gap's paired bootstrap: errors split by clip, the interval."""

from __future__ import annotations

import jiwer
import pytest

from benchmarks.gapci import clip_errors, gap_interval


def _words(*clips: str) -> list[list[str]]:
    return [c.split() for c in clips]


def test_clip_errors_split_the_whole_text_alignment_by_clip() -> None:
    clips = _words("the cat sat", "on the mat", "ten of clubs")
    # a substitution in clip 0, a deletion in clip 2, an insertion between clips 1 and 2
    hypothesis = _words("the bat sat on the mat um ten clubs")[0]
    assert clip_errors(clips, hypothesis) == [1, 1, 1]
    whole = jiwer.process_words(" ".join(" ".join(c) for c in clips), " ".join(hypothesis))
    assert sum(clip_errors(clips, hypothesis)) == (
        whole.substitutions + whole.deletions + whole.insertions
    )


def test_clip_errors_ignore_where_the_hypothesis_was_cut() -> None:
    clips = _words("ask not what", "your country can do")
    # a final that ran across the clip boundary is not an error
    assert clip_errors(clips, _words("ask not what your country can do")[0]) == [0, 0]
    assert clip_errors(clips, []) == [3, 4]
    assert clip_errors(clips, _words("oh ask not what your country can do")[0]) == [1, 0]
    with pytest.raises(ValueError, match="no words"):
        clip_errors(_words("", ""), ["hello"])


def test_identical_systems_have_a_zero_gap_with_no_spread() -> None:
    n = [10] * 20
    errors = [k % 3 for k in range(20)]
    ci = gap_interval(n, errors, errors)
    assert (ci.gap_points, ci.low_points, ci.high_points) == (0.0, 0.0, 0.0)
    assert ci.clips == 20


def test_a_system_worse_on_every_clip_has_an_interval_above_zero() -> None:
    ci = gap_interval([20] * 30, [3] * 30, [1] * 30)
    assert ci.gap_points == pytest.approx(10.0)
    assert 0 < ci.low_points <= ci.gap_points <= ci.high_points


def test_one_clip_carrying_the_whole_gap_gives_a_wide_interval_that_reaches_zero() -> None:
    ci = gap_interval([20] * 25, [0] * 24 + [9], [0] * 25)
    assert ci.gap_points == pytest.approx(1.8)
    assert ci.low_points == 0.0  # most resamples leave that clip out
    assert ci.high_points > 2 * ci.gap_points


def test_the_interval_is_seeded_and_narrows_with_more_clips() -> None:
    n, a, b = [10] * 10, [2 if k % 2 else 0 for k in range(10)], [1] * 10
    assert gap_interval(n, a, b) == gap_interval(n, a, b)
    wide, narrow = gap_interval(n, a, b), gap_interval(n * 10, a * 10, b * 10)
    assert wide.gap_points == narrow.gap_points
    assert narrow.high_points - narrow.low_points < wide.high_points - wide.low_points


@pytest.mark.parametrize(
    ("counts", "kwargs", "message"),
    [
        (([], [], []), {}, "no clips"),
        (([5], [1, 2], [0]), {}, "one count per clip"),
        (([0], [1], [0]), {}, "no words"),
        (([5], [1], [0]), {"level": 1.0}, "level"),
        (([5], [1], [0]), {"resamples": 0}, "resamples"),
    ],
)
def test_bad_input_is_refused_clearly(
    counts: tuple[list[int], list[int], list[int]], kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        gap_interval(*counts, **kwargs)  # type: ignore[arg-type]
