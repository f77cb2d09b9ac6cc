"""The empathy test of a call: distress episodes, which were acknowledged, and how fast.

An episode counts as acknowledged when the agent acknowledges (in words, or by marking the
pause prompt "followed" on the overlay) no later than ``ack_window_ms`` after it started.
The latency is measured from the episode's start to the moment of the acknowledgement.
An utterance that ended shortly before the episode was raised (``ACK_LEAD_MS``) still
answers it, with latency 0: the distress estimator needs a moment to raise an episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice_assist.events import EmpathyScore

ACK_LEAD_MS = 2000
"""How long before an episode's start an acknowledging utterance may have ended."""


@dataclass(slots=True, kw_only=True)
class EpisodeRecord:
    """One customer distress episode and what the agent did about it."""

    episode_id: str
    start_ms: int
    peak: float
    cause: tuple[str, ...]
    end_ms: int | None = None
    ack_ms: int | None = None
    ack_source: str | None = None
    """``"transcript"`` (the agent said it) or ``"overlay"`` (marked followed)."""
    ack_phrase: str = ""
    returned: bool = False
    """A return_to_solving prompt was considered for this episode."""
    process_nudged: bool = False
    """A be_present prompt for going to process first was considered for this episode."""
    prompt_ids: list[str] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.end_ms is None

    @property
    def acknowledged(self) -> bool:
        return self.ack_ms is not None

    @property
    def ack_latency_ms(self) -> int | None:
        return None if self.ack_ms is None else max(0, self.ack_ms - self.start_ms)


class EmpathyTest:
    """Episodes of one call, in the order they started."""

    def __init__(self, *, ack_window_ms: int) -> None:
        self._ack_window_ms = ack_window_ms
        self._episodes: dict[str, EpisodeRecord] = {}

    def start(
        self, episode_id: str, *, t_ms: int, peak: float, cause: tuple[str, ...]
    ) -> EpisodeRecord | None:
        """Record a new episode; ``None`` when this id was seen before."""
        if episode_id in self._episodes:
            return None
        rec = EpisodeRecord(episode_id=episode_id, start_ms=t_ms, peak=peak, cause=cause)
        self._episodes[episode_id] = rec
        return rec

    def end(self, episode_id: str, *, t_ms: int, peak: float) -> EpisodeRecord | None:
        """Close an episode; ``None`` when it is unknown or already closed."""
        rec = self._episodes.get(episode_id)
        if rec is None or not rec.is_open:
            return None
        rec.end_ms = max(t_ms, rec.start_ms)
        rec.peak = max(rec.peak, peak)
        return rec

    def get(self, episode_id: str) -> EpisodeRecord | None:
        return self._episodes.get(episode_id)

    def acknowledge(
        self,
        *,
        at_ms: int,
        said_by_ms: int,
        source: str,
        phrase: str = "",
        episode_ids: set[str] | None = None,
    ) -> list[EpisodeRecord]:
        """Mark the episodes this acknowledgement answers; returns the newly acknowledged.

        ``at_ms`` is when the acknowledgement was said, ``said_by_ms`` when the utterance
        ended: an episode that started no later than ``ACK_LEAD_MS`` after that and no
        more than ``ack_window_ms`` before ``at_ms`` is acknowledged.  ``episode_ids``
        restricts it to those episodes.
        """
        newly = []
        for rec in self._episodes.values():
            if rec.acknowledged or (episode_ids is not None and rec.episode_id not in episode_ids):
                continue
            if (
                rec.start_ms - ACK_LEAD_MS <= said_by_ms
                and at_ms - rec.start_ms <= self._ack_window_ms
            ):
                rec.ack_ms = max(at_ms, rec.start_ms)
                rec.ack_source = source
                rec.ack_phrase = phrase
                newly.append(rec)
        return newly

    def episodes(self) -> list[EpisodeRecord]:
        return list(self._episodes.values())

    def open_episodes(self) -> list[EpisodeRecord]:
        return [rec for rec in self._episodes.values() if rec.is_open]

    def current(self) -> EpisodeRecord | None:
        """The most recently started episode that is still open."""
        for rec in reversed(self._episodes.values()):
            if rec.is_open:
                return rec
        return None

    def summary(self) -> tuple[int, int, tuple[int, ...]]:
        """(episodes, acknowledged, ack latencies in episode order)."""
        latencies = tuple(
            rec.ack_latency_ms for rec in self._episodes.values() if rec.ack_latency_ms is not None
        )
        return len(self._episodes), len(latencies), latencies

    def score(self, *, call_id: str, t_ms: int) -> EmpathyScore:
        episodes, acknowledged, latencies = self.summary()
        return EmpathyScore(
            call_id=call_id,
            t_ms=t_ms,
            episodes=episodes,
            acknowledged=acknowledged,
            ack_latency_ms=latencies,
        )
