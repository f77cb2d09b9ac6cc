"""The customer's latest distress estimate as the coach sees it (score, level, slope)."""

from __future__ import annotations

import math
from collections import deque

from voice_assist.events import DistressLevel, DistressUpdate

SLOPE_WINDOW_MS = 3000
"""The distress slope is measured over the updates of the last 3 s."""


class DistressTrack:
    """Keeps the last :class:`DistressUpdate` and a short history for the slope."""

    def __init__(self) -> None:
        self.score = 0.0
        self.level: DistressLevel = "calm"
        self.features: dict[str, float] = {}
        self.provisional = True
        self.updated_ms: int | None = None
        self._history: deque[tuple[int, float]] = deque()

    def on_update(self, ev: DistressUpdate, t_ms: int) -> None:
        """Record one update at ``t_ms`` (the coach's clock, never earlier than the last)."""
        score = float(ev.score) if math.isfinite(ev.score) else 0.0
        self.score = min(1.0, max(0.0, score))
        self.level = ev.level if ev.level in ("calm", "elevated", "high") else "calm"
        self.features = {str(k): float(v) for k, v in ev.features.items()}
        self.provisional = bool(ev.provisional)
        self.updated_ms = t_ms
        self._history.append((t_ms, self.score))
        while len(self._history) > 2 and t_ms - self._history[0][0] > SLOPE_WINDOW_MS:
            self._history.popleft()

    @property
    def elevated(self) -> bool:
        return self.level != "calm"

    def slope_per_s(self) -> float:
        """Change of the score per second over the last few seconds (0 when unknown)."""
        if len(self._history) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._history[0], self._history[-1]
        if t1 - t0 < 250:
            return 0.0
        return (s1 - s0) / ((t1 - t0) / 1000.0)
