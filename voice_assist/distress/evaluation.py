"""Offline arousal evaluation on an Emo-DB-style folder, with the live scoring path.

File names follow Emo-DB: ``SSaNNEv.wav`` with ``SS`` the speaker and ``E`` (the sixth
character) the emotion: W, F, A are high arousal; L, T, N low; E (disgust) is left out.
Each speaker's clips are one caller: the baseline comes from that speaker's own voiced
windows (all of them, no labels), exactly as the live estimator would build it, and each
clip is scored by the live model: ``sigmoid(mean window logit over its voiced windows)``.
The binary decision uses the live ``elevated_threshold``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_assist.config import ProsodyOptions
from voice_assist.distress.baseline import CallerBaseline
from voice_assist.distress.estimator import LOUDNESS_FEATURE
from voice_assist.distress.scoring import DistressModel, sigmoid
from voice_assist.prosody.tracker import ProsodyTracker

HIGH_AROUSAL = frozenset("WFA")
LOW_AROUSAL = frozenset("LTN")
WINDOW_FEATURES: tuple[str, ...] = (
    "f0_st",
    "f0_range_st",
    "alpha_ratio_db",
    "hammarberg_db",
    "mfcc1",
    "mfcc2",
    "centroid_hz",
    "shimmer_db",
    "jitter",
    "periodicity",
    "flux",
    "syllable_rate_hz",
    "voiced_ratio",
    "pause_ratio",
    "loudness_range_db",
    "rms_dbfs",
)
"""Window features kept per clip (a superset of what the model uses, for training)."""


@dataclass(frozen=True, slots=True)
class Clip:
    """One labelled clip: its voiced windows' features, shape ``(n_windows, n_features)``."""

    name: str
    speaker: str
    emotion: str
    windows: np.ndarray
    feature_names: tuple[str, ...]

    @property
    def high(self) -> bool:
        return self.emotion in HIGH_AROUSAL

    def column(self, names: Sequence[str]) -> np.ndarray:
        idx = [self.feature_names.index(n) for n in names]
        return self.windows[:, idx]


def emotion_of(name: str) -> str | None:
    """The Emo-DB emotion letter (6th character) of a file name, or None if it has none."""
    stem = Path(name).stem
    return stem[5] if len(stem) >= 6 else None


def telephone_band(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """What a phone line does: 8 kHz G.711 mu-law and back to 16 kHz."""
    from voice_assist.audio.pcm import mulaw_decode, mulaw_encode
    from voice_assist.audio.resample import resample

    narrow = resample(samples, sample_rate_hz, 8000)
    return resample(mulaw_decode(mulaw_encode(narrow)), 8000, 16000)


def load_audio_16k(path: Path, *, telephone: bool) -> np.ndarray:
    import soundfile as sf

    from voice_assist.audio.resample import resample

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    mono = np.mean(data, axis=1).astype(np.float32)
    if telephone:
        return telephone_band(mono, int(sr))
    return resample(mono, int(sr), 16000)


def clip_windows(
    samples_16k: np.ndarray,
    *,
    options: ProsodyOptions,
    names: Sequence[str] = WINDOW_FEATURES,
    chunk_ms: int = 100,
) -> np.ndarray:
    """Stream a clip through a fresh :class:`ProsodyTracker`; voiced windows' features."""
    tracker = ProsodyTracker(call_id="eval", channel="customer", options=options)
    step = 16 * chunk_ms
    frames = []
    for i in range(0, samples_16k.shape[0], step):
        frames.extend(tracker.feed(samples_16k[i : i + step]))
    frames.extend(tracker.finish())
    rows = [[float(f.features.get(n, math.nan)) for n in names] for f in frames if f.voiced]
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(names))


def load_clips(
    directory: str | Path,
    *,
    telephone: bool = False,
    options: ProsodyOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Clip]:
    """Every labelled (non-E) ``*.wav`` of an Emo-DB-style folder, as windows."""
    opts = options or ProsodyOptions()
    paths = sorted(p for p in Path(directory).glob("*.wav") if p.is_file())
    clips: list[Clip] = []
    last_speaker = None
    for p in paths:
        emo = emotion_of(p.name)
        if emo is None or emo not in HIGH_AROUSAL | LOW_AROUSAL:
            continue
        speaker = p.name[:2]
        if progress and speaker != last_speaker:
            progress(f"speaker {speaker}")
            last_speaker = speaker
        audio = load_audio_16k(p, telephone=telephone)
        clips.append(
            Clip(
                name=p.name,
                speaker=speaker,
                emotion=emo,
                windows=clip_windows(audio, options=opts),
                feature_names=WINDOW_FEATURES,
            )
        )
    return clips


def by_speaker(clips: Sequence[Clip]) -> dict[str, list[Clip]]:
    out: dict[str, list[Clip]] = {}
    for c in clips:
        out.setdefault(c.speaker, []).append(c)
    return out


def model_columns(model: DistressModel) -> tuple[str, ...]:
    return (*model.names, LOUDNESS_FEATURE)


def speaker_baseline(model: DistressModel, clips: Sequence[Clip]) -> np.ndarray:
    """Baseline location (arousal direction) from all of one speaker's voiced windows."""
    cols = model_columns(model)
    directions = np.append(model.directions, 1.0)
    rows = [c.column(cols) * directions for c in clips if c.windows.shape[0]]
    u = np.vstack(rows) if rows else np.zeros((0, len(cols)))
    base = CallerBaseline.fit(
        u, quantile=model.quantile, scales=np.append(model.scales, model.loudness.scale)
    )
    return base.location()


def window_logits(model: DistressModel, clip: Clip, location: np.ndarray) -> np.ndarray:
    """Live window logits (trained part plus loudness evidence) of one clip's windows."""
    cols = model_columns(model)
    u = clip.column(cols) * np.append(model.directions, 1.0)
    out = np.empty(u.shape[0])
    for i, row in enumerate(u):
        z = model.z_scores(row[:-1], location[:-1])
        z_loud = (row[-1] - location[-1]) / model.loudness.scale
        out[i] = model.logit(z) + model.loudness.logit(z_loud)
    return out


def score_clips(model: DistressModel, clips: Sequence[Clip]) -> dict[str, float]:
    """Clip name -> live score in [0, 1], each speaker being one caller."""
    scores: dict[str, float] = {}
    for group in by_speaker(clips).values():
        loc = speaker_baseline(model, group)
        for c in group:
            lg = window_logits(model, c, loc)
            scores[c.name] = sigmoid(float(np.mean(lg)) if lg.size else model.intercept)
    return scores


def auc(labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); NaN with one class."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(np.count_nonzero(y))
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size)
    sorted_s = s[order]
    i = 0
    while i < s.size:
        j = i
        while j + 1 < s.size and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return float((np.sum(ranks[y]) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def uar(labels: Sequence[bool] | np.ndarray, decisions: Sequence[bool] | np.ndarray) -> float:
    """Unweighted average recall of a binary decision."""
    y = np.asarray(labels, dtype=bool)
    d = np.asarray(decisions, dtype=bool)
    recalls = [float(np.mean(d[y == cls] == cls)) for cls in (True, False) if np.any(y == cls)]
    if len(recalls) < 2:
        return math.nan
    return float(np.mean(recalls))


@dataclass(frozen=True, slots=True)
class EvalResult:
    n: int
    auc: float
    uar: float
    per_speaker: dict[str, dict[str, float]]

    def summary(self) -> dict[str, float | int]:
        return {"n": self.n, "auc": round(self.auc, 4), "uar": round(self.uar, 4)}


def evaluate(clips: Sequence[Clip], scores: dict[str, float], *, threshold: float) -> EvalResult:
    """AUC over all clips and UAR at ``threshold``, plus the same per speaker."""
    y = np.array([c.high for c in clips])
    s = np.array([scores[c.name] for c in clips])
    per: dict[str, dict[str, float]] = {}
    for spk, group in sorted(by_speaker(clips).items()):
        gy = np.array([c.high for c in group])
        gs = np.array([scores[c.name] for c in group])
        per[spk] = {
            "n": len(group),
            "auc": round(auc(gy, gs), 4),
            "uar": round(uar(gy, gs >= threshold), 4),
        }
    return EvalResult(n=len(clips), auc=auc(y, s), uar=uar(y, s >= threshold), per_speaker=per)
