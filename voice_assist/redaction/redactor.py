"""One call's transcript redactor: final and partial transcripts in, redacted ones out.

Numbers read in pieces.  A customer often reads a card number in groups with pauses
("4472 1234" ... "5678 9010 ..."), and the VAD makes each group its own utterance, so
no single final holds the whole number.  Each leg therefore keeps a small carry-over
state:

* a final that *ends* in a run of at least :data:`HOLD_MIN_DIGITS` digits (fewer than
  13) that no category but ``long_number`` took is **held back**, not published, until
  the next final of its leg arrives; the two are then detected as one word sequence,
  so the groups join into one run and a card number across them is redacted in both.
  A held final is released
  (redacted as it stands) once its leg has been quiet for ``carry_gap_ms`` with no
  utterance open, after ``carry_max_hold_ms`` in any case, when :data:`MAX_HELD_FINALS`
  are waiting, and at the end of the call;
* the words of the digit run that ended the last *released* final are kept (at most
  :data:`CARRY_MAX_WORDS`) and put in front of the next final of the leg when it starts
  within ``carry_gap_ms``: a run that continues across the boundary is classified as a
  whole (the earlier part is already out, redacted or not, and cannot change);
* neither joins across a keyword said in between on either leg ("And the expiry
  date?"): the digits after it answer that question.

Keywords and card numbers found in released finals go to the call's
:class:`~.context.CallContext` (both legs), which the next finals and partials are read
against.  Partials are redacted with the same detector and, in addition, every run of
``partial_min_digits`` digits or more is blanked.  Nothing here does I/O or logs
transcript text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from voice_assist.config import RedactionOptions
from voice_assist.events import CHANNELS, TranscriptEvent, Word
from voice_assist.redaction.context import CallContext
from voice_assist.redaction.detect import CARD_MIN_DIGITS, Detection, detect
from voice_assist.redaction.numbers import digit_runs
from voice_assist.redaction.redact import (
    join_words,
    redact_partial,
    redact_text,
    redact_words,
    same_text,
)
from voice_assist.redaction.spans import AudioSpan, Span

HOLD_MIN_DIGITS = 3
MAX_HELD_FINALS = 4
CARRY_MAX_WORDS = 40
AUDIO_REACH_MS = 3000
PCI_CATEGORIES = frozenset({"card", "expiry", "cvv", "long_number"})
"""What is, or may be (a long number: a card the ASR got wrong), payment card data."""


@dataclass(frozen=True, slots=True)
class Redacted:
    """A transcript event ready to publish, and the spans that were redacted in it
    (word indices of the *original* event's words; times in media ms)."""

    event: TranscriptEvent
    spans: tuple[Span, ...] = ()
    timeless: bool = False
    """The spans have no word times (a final without words): the audio of the whole
    utterance stands for them."""
    audio: tuple[AudioSpan, ...] = ()
    """What of the leg to silence in the archive.  A span reaches back to the word
    before it (or, at the start of the final, the end of the leg's previous final) and
    on to the word after it (or the end of the final); a card number, expiry date, CVV
    or long number (:data:`PCI_CATEGORIES`) to the whole sentence around it, and on to
    the end of the final when more digits follow; never more than :data:`AUDIO_REACH_MS`
    either way.  So digits that the ASR heard as other words, or
    left out, next to a card number are muted too."""
    trailing_pci: bool = False
    """The final ends in one of :data:`PCI_CATEGORIES`: the speech right after it
    may be more of it (see :meth:`~.audio.AudioGate.mute_after`)."""


@dataclass(slots=True)
class _Leg:
    held: list[TranscriptEvent] = field(default_factory=list)
    carry: tuple[Word, ...] = ()
    last_end_ms: int = 0
    """End of the leg's last released final."""


class CallRedactor:
    """Redacts one call's transcripts (see the module docstring)."""

    def __init__(self, options: RedactionOptions) -> None:
        self.options = options
        self.context = CallContext(
            window_ms=options.context_window_ms, near_card_ms=options.near_card_ms
        )
        self._legs: dict[str, _Leg] = {ch: _Leg() for ch in CHANNELS}

    @property
    def enabled(self) -> bool:
        return self.options.enabled and bool(self.options.categories)

    def on_transcript(self, event: TranscriptEvent) -> list[Redacted]:
        """What to publish now for ``event``: nothing (held back), it, or earlier held
        finals of its leg followed by it."""
        if not self.enabled:
            return [Redacted(event)]
        if not event.is_final:
            return [Redacted(redact_partial(event, options=self.options, memory=self.context))]
        leg = self._legs[event.channel]
        if not event.words:
            out = [*self._release(leg), self._timeless(event)]
            leg.last_end_ms = max(leg.last_end_ms, event.end_ms)
            return out
        released: list[Redacted] = []
        if leg.held and self.context.mention_between(leg.held[-1].end_ms, event.start_ms):
            released = self._release(leg)  # a new question came between: a new number
        window = [*leg.held, event]
        found = self._detect(leg, window)
        if self._should_hold(leg, found):
            leg.held.append(event)
            return released
        return released + self._commit(leg, window, found)

    def due(
        self, channel: str, *, received_ms: int, idle: bool, final: bool = False
    ) -> list[Redacted]:
        """Held finals of ``channel`` whose wait is over (see the module docstring).

        ``received_ms``: the leg's audio so far; ``idle``: no utterance open and no final
        pending on the leg; ``final``: the call is ending.
        """
        leg = self._legs.get(channel)
        if leg is None or not leg.held:
            return []
        quiet_ms = received_ms - leg.held[-1].end_ms
        waited_ms = received_ms - leg.held[0].end_ms
        if (
            final
            or (idle and quiet_ms >= self.options.carry_gap_ms)
            or waited_ms >= self.options.carry_max_hold_ms
        ):
            return self._release(leg)
        return []

    def held_spans(self, channel: str) -> list[tuple[int, int]]:
        """``(start_ms, end_ms)`` of the finals of ``channel`` held back now."""
        leg = self._legs.get(channel)
        return [(e.start_ms, e.end_ms) for e in leg.held] if leg is not None else []

    def hold_from_ms(self, channel: str) -> int | None:
        """Start of the earliest held final of ``channel``: its audio must wait too."""
        leg = self._legs.get(channel)
        if leg is None or not leg.held:
            return None
        return min(e.start_ms for e in leg.held)

    # -- internals -------------------------------------------------------------------------

    def _release(self, leg: _Leg) -> list[Redacted]:
        if not leg.held:
            return []
        window = list(leg.held)
        return self._commit(leg, window, self._detect(leg, window))

    def _carry(self, leg: _Leg, first: TranscriptEvent) -> tuple[Word, ...]:
        if not leg.carry or not first.words:
            return ()
        end_ms, start_ms = leg.carry[-1].end_ms, first.words[0].start_ms
        if start_ms - end_ms > self.options.carry_gap_ms:
            return ()
        if self.context.mention_between(end_ms, start_ms):
            return ()  # "... 9016." "And the expiry?" "0426": not more of the card
        return leg.carry

    def _detect(self, leg: _Leg, window: Sequence[TranscriptEvent]) -> Detection:
        words = [*self._carry(leg, window[0]), *(w for e in window for w in e.words)]
        return detect(words, options=self.options, memory=self.context)

    def _should_hold(self, leg: _Leg, found: Detection) -> bool:
        tail = found.tail
        return (
            tail is not None
            and found.tail_open
            and HOLD_MIN_DIGITS <= len(tail.digits) < 13
            and len(leg.held) < MAX_HELD_FINALS
        )

    def _commit(
        self, leg: _Leg, window: Sequence[TranscriptEvent], found: Detection
    ) -> list[Redacted]:
        carry = self._carry(leg, window[0])
        offset = len(carry)
        all_words = [*carry, *(w for e in window for w in e.words)]
        out: list[Redacted] = []
        for event in window:
            lo, hi = offset, offset + len(event.words)
            spans = tuple(
                _clip(s, lo, hi, all_words) for s in found.spans if s.start < hi and lo < s.end
            )
            out.append(self._apply(event, spans, leg.last_end_ms))
            leg.last_end_ms = max(leg.last_end_ms, event.end_ms)
            offset = hi
        for kind, end_ms in found.mentions:
            self.context.add_mention(kind, end_ms)
        for span in found.spans:
            if span.category in PCI_CATEGORIES and span.end > len(carry):
                self.context.add_payment(span.end_ms)
        for run, category in found.classified:
            if run.end > len(carry) and (
                (category == "card" and len(run.digits) >= CARD_MIN_DIGITS) or category == "expiry"
            ):
                self.context.add_card(all_words[run.end - 1].end_ms)
        tail = found.tail
        if tail is not None and tail.end - tail.start <= CARRY_MAX_WORDS:
            leg.carry = tuple(all_words[tail.start : tail.end])
        else:
            leg.carry = ()
        leg.held.clear()
        return out

    def _apply(self, event: TranscriptEvent, spans: tuple[Span, ...], after_ms: int) -> Redacted:
        if not spans:
            if same_text(join_words(event.words), event.text):
                return Redacted(event)
            return self._text_fallback(event)
        # the text becomes what the redacted words spell, whatever else it held
        words = redact_words(event.words, spans)
        text = join_words(words)
        audio = tuple(_audio_extent(event, s, after_ms) for s in spans)
        last = spans[-1]
        rest = event.words[last.end :]
        trailing = last.category in PCI_CATEGORIES and (
            all(not _spoken(w.text) for w in rest) or _digits_after(rest, 0)
        )
        return Redacted(
            replace(event, text=text, stable_text=text, words=words),
            spans,
            audio=audio,
            trailing_pci=trailing,
        )

    def _text_fallback(self, event: TranscriptEvent) -> Redacted:
        """The text of a final whose words do not spell it (or that has none)."""
        text, spans = redact_text(
            event.text, options=self.options, memory=self.context, t_ms=event.start_ms
        )
        if not spans and text == event.text:
            return Redacted(event)
        timed = tuple(replace(s, start_ms=event.start_ms, end_ms=event.end_ms) for s in spans)
        # the words do not spell the text: none of them is kept, the whole utterance muted
        words = (Word(text=text, start_ms=event.start_ms, end_ms=event.end_ms, probability=0.0),)
        start = max(self._legs[event.channel].last_end_ms, event.start_ms - AUDIO_REACH_MS)
        return Redacted(
            replace(event, text=text, stable_text=text, words=words if event.words else ()),
            timed,
            timeless=True,
            audio=(
                AudioSpan(
                    channel=event.channel,
                    start_ms=min(start, event.start_ms),
                    end_ms=event.end_ms,
                    words_ms=event.start_ms,
                ),
            ),
        )

    def _timeless(self, event: TranscriptEvent) -> Redacted:
        redacted = self._text_fallback(event)
        if redacted.spans:
            for span in redacted.spans:
                if span.category in PCI_CATEGORIES:
                    self.context.add_payment(event.end_ms)
                if span.category in ("card", "expiry"):
                    self.context.add_card(event.end_ms)
        return redacted


def _audio_extent(event: TranscriptEvent, span: Span, after_ms: int) -> AudioSpan:
    """What of the audio to silence for ``span`` (see :attr:`Redacted.audio`)."""
    words = event.words
    if span.category in PCI_CATEGORIES:
        # the whole sentence around it, within AUDIO_REACH_MS: the ASR may have heard
        # the first digits as words ("it's fine for [CARD]") or not at all
        k = span.start
        while k > 0 and not _ends_sentence(words[k - 1].text):
            k -= 1
        start = words[k - 1].end_ms if k > 0 else after_ms
        start = max(start, span.start_ms - AUDIO_REACH_MS)
        k = span.end
        while k < len(words) and not _ends_sentence(words[k - 1].text):
            k += 1
        if _digits_after(words, k):  # "[CVV]. Time 7 .0.": the rest of it, misheard
            k = len(words)
        end = min(words[k - 1].end_ms if k < len(words) else event.end_ms,
                  span.end_ms + AUDIO_REACH_MS)  # fmt: skip
    else:
        start = words[span.start - 1].end_ms if span.start > 0 else after_ms
        start = max(start, span.start_ms - AUDIO_REACH_MS)
        end = words[span.end].start_ms if span.end < len(words) else event.end_ms
    return AudioSpan(
        channel=event.channel,
        start_ms=min(start, span.start_ms),
        end_ms=max(end, span.end_ms),
        words_ms=span.start_ms,
    )


def _digits_after(words: Sequence[Word], k: int) -> bool:
    """Digits are spoken in ``words[k:]`` (at most the next :data:`CARRY_MAX_WORDS`)."""
    return bool(digit_runs([w.text for w in words[k : k + CARRY_MAX_WORDS]]))


def _spoken(text: str) -> bool:
    """A word that says something (not only punctuation)."""
    return any(c.isalnum() for c in text)


def _ends_sentence(text: str) -> bool:
    return text.rstrip().endswith((".", "?", "!"))


def _clip(span: Span, lo: int, hi: int, words: Sequence[Word]) -> Span:
    """``span`` cut to words ``[lo, hi)`` and re-indexed from ``lo``."""
    start, end = max(span.start, lo), min(span.end, hi)
    return replace(
        span,
        start=start - lo,
        end=end - lo,
        start_ms=min(w.start_ms for w in words[start:end]),
        end_ms=max(w.end_ms for w in words[start:end]),
    )
