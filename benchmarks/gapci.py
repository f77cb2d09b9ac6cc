"""How sure a WER gap is: a paired bootstrap over the corpus's clips.

A corpus of a few hundred words moves by a point of WER for two or three words, so one
gap figure says little about whether two systems differ.  Each system's errors are
taken from the one alignment of its whole text against the whole reference (the
alignment the corpus WER counts) and split by the clip each reference word belongs to
(:func:`clip_errors`); the clips are then resampled with replacement
(:func:`gap_interval`), and the interval holds the gap of ``level`` of the resampled
corpora.  Resampling pairs the two systems' errors on the same clip, which is what makes
a small corpus informative about the difference between two systems on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True, slots=True)
class GapInterval:
    """100 * (WER of A - WER of B), with its bootstrap interval, in WER points."""

    gap_points: float
    low_points: float
    high_points: float
    level: float
    resamples: int
    clips: int


def clip_errors(clips: Sequence[Sequence[str]], hypothesis: Sequence[str]) -> list[int]:
    """Word errors per clip of ``hypothesis`` (the whole text, normalised words) against
    the clips' references (normalised words, in order).

    Substitutions and deletions count against the clip of their reference word; words
    inserted between two clips count against the earlier one.  The counts sum to the
    errors of the corpus WER.
    """
    import jiwer

    owner = [i for i, words in enumerate(clips) for _ in words]
    if not owner:
        raise ValueError("the references hold no words")
    errors = [0] * len(clips)
    alignment = jiwer.process_words(
        " ".join(w for words in clips for w in words), " ".join(hypothesis)
    )
    for chunk in alignment.alignments[0]:
        if chunk.type in ("substitute", "delete"):
            for i in range(chunk.ref_start_idx, chunk.ref_end_idx):
                errors[owner[i]] += 1
        elif chunk.type == "insert":
            errors[owner[max(chunk.ref_start_idx - 1, 0)]] += (
                chunk.hyp_end_idx - chunk.hyp_start_idx
            )
    return errors


def gap_interval(
    ref_words: Sequence[int],
    errors_a: Sequence[int],
    errors_b: Sequence[int],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> GapInterval:
    """The gap A - B in WER points and its paired bootstrap percentile interval.

    One entry per clip in each sequence.  Seeded, so the same counts give the same
    interval.
    """
    if not len(ref_words) == len(errors_a) == len(errors_b):
        raise ValueError(
            f"one count per clip needed: {len(ref_words)} reference lengths, "
            f"{len(errors_a)} and {len(errors_b)} error counts"
        )
    if not ref_words:
        raise ValueError("no clips to resample")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), not {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, not {resamples}")
    n = np.asarray(ref_words, dtype=np.float64)
    if n.sum() <= 0:
        raise ValueError("the references hold no words")
    diff = np.asarray(errors_a, dtype=np.float64) - np.asarray(errors_b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n.size, size=(resamples, n.size))
    gaps = 100 * diff[picks].sum(axis=1) / np.maximum(n[picks].sum(axis=1), 1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(gaps, [tail, 100 - tail])
    return GapInterval(
        round(float(100 * diff.sum() / n.sum()), 1),
        round(float(low), 1),
        round(float(high), 1),
        level,
        resamples,
        n.size,
    )
