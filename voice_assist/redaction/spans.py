"""What the detectors find: typed spans over a word sequence, and their placeholders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal[
    "card",
    "expiry",
    "cvv",
    "national_id",
    "bank_account",
    "sort_code",
    "email",
    "phone",
    "long_number",
]

PLACEHOLDERS: dict[str, str] = {
    "card": "[CARD]",
    "expiry": "[EXPIRY]",
    "cvv": "[CVV]",
    "national_id": "[NATIONAL_ID]",
    "bank_account": "[ACCOUNT]",
    "sort_code": "[SORT_CODE]",
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "long_number": "[NUMBER]",
}
"""The text that replaces a span of each category in a redacted transcript."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """Words ``[start, end)`` of a word sequence that hold one item of ``category``.

    ``start_ms``/``end_ms`` are the media times of those words (call-relative), so the
    same span can be muted in the audio archive.
    """

    category: Category
    start: int
    end: int
    start_ms: int
    end_ms: int

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.category]


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioSpan:
    """Media time ``[start_ms, end_ms)`` of one leg to be muted in the archive.

    ``words_ms`` is where the redacted words themselves start: the span may reach
    further back (over audio the ASR left untranscribed), and only the words count when
    the audio before them was already written.
    """

    channel: str
    start_ms: int
    end_ms: int
    words_ms: int
