"""Helpers of the redaction tests: words with times, transcript events, leak checks."""

from __future__ import annotations

from voice_assist.events import Channel, TranscriptEvent, Word
from voice_assist.redaction.numbers import digit_runs

STEP_MS = 300


def words_of(text: str, *, start_ms: int = 0, step_ms: int = STEP_MS) -> tuple[Word, ...]:
    """Whitespace words of ``text`` as Whisper gives them (no spaces), ``step_ms`` apart."""
    return tuple(
        Word(text=t, start_ms=start_ms + i * step_ms, end_ms=start_ms + i * step_ms + 250,
             probability=0.9)
        for i, t in enumerate(text.split())
    )  # fmt: skip


def final(
    text: str, *, start_ms: int = 0, channel: Channel = "customer", uid: str = "c0"
) -> TranscriptEvent:
    words = words_of(text, start_ms=start_ms)
    end_ms = words[-1].end_ms + 200 if words else start_ms
    return TranscriptEvent(
        call_id="call", t_ms=end_ms, channel=channel, utterance_id=uid, is_final=True,
        text=text, stable_text=text, start_ms=start_ms, end_ms=end_ms, words=words,
    )  # fmt: skip


def partial(text: str, *, stable: str = "", t_ms: int = 1000) -> TranscriptEvent:
    return TranscriptEvent(
        call_id="call", t_ms=t_ms, channel="customer", utterance_id="c9", is_final=False,
        text=text, stable_text=stable, start_ms=0, end_ms=t_ms,
    )  # fmt: skip


def spoken_digits(text: str) -> str:
    """Every digit ``text`` speaks or writes, in order (number words included)."""
    return "".join(r.digits for r in digit_runs(text.split()))


def leaks(text: str, secret: str, *, run: int = 7) -> bool:
    """``text`` still holds ``run`` consecutive digits of ``secret`` (PCI lets a receipt
    show the first six and the last four; seven in a row is a leak)."""
    digits = spoken_digits(text)
    return any(secret[i : i + run] in digits for i in range(len(secret) - run + 1))
