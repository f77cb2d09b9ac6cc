"""Redaction as a call stage: transcripts redacted at the source, archive audio muted.

:class:`~voice_assist.runtime.stages.Stages` owns one :class:`RedactionStage` per call.
The call session passes every event through :meth:`RedactionStage.redact` before it is
published (sinks, store recorder, bus), and reports each leg's state after new audio
and decodes (:meth:`RedactionStage.settle`), which releases held-back finals and
archive audio.  The archive hook of the store recorder is reached only through
:meth:`RedactionStage.on_audio`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable

import numpy as np

from voice_assist import events as ev
from voice_assist.config import Settings
from voice_assist.logutil import call_logger
from voice_assist.redaction.audio import AudioChunk, AudioGate
from voice_assist.redaction.redactor import AUDIO_REACH_MS, CallRedactor, Redacted

ArchiveHook = Callable[[ev.Channel, np.ndarray], None]

GUARD_EXTRA_MS = 500
"""Beyond the finals' lead-in, end pad and minimum speech: VAD chunking and slack."""
MAX_TRACKED = 64
"""Utterances and finals remembered per leg for :meth:`RedactionStage._mute_unheard`."""


class RedactionStage:
    """One call's redactor and archive audio gate."""

    def __init__(self, *, call_id: str, settings: Settings, archive: ArchiveHook | None) -> None:
        opts = settings.redaction
        asr = settings.asr
        self.redactor = CallRedactor(opts)
        self._archive = archive
        self._log = call_logger(__name__, call_id)
        self.counts: Counter[str] = Counter()
        self._mute_unheard_on = opts.mute_untranscribed
        self._speaking: dict[str, int] = {}
        self._utterances: dict[str, deque[tuple[int, int]]] = {}
        self._finals: dict[str, deque[tuple[int, int]]] = {}
        self.gate: AudioGate | None = None
        if archive is not None and opts.audio and self.redactor.enabled:
            guard_ms = asr.final_lead_in_ms + asr.speech_pad_ms + asr.min_speech_ms
            self.gate = AudioGate(
                margin_ms=opts.audio_margin_ms,
                max_hold_ms=opts.audio_hold_max_ms,
                guard_ms=guard_ms + GUARD_EXTRA_MS,
            )

    def on_audio(self, channel: ev.Channel, samples: np.ndarray) -> None:
        """Audio for the archive: held by the gate, or straight through without one."""
        if self._archive is None:
            return
        if self.gate is None:
            self._archive(channel, samples)
            return
        self._write(self.gate.push(channel, samples))

    def redact(self, event: ev.Event) -> list[ev.Event]:
        """What to publish for ``event`` (transcripts redacted, maybe held back)."""
        if isinstance(event, ev.VoiceActivity):
            self._track(event)
        if not isinstance(event, ev.TranscriptEvent):
            return [event]
        return self._publish(self.redactor.on_transcript(event))

    def settle(
        self, channel: ev.Channel, *, received_ms: int, idle: bool, final: bool = False
    ) -> list[ev.Event]:
        """A leg's state (audio received, idle or not): held finals now due, in order."""
        out = self._publish(
            self.redactor.due(channel, received_ms=received_ms, idle=idle, final=final)
        )
        if self.gate is not None:
            if idle:
                self._mute_unheard(channel)
            released = self.gate.settle(
                channel, idle=idle, hold_from_ms=self.redactor.hold_from_ms(channel), final=final
            )
            self._write(released)
        return out

    def close(self) -> None:
        """Write what the gate still holds; log what was redacted (counts, never text)."""
        if self.gate is not None:
            self._write(self.gate.finish())
            if self.gate.forced_ms:
                self._log.warning(
                    "redaction: %d ms of audio archived as silence (its finals came too late)",
                    self.gate.forced_ms,
                )
            if self.counts["untranscribed"]:
                self._log.info(
                    "redaction: %d utterances with no words muted during a payment",
                    self.counts["untranscribed"],
                )
            if self.gate.late_spans:
                self._log.warning(
                    "redaction: %d redacted spans could not be muted in the archive "
                    "(audio already written)",
                    self.gate.late_spans,
                )
        spans = {k: v for k, v in self.counts.items() if k != "untranscribed"}
        if spans:
            summary = ", ".join(f"{k} {v}" for k, v in sorted(spans.items()))
            self._log.info("redaction: %s", summary)

    def _track(self, event: ev.VoiceActivity) -> None:
        if event.speaking:
            self._speaking[event.channel] = event.t_ms
        elif event.channel in self._speaking:
            start = self._speaking.pop(event.channel)
            utts = self._utterances.setdefault(event.channel, deque(maxlen=MAX_TRACKED))
            utts.append((start, event.t_ms))

    def _mute_unheard(self, channel: str) -> None:
        """Utterances of an idle leg that no final covers (the ASR gave no words, or threw
        its words away): muted if a payment was being taken then (fail closed)."""
        utts = self._utterances.pop(channel, None)
        if not utts or self.gate is None or not self._mute_unheard_on:
            return
        finals = [*self._finals.get(channel, ()), *self.redactor.held_spans(channel)]
        for start, end in utts:
            heard = any(a < end and start < b for a, b in finals)
            if not heard and self.redactor.context.in_payment(start):
                self.gate.mute(channel, start, end, words_ms=start)
                self.counts["untranscribed"] += 1

    def _publish(self, items: list[Redacted]) -> list[ev.Event]:
        for item in items:
            event = item.event
            if not event.is_final:
                continue
            spans = self._finals.setdefault(event.channel, deque(maxlen=MAX_TRACKED))
            spans.append((event.start_ms, event.end_ms))
            for span in item.spans:
                self.counts[span.category] += 1
            if self.gate is None:
                continue
            first = min((a.start_ms for a in item.audio), default=event.start_ms)
            self.gate.next_final(event.channel, min(first, event.start_ms))
            for audio in item.audio:
                self.gate.mute(event.channel, audio.start_ms, audio.end_ms, words_ms=audio.words_ms)
            if item.trailing_pci:
                self.gate.mute_after(event.channel, event.end_ms, AUDIO_REACH_MS)
            self.gate.covered(event.channel, event.end_ms)
        return [item.event for item in items]

    def _write(self, chunks: list[AudioChunk]) -> None:
        if self._archive is None:
            return
        for chunk in chunks:
            if chunk.channel in ev.CHANNELS:
                self._archive(chunk.channel, chunk.samples)  # type: ignore[arg-type]
