"""Distress episodes from a score stream: hysteresis, a minimum duration and a cooldown.

::

    idle --(>= on)--> pending --(min_ms above on)--> active --(< off for end_hold_ms)--> cooldown
     ^                   | (< off)                                                         |
     +-------------------+<------------------- cooldown_ms after the end ------------------+

* A score must spend ``min_ms`` above the *on* threshold (dips between *off* and *on* pause
  the count, a drop below *off* resets it) before an episode starts, so a single loud word or
  a laugh does not start one.  Optionally (``strength_gain`` > 0; 0 by default, measured and
  not adopted, see docs/coaching.md) strong evidence counts faster: time above *on* is weighted by
  ``1 + strength_gain * excess``, where ``excess`` is how far the score stands between *on*
  (0) and 1 (1).  A score near 1 starts an episode ``1 + strength_gain`` times sooner; one
  just above *on*, the kind ordinary intonation gives, still needs the full ``min_ms``
  (a cumulative-sum rule in the spirit of Page's CUSUM).
* An active episode ends once the score has stayed below *off* for ``end_hold_ms``.
* After an end no new episode starts for ``cooldown_ms``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from voice_assist.events import Channel, DistressEpisode


@dataclass(frozen=True, slots=True)
class EpisodeSettings:
    on_threshold: float
    off_threshold: float
    min_ms: int
    end_hold_ms: int
    cooldown_ms: int
    strength_gain: float = 0.0
    """How much faster a strong score counts towards ``min_ms`` (0: plain time above on)."""

    def weight(self, score: float) -> float:
        """How fast time above *on* counts at ``score``: 1 just above *on*, up to
        ``1 + strength_gain`` at 1."""
        span = max(1e-9, 1.0 - self.on_threshold)
        excess = min(1.0, max(0.0, (score - self.on_threshold) / span))
        return 1.0 + max(0.0, self.strength_gain) * excess


class EpisodeTracker:
    """Turns ``(t_ms, score, causes)`` updates into start/end :class:`DistressEpisode` events."""

    def __init__(self, *, call_id: str, channel: Channel, settings: EpisodeSettings) -> None:
        if settings.off_threshold > settings.on_threshold:
            raise ValueError("episode off threshold must not exceed the on threshold")
        self.call_id = call_id
        self.channel: Channel = channel
        self.settings = settings
        self.state: str = "idle"  # idle | pending | active | cooldown
        self.count = 0
        self._last_t: int | None = None
        self._above_ms = 0.0
        self._below_since: int | None = None
        self._cooldown_until = 0
        self._peak = 0.0
        self._causes: dict[str, float] = {}
        self._episode_id = ""

    @property
    def active(self) -> bool:
        return self.state == "active"

    @property
    def raised(self) -> bool:
        """Pending or active: the caller's baseline should not learn from now."""
        return self.state in ("pending", "active")

    def update(
        self, t_ms: int, score: float, causes: Iterable[tuple[str, float]] = ()
    ) -> list[DistressEpisode]:
        """Feed one score at media time ``t_ms`` (non-decreasing).

        ``causes`` are ``(tag, strength)`` pairs for this update; an episode's causes are
        the tags seen while it was pending or active, strongest first.
        """
        s = self.settings
        dt = 0 if self._last_t is None else max(0, t_ms - self._last_t)
        self._last_t = t_ms
        out: list[DistressEpisode] = []
        if self.state == "cooldown" and t_ms >= self._cooldown_until:
            self.state = "idle"
        if self.state == "idle":
            if score >= s.on_threshold:
                self.state = "pending"
                # the score was up over the interval to this update
                self._above_ms = dt * s.weight(score)
                self._peak = score
                self._causes = {}
                self._note(causes)
        elif self.state == "pending":
            if score < s.off_threshold:
                self.state = "idle"
            else:
                if score >= s.on_threshold:
                    self._above_ms += dt * s.weight(score)
                self._peak = max(self._peak, score)
                self._note(causes)
                if self._above_ms >= s.min_ms:
                    self.state = "active"
                    self.count += 1
                    self._episode_id = f"{self.call_id}-ep{self.count}"
                    self._below_since = None
                    out.append(self._event(t_ms, "start"))
        elif self.state == "active":
            self._peak = max(self._peak, score)
            if score < s.off_threshold:
                if self._below_since is None:
                    self._below_since = t_ms
                if t_ms - self._below_since >= s.end_hold_ms:
                    out.append(self._end(t_ms))
            else:
                self._below_since = None
                self._note(causes)
        return out

    def finish(self, t_ms: int) -> list[DistressEpisode]:
        """End an active episode at the end of the call."""
        if self.state == "active":
            return [self._end(max(t_ms, self._last_t or 0))]
        if self.state == "pending":
            self.state = "idle"
        return []

    def _end(self, t_ms: int) -> DistressEpisode:
        ev = self._event(t_ms, "end")
        self.state = "cooldown"
        self._cooldown_until = t_ms + self.settings.cooldown_ms
        self._below_since = None
        return ev

    def _note(self, causes: Iterable[tuple[str, float]]) -> None:
        for tag, strength in causes:
            self._causes[tag] = max(self._causes.get(tag, 0.0), strength)

    def _event(self, t_ms: int, state: str) -> DistressEpisode:
        ranked = sorted(self._causes.items(), key=lambda kv: (-kv[1], kv[0]))
        return DistressEpisode(
            call_id=self.call_id,
            t_ms=int(t_ms),
            channel=self.channel,
            episode_id=self._episode_id,
            state="start" if state == "start" else "end",
            peak=round(float(self._peak), 4),
            cause=tuple(tag for tag, _ in ranked),
        )
