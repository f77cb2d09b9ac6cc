"""The redaction stage of a call: transcripts, VAD events and archive audio together."""

from __future__ import annotations

import numpy as np
from redaction_util import final

from voice_assist import events as ev
from voice_assist.config import Settings
from voice_assist.redaction.stage import RedactionStage

SR = 16000


class Archive:
    """What the store recorder would be given (one array per call per leg)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {"customer": [], "agent": []}

    def __call__(self, channel: ev.Channel, samples: np.ndarray) -> None:
        self.parts[channel].append(np.array(samples, copy=True))

    def leg(self, channel: str) -> np.ndarray:
        return np.concatenate(self.parts[channel])


def vad(t_ms: int, speaking: bool) -> ev.VoiceActivity:
    return ev.VoiceActivity(call_id="call", t_ms=t_ms, channel="customer", speaking=speaking)


def test_speech_with_no_words_during_a_payment_is_muted() -> None:
    archive = Archive()
    stage = RedactionStage(call_id="call", settings=Settings(), archive=archive)
    stage.on_audio("customer", np.full(20 * SR, 0.1, np.float32))
    stage.on_audio("agent", np.full(20 * SR, 0.1, np.float32))
    card = final("my card number is 4472 1234 5678 9016 thanks", start_ms=1000)
    stage.redact(vad(900, True))
    (out,) = stage.redact(card)
    assert isinstance(out, ev.TranscriptEvent) and "[CARD]" in out.text
    stage.redact(vad(card.end_ms, False))
    stage.settle("customer", received_ms=6000, idle=True)
    # then speech the ASR gave nothing for (its decode was thrown away) ...
    stage.redact(vad(7000, True))
    stage.redact(vad(9000, False))
    stage.settle("customer", received_ms=12_000, idle=True)
    # ... and, long after the payment, more of it: kept
    stage.redact(vad(50_000, True))
    stage.redact(vad(52_000, False))
    stage.settle("customer", received_ms=20_000, idle=True, final=True)
    stage.close()
    x = archive.leg("customer")
    assert len(x) == 20 * SR and len(archive.leg("agent")) == 20 * SR
    assert not x[7 * SR : 9 * SR].any()  # no words, during the payment: silence
    assert x[13 * SR : 20 * SR].all()  # the rest of the call is kept
    assert stage.counts["untranscribed"] == 1 and stage.counts["card"] == 1


def test_without_an_archive_nothing_is_held() -> None:
    stage = RedactionStage(call_id="call", settings=Settings(), archive=None)
    assert stage.gate is None
    stage.on_audio("customer", np.ones(SR, np.float32))
    (out,) = stage.redact(final("it's 4472 1234 5678 9016"))
    assert isinstance(out, ev.TranscriptEvent) and out.text == "it's [CARD]"
    stage.close()
