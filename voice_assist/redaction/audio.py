"""Archive audio held back until its words are known, and muted where they were redacted.

The archive (``store/archive.py``) writes a call's audio as it arrives, but whether a
stretch of audio holds a card number is known only once the final transcript covering
it is out, 0.5-1 s after the speech ends (later under load, or while a final is held
back for a number read in pieces, see :mod:`.redactor`).  :class:`AudioGate` sits in
front of the archive and keeps each leg's recent audio in memory until then:

* audio of a leg is **settled** up to the end of the last final published for it
  (finals come in utterance order, and the next utterance's audio starts after it), or,
  while the leg is idle (no utterance open, no final pending), up to the audio received
  less ``guard_ms`` (how far back a VAD start and the finals' lead-in can still reach);
* a held-back final keeps the audio from its start;
* audio is released to the archive up to the settled point less ``margin_ms``, on both
  legs together (so the archive's two channels stay aligned), with every redacted span,
  widened by ``margin_ms`` on each side, replaced by silence;
* after a final that ends in a card number, the next seconds of the leg are silenced up
  to where its next final starts (the ASR may have dropped the rest of the number);
* at most ``max_hold_ms`` of a leg waits: older audio is released anyway, and the part
  of it not yet settled is archived as **silence** (fail closed: a card number is never
  written because its final came late).  Counted in :attr:`AudioGate.forced_ms`.

A span whose audio was already released cannot be muted any more (it would take a VAD
start declared more than ``guard_ms`` late); it is counted in
:attr:`AudioGate.late_spans`.  Synchronous, no I/O: the caller writes the released
:class:`AudioChunk` records to the archive.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

RATE_HZ = 16000


@dataclass(frozen=True, slots=True, eq=False)
class AudioChunk:
    """Released audio of one leg: float32 at 16 kHz, the next samples of that leg."""

    channel: str
    samples: np.ndarray


@dataclass(slots=True)
class _LegAudio:
    chunks: deque[np.ndarray] = field(default_factory=deque)
    start: int = 0
    """Leg sample index of the first sample held (everything before it is released)."""
    end: int = 0
    """Samples received."""
    settled: int = 0
    hold_from: int | None = None
    mutes: list[tuple[int, int]] = field(default_factory=list)
    after: list[int] | None = None
    """A provisional mute ``[start, end]`` after a card number (see ``mute_after``)."""


def _samples(ms: int) -> int:
    return int(ms) * RATE_HZ // 1000


class AudioGate:
    """One call's archive audio, per leg (see the module docstring)."""

    def __init__(self, *, margin_ms: int, max_hold_ms: int, guard_ms: int) -> None:
        self.margin = _samples(max(0, margin_ms))
        self.max_hold = _samples(max(1000, max_hold_ms))
        self.guard = _samples(max(0, guard_ms))
        self._legs: dict[str, _LegAudio] = {}
        self.late_spans = 0
        self.forced_samples = 0
        self.muted_samples = 0

    @property
    def forced_ms(self) -> int:
        return self.forced_samples * 1000 // RATE_HZ

    @property
    def held_samples(self) -> int:
        return sum(leg.end - leg.start for leg in self._legs.values())

    # -- input -------------------------------------------------------------------------------

    def push(self, channel: str, samples: np.ndarray) -> list[AudioChunk]:
        """Hold ``samples`` (copied) of ``channel``; returns audio forced out by the bound."""
        x = np.array(samples, dtype=np.float32, copy=True).reshape(-1)
        leg = self._legs.setdefault(channel, _LegAudio())
        if x.size:
            leg.chunks.append(x)
            leg.end += x.size
        return self._release()

    def mute(
        self, channel: str, start_ms: int, end_ms: int, *, words_ms: int | None = None
    ) -> None:
        """Silence ``[start_ms, end_ms)`` of ``channel`` (widened by the margin).

        ``words_ms``: where the redacted words start, when the span reaches further back;
        only audio from there on that is already written counts as a late span.
        """
        leg = self._legs.setdefault(channel, _LegAudio())
        a = max(0, _samples(start_ms) - self.margin)
        b = _samples(end_ms) + self.margin
        if b <= a:
            return
        if a < leg.start:
            if _samples(start_ms if words_ms is None else words_ms) < leg.start:
                self.late_spans += 1
            a = leg.start
            if b <= a:
                return
        leg.mutes.append((a, b))

    def mute_after(self, channel: str, start_ms: int, reach_ms: int) -> None:
        """Silence up to ``reach_ms`` after ``start_ms`` (the end of a final that ended in
        a card number), up to where the leg's next final starts (:meth:`next_final`):
        the speech there may be more digits that the ASR dropped without a trace."""
        leg = self._legs.setdefault(channel, _LegAudio())
        self._flush_after(leg)
        leg.after = [max(_samples(start_ms), leg.start), _samples(start_ms + reach_ms)]

    def next_final(self, channel: str, start_ms: int) -> None:
        """A final of ``channel`` whose audio starts at ``start_ms`` is out."""
        leg = self._legs.setdefault(channel, _LegAudio())
        if leg.after is not None:
            leg.after[1] = min(leg.after[1], _samples(start_ms))
            self._flush_after(leg)

    def _flush_after(self, leg: _LegAudio) -> None:
        if leg.after is not None and leg.after[1] > leg.after[0]:
            leg.mutes.append((leg.after[0], leg.after[1]))
        leg.after = None

    def covered(self, channel: str, end_ms: int) -> None:
        """A final of ``channel`` ending at ``end_ms`` is out: its audio is settled."""
        leg = self._legs.setdefault(channel, _LegAudio())
        leg.settled = max(leg.settled, _samples(end_ms))

    def settle(
        self, channel: str, *, idle: bool, hold_from_ms: int | None, final: bool = False
    ) -> list[AudioChunk]:
        """The leg's state after new audio or a decode: returns audio now released.

        ``idle``: no utterance open and no final pending on the leg; ``hold_from_ms``:
        start of a final held back on it; ``final``: no more audio will come.
        """
        leg = self._legs.setdefault(channel, _LegAudio())
        if idle:
            reach = 0 if final else self.guard
            leg.settled = max(leg.settled, leg.end - reach)
        leg.hold_from = None if hold_from_ms is None else _samples(hold_from_ms)
        return self._release()

    def finish(self) -> list[AudioChunk]:
        """Everything still held (unsettled audio as silence)."""
        return self._release(finish=True)

    # -- release -----------------------------------------------------------------------------

    def _limit(self, leg: _LegAudio, *, finish: bool) -> int:
        limit = leg.settled
        if leg.hold_from is not None:
            limit = min(limit, leg.hold_from)
        if not finish:
            limit -= self.margin
        return min(max(limit, leg.start), leg.end)

    def _release(self, *, finish: bool = False) -> list[AudioChunk]:
        active = [leg for leg in self._legs.values() if leg.end > 0]
        if not active:
            return []
        limits = {id(leg): self._limit(leg, finish=finish) for leg in active}
        top = max(leg.end for leg in active)
        point = top if finish else max(min(limits.values()), top - self.max_hold)
        out: list[AudioChunk] = []
        for channel, leg in self._legs.items():
            upto = min(point, leg.end)
            if upto <= leg.start:
                continue
            x = self._take(leg, upto - leg.start)
            limit = limits.get(id(leg), leg.start)
            if upto > limit:  # not settled: fail closed
                x[max(limit, leg.start) - leg.start :] = 0.0
                self.forced_samples += upto - max(limit, leg.start)
            self._apply_mutes(leg, x)
            leg.start = upto
            out.append(AudioChunk(channel, x))
        return out

    def _take(self, leg: _LegAudio, n: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        need = n
        while need > 0:
            head = leg.chunks[0]
            if head.size <= need:
                parts.append(leg.chunks.popleft())
                need -= head.size
            else:
                parts.append(head[:need])
                leg.chunks[0] = head[need:]
                need = 0
        return np.concatenate(parts) if len(parts) > 1 else parts[0].copy()

    def _apply_mutes(self, leg: _LegAudio, x: np.ndarray) -> None:
        lo, hi = leg.start, leg.start + x.size
        kept: list[tuple[int, int]] = []
        for a, b in leg.mutes:
            self._zero(x, lo, hi, a, b)
            if b > hi:
                kept.append((a, b))
        leg.mutes = kept
        if leg.after is not None:
            self._zero(x, lo, hi, leg.after[0], leg.after[1])

    def _zero(self, x: np.ndarray, lo: int, hi: int, a: int, b: int) -> None:
        if a < hi and lo < b:
            s, e = max(a, lo) - lo, min(b, hi) - lo
            self.muted_samples += e - s
            x[s:e] = 0.0
