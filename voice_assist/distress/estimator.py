"""Customer distress: prosody frames and final transcripts in, updates and episodes out.

Per customer leg, for every :class:`ProsodyFrame` (one per prosody hop, 250 ms):

1. a voiced window is compared with the caller's own baseline
   (:class:`~voice_assist.distress.baseline.CallerBaseline`) as z-scores;
2. the trained model (:mod:`voice_assist.distress.scoring`) turns them into a window logit,
   plus hand-set loudness evidence; the logit is smoothed (``rise_time_constant_ms`` while
   the customer speaks, decaying towards calm over ``fall_time_constant_ms`` in silence);
3. word evidence from the lexicon and a fast speaking rate (from final transcripts) add to
   the logit and decay with their half-lives;
4. ``score = sigmoid(logit)``; the level is ``calm``/``elevated``/``high`` by the thresholds;
5. the episode tracker (:mod:`voice_assist.distress.episodes`) applies hysteresis, a minimum
   duration and a cooldown;
6. calm voiced windows teach the baseline; while distress is raised it is frozen.

Scores are ``provisional`` until the baseline holds ``baseline_min_voiced_ms`` of speech.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice_assist.config import PROJECT_ROOT, DistressOptions
from voice_assist.distress.baseline import CallerBaseline
from voice_assist.distress.episodes import EpisodeSettings, EpisodeTracker
from voice_assist.distress.lexicon import Lexicon, load_lexicon
from voice_assist.distress.scoring import DistressModel, load_model, sigmoid
from voice_assist.events import (
    Channel,
    DistressLevel,
    DistressUpdate,
    Event,
    ProsodyFrame,
    TranscriptEvent,
)
from voice_assist.logutil import call_logger

LOUDNESS_FEATURE = "rms_dbfs"
RATE_MIN_WORDS = 3
RATE_MAX_GAP_MS = 300


@functools.lru_cache(maxsize=4)
def _shared_model(path: str) -> DistressModel:
    """The model file is read once per process (models are immutable)."""
    return load_model(path)


def resolve_path(value: str) -> str:
    """A configured data path: absolute as is, else relative to the project root."""
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else PROJECT_ROOT / p)


@dataclass(slots=True)
class _Evidence:
    """Evidence added at ``t_ms``: full ``logit`` for ``hold_ms``, then exponential decay."""

    t_ms: int
    logit: float
    cause: str
    half_life_ms: int
    hold_ms: int = 0

    def at(self, t_ms: int) -> float:
        age = max(0, t_ms - self.t_ms - self.hold_ms)
        return self.logit * 0.5 ** (age / max(1, self.half_life_ms))


class DistressEstimator:
    """Customer distress for one call.

    Parameters
    ----------
    call_id : str
        Copied onto every event.
    options : DistressOptions
        Thresholds, baseline and smoothing settings.
    lexicon : Lexicon, optional
        Word evidence; loaded from ``options.lexicon_path`` when not given.
    model : DistressModel, optional
        Scoring model; loaded from ``options.model_path`` when not given.
    channel : {"customer", "agent"}
        The leg this estimator follows; frames and transcripts of other legs are ignored.
    """

    def __init__(
        self,
        *,
        call_id: str,
        options: DistressOptions,
        lexicon: Lexicon | None = None,
        model: DistressModel | None = None,
        channel: Channel = "customer",
    ) -> None:
        self.call_id = call_id
        self.options = options
        self.channel: Channel = channel
        self.lexicon = (
            lexicon if lexicon is not None else load_lexicon(resolve_path(options.lexicon_path))
        )
        self.model = model if model is not None else _shared_model(resolve_path(options.model_path))
        if options.z_clip > 0:
            self.model = dataclasses.replace(self.model, z_clip=options.z_clip)
        self._log = call_logger(__name__, call_id, channel)
        m = self.model
        self._directions = np.append(m.directions, 1.0)
        self.baseline = CallerBaseline(
            n_features=len(m.features) + 1,
            quantile=m.quantile,
            scales=np.append(m.scales, m.loudness.scale),
            min_ms=options.baseline_min_voiced_ms,
            max_ms=options.baseline_max_voiced_ms,
            provisional_ms=options.baseline_provisional_voiced_ms,
            time_constant_ms=options.baseline_time_constant_s * 1000.0,
        )
        self.episodes = EpisodeTracker(
            call_id=call_id,
            channel=channel,
            settings=EpisodeSettings(
                on_threshold=options.episode_on_threshold,
                off_threshold=options.episode_off_threshold,
                min_ms=options.episode_min_ms,
                end_hold_ms=options.episode_end_hold_ms,
                cooldown_ms=options.episode_cooldown_ms,
                strength_gain=options.episode_strength_gain,
            ),
        )
        self._rest = m.intercept
        self._prosody_logit = m.intercept
        self._prosody_causes: dict[str, float] = {}
        self._frame_t: int | None = None  # media time of the last prosody frame
        self._last_t: int | None = None  # media time of the last update (never decreases)
        self._z_report: dict[str, float] = {f.key: 0.0 for f in m.features}
        self._z_report[m.loudness.key] = 0.0
        self._words: list[_Evidence] = []
        self._rate: _Evidence | None = None
        self._rate_z = math.nan
        self._rate_baseline: list[float] = []
        self._score = sigmoid(self._rest)
        self._voiced = False
        self._pool: deque[tuple[np.ndarray, int]] = deque()
        self._pool_ms = 0

    # -- public -------------------------------------------------------------------------

    @property
    def score(self) -> float:
        return self._score

    def on_prosody(self, frame: ProsodyFrame) -> list[Event]:
        """One prosody frame of the customer leg -> a DistressUpdate (and episode events)."""
        if frame.channel != self.channel:
            return []
        t_frame = int(frame.t_ms)
        dt = 250 if self._frame_t is None else max(0, t_frame - self._frame_t)
        self._frame_t = max(t_frame, self._frame_t or 0)
        t = self._event_time(t_frame)
        u = self._arousal_values(frame)
        usable = frame.voiced and bool(np.any(np.isfinite(u)))
        self._voiced = usable
        if usable:
            u = self._pooled(u, dt)
        if usable and self.baseline.available:
            # evidence counts in proportion to the baseline the caller has given so far:
            # against a few seconds of speech, ordinary intonation reads as arousal
            trust = min(1.0, self.baseline.voiced_ms / max(1.0, self.baseline.min_ms))
            win_logit = self._rest + trust * (self._window_logit(u) - self._rest)
            alpha = 1.0 - math.exp(-dt / max(1, self.options.rise_time_constant_ms))
            self._prosody_logit += alpha * (win_logit - self._prosody_logit)
        else:
            alpha = 1.0 - math.exp(-dt / max(1, self.options.fall_time_constant_ms))
            self._prosody_logit += alpha * (self._rest - self._prosody_logit)
        out = self._update(t)
        if usable and not self._raised():
            self.baseline.add(u, dt)
        return out

    def on_transcript(self, ev: TranscriptEvent) -> list[Event]:
        """A transcript of the customer leg: finals add word and speaking-rate evidence."""
        if ev.channel != self.channel or not ev.is_final:
            return []
        t_words = int(ev.end_ms) if ev.end_ms else int(ev.t_ms)
        opts = self.options
        per_cause: dict[str, float] = {}
        for hit in self.lexicon.match(ev.text):  # each cause counts once per utterance
            per_cause[hit.cause] = max(per_cause.get(hit.cause, 0.0), hit.weight)
        for cause, weight in per_cause.items():
            self._words.append(
                _Evidence(t_words, weight, cause, opts.lexicon_half_life_ms, opts.lexicon_hold_ms)
            )
        self._add_speaking_rate(ev, t_words)
        return self._update(self._event_time(t_words))

    def finish(self, t_ms: int) -> list[Event]:
        """End of call: close an open episode."""
        t = max(int(t_ms), self._last_t or 0)
        return list(self.episodes.finish(t))

    # -- internals ----------------------------------------------------------------------

    def _event_time(self, t_ms: int) -> int:
        """Updates and episodes go out in non-decreasing media time."""
        t = max(int(t_ms), self._last_t if self._last_t is not None else 0)
        self._last_t = t
        return t

    def _arousal_values(self, frame: ProsodyFrame) -> np.ndarray:
        feats = frame.features
        x = [float(feats.get(n, math.nan)) for n in self.model.names]
        x.append(float(feats.get(LOUDNESS_FEATURE, math.nan)))
        return self._directions * np.asarray(x, dtype=np.float64)

    def _pooled(self, u: np.ndarray, dt: int) -> np.ndarray:
        """The mean of the last ``pool_voiced_ms`` of voiced windows (silences skipped):
        one window's pitch and tilt swing with sentence intonation, the caller's state
        persists over seconds of speech."""
        if self.options.pool_voiced_ms <= 0:
            return u
        self._pool.append((u, dt))
        self._pool_ms += dt
        while (
            len(self._pool) > 1 and self._pool_ms - self._pool[0][1] >= self.options.pool_voiced_ms
        ):
            self._pool_ms -= self._pool.popleft()[1]
        rows = np.vstack([r for r, _ in self._pool])
        seen = np.any(np.isfinite(rows), axis=0)
        out = np.full(u.shape, np.nan)
        out[seen] = np.nanmean(rows[:, seen], axis=0)
        return out

    def _window_logit(self, u: np.ndarray) -> float:
        m = self.model
        loc = self.baseline.location()
        z = m.z_scores(u[:-1], loc[:-1])
        z_loud = (u[-1] - loc[-1]) / m.loudness.scale
        loud = m.loudness.logit(z_loud)
        for f, zi in zip(m.features, z, strict=True):
            self._z_report[f.key] = float(zi)
        self._z_report[m.loudness.key] = (
            float(np.clip(z_loud, -m.z_clip, m.z_clip)) if math.isfinite(z_loud) else 0.0
        )
        causes: dict[str, float] = {}
        for name, c in m.contributions(z).items():
            cause = next(f.cause for f in m.features if f.name == name)
            causes[cause] = causes.get(cause, 0.0) + c
        causes[m.loudness.cause] = causes.get(m.loudness.cause, 0.0) + loud
        self._prosody_causes = causes
        return float(m.logit(z) + loud)

    def _add_speaking_rate(self, ev: TranscriptEvent, t_words: int) -> None:
        words = [w for w in ev.words if w.end_ms > w.start_ms]
        if len(words) < RATE_MIN_WORDS:
            return
        span = words[-1].end_ms - words[0].start_ms
        gaps = sum(
            max(0, b.start_ms - a.end_ms)
            for a, b in zip(words, words[1:], strict=False)
            if b.start_ms - a.end_ms > RATE_MAX_GAP_MS
        )
        speaking_ms = span - gaps
        if speaking_ms <= 0:
            return
        rate = len(words) * 1000.0 / speaking_ms
        spec = self.model.speaking_rate
        if len(self._rate_baseline) >= 2:
            self._rate_z = (rate - float(np.median(self._rate_baseline))) / spec.scale
            logit = spec.logit(self._rate_z)
            self._rate = _Evidence(
                t_words, logit, spec.cause, self.options.speaking_rate_half_life_ms
            )
        if (
            len(self._rate_baseline) < self.options.speaking_rate_baseline_utterances
            and not self._raised()
        ):
            self._rate_baseline.append(rate)

    def _word_logit(self, t: int) -> tuple[float, dict[str, float]]:
        causes: dict[str, float] = {}
        total = 0.0
        keep: list[_Evidence] = []
        for e in self._words:
            v = e.at(t)
            if v < 0.01 and t >= e.t_ms:
                continue  # spent
            keep.append(e)
            if t < e.t_ms:
                continue  # words later than this update (media time): not yet
            total += v
            causes[e.cause] = causes.get(e.cause, 0.0) + v
        self._words = keep
        return min(total, self.options.lexicon_max_logit), causes

    def _raised(self) -> bool:
        return self._score >= self.options.elevated_threshold or self.episodes.raised

    def _level(self, score: float) -> DistressLevel:
        if score >= self.options.high_threshold:
            return "high"
        if score >= self.options.elevated_threshold:
            return "elevated"
        return "calm"

    def _update(self, t: int) -> list[Event]:
        words, word_causes = self._word_logit(t)
        rate = self._rate.at(t) if self._rate is not None and t >= self._rate.t_ms else 0.0
        prosody = self._prosody_logit
        self._score = sigmoid(prosody + words + rate)
        causes = self._causes(prosody, word_causes, rate)
        features = dict(self._z_report)
        features["voiced"] = 1.0 if self._voiced else 0.0
        features["rate_z"] = self._rate_z
        features["prosody"] = float(prosody - self._rest)
        features["words"] = float(words)
        features["baseline_voiced_s"] = self.baseline.voiced_ms / 1000.0
        update = DistressUpdate(
            call_id=self.call_id,
            t_ms=t,
            channel=self.channel,
            score=round(self._score, 4),
            level=self._level(self._score),
            provisional=not self.baseline.ready,
            features=features,
        )
        out: list[Event] = [update]
        out.extend(self.episodes.update(t, self._score, causes))
        return out

    def _causes(
        self, prosody: float, word_causes: dict[str, float], rate: float
    ) -> Iterable[tuple[str, float]]:
        floor = self.options.cause_min_logit
        out: dict[str, float] = {}
        # prosody causes in proportion to the smoothed prosody evidence above calm
        above = prosody - self._rest
        total = sum(v for v in self._prosody_causes.values() if v > 0)
        if above > 0 and total > 0:
            for cause, v in self._prosody_causes.items():
                if v > 0:
                    out[cause] = above * v / total
        for cause, v in word_causes.items():
            out[cause] = out.get(cause, 0.0) + v
        if rate > 0:
            cause = self.model.speaking_rate.cause
            out[cause] = out.get(cause, 0.0) + rate
        return [(c, v) for c, v in out.items() if v >= floor]
