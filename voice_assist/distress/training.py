"""Fitting the distress model on labelled development speakers (and checking it honestly).

Used by ``scripts/train_distress.py`` (writes ``voice_assist/data/distress_weights.json``)
and by the distress benchmark (leave-one-speaker-out estimates).  Not used at run time.

What is learned, from the training speakers only:

* ``scale`` per feature: the spread (1.4826 * MAD) of a speaker's *neutral* (N) windows,
  median over the training speakers; z-scores are in these "calm voice" units;
* ``weight`` per feature and the ``intercept``: an L2-regularised logistic regression on
  window z-scores (label = the clip's arousal), with every weight constrained to be >= 0
  in the feature's arousal direction, so each cause can only add distress.

What is set by hand (:data:`FEATURES` directions and causes, :data:`HAND_EXTRAS`): the
arousal direction of each feature, and the loudness and transcript speaking-rate evidence,
which the development clips cannot teach (they are peak-normalised one by one, and have
no transcripts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from voice_assist.distress.evaluation import (
    Clip,
    by_speaker,
    evaluate,
    score_clips,
    speaker_baseline,
)
from voice_assist.distress.scoring import DistressModel, ExtraSpec, FeatureSpec

FEATURES: tuple[tuple[str, str, float, str], ...] = (
    # (prosody feature, reported z key, arousal direction, episode cause)
    ("f0_st", "pitch_z", 1.0, "prosody:pitch"),
    ("f0_range_st", "pitch_range_z", 1.0, "prosody:pitch"),
    ("alpha_ratio_db", "alpha_ratio_z", 1.0, "prosody:tense"),
    ("hammarberg_db", "hammarberg_z", -1.0, "prosody:tense"),
    ("mfcc1", "mfcc1_z", -1.0, "prosody:tense"),
    ("syllable_rate_hz", "syllable_rate_z", 1.0, "prosody:fast"),
)
HAND_EXTRAS: dict[str, ExtraSpec] = {
    # rms_dbfs above the caller's calm level: +1 logit per 3 dB beyond the first 4.5 dB
    "loudness": ExtraSpec(
        key="loudness_z", scale=3.0, weight=0.5, offset_z=1.5, cause="prosody:loud"
    ),
    # words/s above the caller's own rate: +0.6 logit per 0.6 words/s beyond the first 0.6
    "speaking_rate": ExtraSpec(
        key="rate_z", scale=0.6, weight=0.6, offset_z=1.0, cause="prosody:fast"
    ),
}
QUANTILE = 0.25
Z_CLIP = 4.0
L2 = 1.0
"""Ridge penalty on the weights (the z-scores are already in comparable units)."""
HAND_WEIGHT = 0.5
"""The hand-weight reference: every feature the same weight, intercept below."""
HAND_INTERCEPT = -2.0


@dataclass(frozen=True, slots=True)
class LosoResult:
    """Leave-one-speaker-out: every speaker scored by a model fitted on the others."""

    n: int
    auc: float
    uar: float
    per_speaker: dict[str, dict[str, float]]

    def summary(self) -> dict[str, object]:
        return {
            "n": self.n,
            "auc": round(self.auc, 4),
            "uar": round(self.uar, 4),
            "per_speaker": self.per_speaker,
        }


def calm_scales(clips: Sequence[Clip], names: Sequence[str]) -> np.ndarray:
    """Median over speakers of 1.4826 * MAD of each feature in neutral (N) windows."""
    per: list[np.ndarray] = []
    for group in by_speaker(clips).values():
        rows = [c.column(names) for c in group if c.emotion == "N" and c.windows.shape[0]]
        if not rows:
            continue
        v = np.vstack(rows)
        med = np.nanmedian(v, axis=0)
        per.append(1.4826 * np.nanmedian(np.abs(v - med), axis=0))
    if not per:
        raise ValueError("no neutral (N) clips to learn feature scales from")
    scales = np.nanmedian(np.vstack(per), axis=0)
    return np.where(np.isfinite(scales) & (scales > 1e-6), scales, 1.0)


def _unfitted(scales: np.ndarray, *, weight: float, intercept: float) -> DistressModel:
    specs = tuple(
        FeatureSpec(name=n, key=k, direction=d, scale=float(s), weight=weight, cause=c)
        for (n, k, d, c), s in zip(FEATURES, scales, strict=True)
    )
    return DistressModel(
        features=specs,
        intercept=intercept,
        z_clip=Z_CLIP,
        quantile=QUANTILE,
        loudness=HAND_EXTRAS["loudness"],
        speaking_rate=HAND_EXTRAS["speaking_rate"],
        meta={},
    )


def hand_model(clips: Sequence[Clip]) -> DistressModel:
    """Equal hand weights (scales still from the clips' neutral speech)."""
    names = [f[0] for f in FEATURES]
    return _unfitted(calm_scales(clips, names), weight=HAND_WEIGHT, intercept=HAND_INTERCEPT)


def training_matrix(model: DistressModel, clips: Sequence[Clip]) -> tuple[np.ndarray, np.ndarray]:
    """Window z-scores (each speaker its own caller baseline) and their clip labels."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for group in by_speaker(clips).values():
        loc = speaker_baseline(model, group)
        for c in group:
            if not c.windows.shape[0]:
                continue
            u = c.column(model.names) * model.directions
            z = np.vstack([model.z_scores(row, loc[:-1]) for row in u])
            xs.append(z)
            ys.append(np.full(z.shape[0], c.high))
    return np.vstack(xs), np.concatenate(ys).astype(np.float64)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = L2) -> tuple[np.ndarray, float]:
    """Class-balanced logistic regression with weights >= 0 (L-BFGS-B)."""
    n, d = x.shape
    pos = max(1.0, float(np.sum(y)))
    neg = max(1.0, float(n - np.sum(y)))
    sw = np.where(y > 0.5, n / (2 * pos), n / (2 * neg))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        a = x @ w + b
        p = 1.0 / (1.0 + np.exp(-a))
        ll = np.logaddexp(0.0, a) - y * a
        f = float(np.sum(sw * ll) / n + 0.5 * l2 * np.dot(w, w) / n)
        g_a = sw * (p - y) / n
        grad = np.append(x.T @ g_a + l2 * w / n, np.sum(g_a))
        return f, grad

    bounds = [(0.0, None)] * d + [(None, None)]
    res = scipy.optimize.minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    return res.x[:d], float(res.x[d])


def fit_model(clips: Sequence[Clip], *, meta: dict[str, object] | None = None) -> DistressModel:
    """Fit scales, weights and intercept on ``clips`` (development speakers only)."""
    unfitted = hand_model(clips)
    x, y = training_matrix(unfitted, clips)
    w, b = fit_logistic(x, y)
    specs = tuple(
        FeatureSpec(
            name=f.name,
            key=f.key,
            direction=f.direction,
            scale=f.scale,
            weight=float(wi),
            cause=f.cause,
        )
        for f, wi in zip(unfitted.features, w, strict=True)
    )
    return DistressModel(
        features=specs,
        intercept=b,
        z_clip=Z_CLIP,
        quantile=QUANTILE,
        loudness=unfitted.loudness,
        speaking_rate=unfitted.speaking_rate,
        meta=meta or {},
    )


def leave_one_speaker_out(
    clips: Sequence[Clip], *, threshold: float, hand: bool = False
) -> LosoResult:
    """Score each speaker with a model fitted on the other speakers only."""
    groups = by_speaker(clips)
    scores: dict[str, float] = {}
    for spk, held in groups.items():
        train = [c for c in clips if c.speaker != spk]
        model = hand_model(train) if hand else fit_model(train)
        scores.update(score_clips(model, held))
    res = evaluate(clips, scores, threshold=threshold)
    return LosoResult(n=res.n, auc=res.auc, uar=res.uar, per_speaker=res.per_speaker)
