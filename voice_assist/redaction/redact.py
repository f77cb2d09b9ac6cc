"""Apply spans to transcript words and text: ``[CARD]`` in place of the card number.

A span's words become one placeholder word that keeps the span's times (start of its
first word, end of its last) and the trailing punctuation of its last word, so a
redacted final still lines up with the audio and reads naturally ("my card is [CARD],
thanks").  Text without word timings (partials) is split
on whitespace into timeless pseudo-words and redacted the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from voice_assist.config import RedactionOptions
from voice_assist.events import TranscriptEvent, Word
from voice_assist.redaction.context import CallContext
from voice_assist.redaction.detect import detect
from voice_assist.redaction.emails import unfinished_email
from voice_assist.redaction.numbers import split_word
from voice_assist.redaction.spans import Span

MAX_TEXT_CHARS = 20000
"""Text (a partial, a final without words) is redacted from at most this many characters;
the rest is dropped (it is never shown unredacted)."""
_TOKEN = re.compile(r"\s*\S+")


def redact_words(words: Sequence[Word], spans: Sequence[Span]) -> tuple[Word, ...]:
    """``words`` with each span replaced by one placeholder word (spans sorted, disjoint)."""
    out: list[Word] = []
    i = 0
    for span in spans:
        out.extend(words[i : span.start])
        trail = split_word(words[span.end - 1].text)[2]
        out.append(
            Word(
                text=f"{span.placeholder}{trail}",
                start_ms=span.start_ms,
                end_ms=span.end_ms,
                probability=min(w.probability for w in words[span.start : span.end]),
            )
        )
        i = span.end
    out.extend(words[i:])
    return tuple(out)


def join_words(words: Sequence[Word]) -> str:
    """The text that ``words`` spell (Whisper's words carry no spaces)."""
    return " ".join(t for t in (w.text.strip() for w in words) if t)


def same_text(a: str, b: str) -> bool:
    """Equal up to white space."""
    return a.split() == b.split()


def text_words(text: str, *, t_ms: int) -> list[Word]:
    """Whitespace tokens of ``text`` as words (leading space kept), all at ``t_ms``."""
    return [
        Word(text=m.group(0), start_ms=t_ms, end_ms=t_ms, probability=1.0)
        for m in _TOKEN.finditer(text[:MAX_TEXT_CHARS])
    ]


def redact_text(
    text: str,
    *,
    options: RedactionOptions,
    memory: CallContext | None,
    t_ms: int,
    blank_digits: int = 0,
) -> tuple[str, list[Span]]:
    """``text`` redacted; with ``blank_digits``, any other run of that many digits or more
    is replaced too (``[NUMBER]``).  Returns the text and the spans (pseudo-word indices)."""
    words = text_words(text, t_ms=t_ms)
    found = detect(words, options=options, memory=memory)
    spans = list(found.spans)
    if blank_digits > 0:
        covered = [(s.start, s.end) for s in spans]
        for run in found.runs:
            if len(run.digits) >= blank_digits and not any(
                a < run.end and run.start < b for a, b in covered
            ):
                spans.append(
                    Span(
                        category="long_number",
                        start=run.start,
                        end=run.end,
                        start_ms=t_ms,
                        end_ms=t_ms,
                    )
                )
        spans.sort(key=lambda s: s.start)
    if not spans and len(text) <= MAX_TEXT_CHARS:
        return text, []
    return join_words(redact_words(words, spans)), spans


def redact_partial(
    event: TranscriptEvent, *, options: RedactionOptions, memory: CallContext | None
) -> TranscriptEvent:
    """A partial with its text and stable text redacted, and every digit run of
    ``options.partial_min_digits`` or more blanked (partials are guesses: a card number
    half read is not yet a card number)."""
    blank = options.partial_min_digits
    text, _ = redact_text(
        event.text, options=options, memory=memory, t_ms=event.t_ms, blank_digits=blank
    )
    stable, _ = redact_text(
        event.stable_text, options=options, memory=memory, t_ms=event.t_ms, blank_digits=blank
    )
    text, stable = _blank_unfinished_email(text), _blank_unfinished_email(stable)
    if text == event.text and stable == event.stable_text:
        return event
    return replace(event, text=text, stable_text=stable)


def _blank_unfinished_email(text: str) -> str:
    """An address whose domain is still to come ends the partial as ``[EMAIL]``."""
    words = text.split()
    start = unfinished_email(words)
    if start is None:
        return text
    return " ".join([*words[:start], "[EMAIL]"])
