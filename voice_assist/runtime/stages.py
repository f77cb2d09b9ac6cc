"""The per-call analysis stages after ASR: prosody per leg, customer distress, the coach.

:class:`Stages` owns the synchronous cores of one call and knows which events each
consumes; :class:`~voice_assist.runtime.session.CallSession` routes every event
through :meth:`Stages.consume` and publishes what comes back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from voice_assist import events as ev
from voice_assist.coach.coach import Coach
from voice_assist.coach.phrases import PhraseLibrary, load_phrases
from voice_assist.config import Settings
from voice_assist.distress.estimator import DistressEstimator
from voice_assist.distress.lexicon import Lexicon, load_lexicon
from voice_assist.prosody.tracker import ProsodyTracker
from voice_assist.redaction.stage import RedactionStage

AudioHook = Callable[[ev.Channel, np.ndarray], None]
CloseHook = Callable[[str], None]

_COACH_INPUTS = (
    ev.TranscriptEvent,
    ev.VoiceActivity,
    ev.DistressUpdate,
    ev.DistressEpisode,
    ev.PromptAck,
)


class SharedData:
    """Data files loaded once per process (lexicon, phrase library)."""

    def __init__(self, settings: Settings) -> None:
        self.lexicon: Lexicon = load_lexicon(settings.project_path(settings.distress.lexicon_path))
        self.phrases: PhraseLibrary = load_phrases(
            settings.project_path(settings.coach.phrases_path)
        )


class Stages:
    def __init__(
        self,
        *,
        call_id: str,
        settings: Settings,
        shared: SharedData,
        on_audio: AudioHook | None = None,
        on_close: CloseHook | None = None,
        mixed_leg: bool = False,
    ) -> None:
        self.prosody_trackers = {
            ch: ProsodyTracker(call_id=call_id, channel=ch, options=settings.prosody)
            for ch in ev.CHANNELS
        }
        self.distress = DistressEstimator(
            call_id=call_id, options=settings.distress, lexicon=shared.lexicon
        )
        self.coach = Coach(
            call_id=call_id, options=settings.coach, phrases=shared.phrases, mixed_leg=mixed_leg
        )
        # transcripts are redacted, and archive audio muted, before anyone sees them
        self.redaction = RedactionStage(call_id=call_id, settings=settings, archive=on_audio)
        self._on_audio = None if on_audio is None else self.redaction.on_audio
        self._on_close = on_close

    def on_audio(self, channel: ev.Channel, samples: np.ndarray) -> None:
        if self._on_audio is not None:
            self._on_audio(channel, samples)

    def prosody(self, channel: ev.Channel, samples: np.ndarray) -> list[ev.ProsodyFrame]:
        return self.prosody_trackers[channel].feed(samples)

    def prosody_finish(self, channel: ev.Channel) -> list[ev.ProsodyFrame]:
        return self.prosody_trackers[channel].finish()

    def redact(self, event: ev.Event) -> list[ev.Event]:
        """What to publish for ``event``: transcripts redacted (or held back a moment)."""
        return self.redaction.redact(event)

    def settle(
        self, channel: ev.Channel, *, received_ms: int, idle: bool, final: bool = False
    ) -> list[ev.Event]:
        """A leg's state after audio or a decode: held-back finals now due."""
        return self.redaction.settle(channel, received_ms=received_ms, idle=idle, final=final)

    def consume(self, event: ev.Event) -> list[ev.Event]:
        out: list[ev.Event] = []
        if isinstance(event, ev.ProsodyFrame) and event.channel == "customer":
            out += self.distress.on_prosody(event)
        elif (
            isinstance(event, ev.TranscriptEvent) and event.channel == "customer" and event.is_final
        ):
            out += self.distress.on_transcript(event)
        if isinstance(event, _COACH_INPUTS):
            out += self.coach.on_event(event)
        return out

    def tick(self, t_ms: int) -> list[ev.Event]:
        return self.coach.tick(t_ms)

    def finish_distress(self, t_ms: int) -> list[ev.Event]:
        """Close an open episode; route these (the coach consumes them) before finish_coach."""
        return self.distress.finish(t_ms)

    def finish_coach(self, t_ms: int) -> list[ev.Event]:
        return self.coach.finish(t_ms)

    def close(self, reason: str) -> None:
        self.redaction.close()
        if self._on_close is not None:
            self._on_close(reason)
