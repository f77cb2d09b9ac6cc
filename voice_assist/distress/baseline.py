"""Per-caller baseline: where this caller's calm voice sits, feature by feature.

Features are handled in their *arousal direction* ``u = direction * x`` (higher = more
aroused), so one rule serves pitch (up when upset) and the Hammarberg index (down when
upset).  The baseline location of a feature is a low quantile of the caller's own ``u``
(``quantile``, 0.25 by default; 0.5 would be the median):

* over the first ``min_windows .. max_windows`` voiced windows it is the plain sample
  quantile (robust: a few odd windows do not move it);
* after that it moves slowly, by stochastic quantile tracking with a time constant of
  ``time_constant_windows`` windows;
* the caller of :meth:`add` leaves out windows while distress is raised, so the baseline
  never learns the anger.

Why a low quantile rather than the median: a warm-up that mixes calm and upset speech
(callers who ring in angry) puts the median between the two, and the fixed operating
threshold would then call half of the caller's calm speech elevated.  The lower quantile
stays near the calm mode either way.  The spread is not estimated per caller for the same
reason (a mixed warm-up inflates a MAD several times over); z-scores use per-feature scales
learned from development speakers' calm speech (see :mod:`voice_assist.distress.scoring`).
"""

from __future__ import annotations

import numpy as np


class CallerBaseline:
    """Robust running location of a caller's calm voice, per feature.

    Parameters
    ----------
    n_features : int
        Features per window (already in arousal direction).
    quantile : float
        Location quantile in the arousal direction (0 < q <= 0.5).
    scales : np.ndarray
        Per-feature scale, shape ``(n_features,)``: the step size of the slow update.
    min_ms : float
        Voiced audio needed before the baseline is *ready* (not provisional).
    max_ms : float
        Voiced audio collected for the initial estimate; later windows update it slowly.
    provisional_ms : float
        Voiced audio needed before a provisional location is offered at all.
    time_constant_ms : float
        Time constant of the slow update, in ms of (calm, voiced) audio.
    """

    def __init__(
        self,
        *,
        n_features: int,
        quantile: float,
        scales: np.ndarray,
        min_ms: float,
        max_ms: float,
        provisional_ms: float,
        time_constant_ms: float,
    ) -> None:
        if not 0.0 < quantile <= 0.5:
            raise ValueError(f"quantile must be in (0, 0.5], not {quantile}")
        self.n_features = n_features
        self.quantile = quantile
        self.min_ms = max(0.0, min_ms)
        self.max_ms = max(self.min_ms, max_ms)
        self.provisional_ms = min(max(0.0, provisional_ms), self.min_ms)
        self.time_constant_ms = max(1.0, time_constant_ms)
        self._scales = np.asarray(scales, dtype=np.float64).reshape(n_features)
        self._rows: list[np.ndarray] = []
        self._loc: np.ndarray | None = None
        self._collecting = True
        self.voiced_ms = 0.0

    @classmethod
    def fit(cls, u: np.ndarray, *, quantile: float, scales: np.ndarray) -> CallerBaseline:
        """A ready baseline from all rows of ``u`` (shape ``(n, n_features)``) at once.

        Used by the offline evaluation, where each speaker's clips form one caller.
        """
        n = float(max(1, u.shape[0]))
        b = cls(
            n_features=int(u.shape[1]),
            quantile=quantile,
            scales=scales,
            min_ms=n,
            max_ms=n,
            provisional_ms=1.0,
            time_constant_ms=1.0,
        )
        for row in u:
            b.add(row, 1.0)
        return b

    @property
    def ready(self) -> bool:
        return self.voiced_ms >= self.min_ms and self.voiced_ms > 0

    @property
    def available(self) -> bool:
        """A location (provisional or ready) can be given."""
        return bool(self._rows or not self._collecting) and self.voiced_ms >= self.provisional_ms

    def add(self, u: np.ndarray, duration_ms: float) -> None:
        """Take one voiced, calm window (arousal-direction features, NaN = missing) that
        advanced the stream by ``duration_ms``."""
        row = np.asarray(u, dtype=np.float64).reshape(self.n_features)
        self.voiced_ms += duration_ms
        if self._collecting:
            self._rows.append(row)
            self._loc = None  # recomputed lazily
            if self.voiced_ms >= self.max_ms:
                self._loc = self._sample_quantile()
                self._rows = []
                self._collecting = False
            return
        loc = self.location()
        ok = np.isfinite(row) & np.isfinite(loc)
        # quantile tracking: E[step] = eta * s * (q - F(loc)), and F' ~ 0.3 / s near q
        eta = duration_ms / (0.3 * self.time_constant_ms)
        step = eta * self._scales * (self.quantile - (row <= loc))
        loc[ok] += step[ok]
        fill = np.isfinite(row) & ~np.isfinite(loc)
        loc[fill] = row[fill]
        self._loc = loc

    def location(self) -> np.ndarray:
        """Per-feature location, shape ``(n_features,)``; NaN where never observed."""
        if self._loc is None:
            self._loc = self._sample_quantile()
        return self._loc.copy()

    def _sample_quantile(self) -> np.ndarray:
        loc = np.full(self.n_features, np.nan)
        if not self._rows:
            return loc
        arr = np.vstack(self._rows)
        seen = np.any(np.isfinite(arr), axis=0)
        if np.any(seen):
            loc[seen] = np.nanquantile(arr[:, seen], self.quantile, axis=0)
        return loc
