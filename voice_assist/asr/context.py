"""The conversation so far, as Whisper's "previous text" for the next final.

Offline Whisper decodes a recording window after window and prompts each window with
the text before it; a call decoded utterance by utterance loses that, and with it
names, numbers and the topic.  One :class:`ConversationContext` per call collects the
released finals of both legs, in release order, and hands the last words to the next
final decode as its prompt.  Partials are not prompted: they are greedy, replaced a
second later, and a prompt makes them dearer.

A prompt can also mislead Whisper into copying it or saying the utterance twice, so
:func:`suspect_prompted` flags a prompted result that has a run of words twice, or one
from the prompt; the decoder then decodes the utterance again without the prompt (a
person who really said it twice is heard saying it twice there too).
"""

from __future__ import annotations

import re
from collections import deque

_WORD = re.compile(r"[\w']+")

SUSPECT_SPAN_WORDS = 3
"""A prompted result with a run of this many words twice (in itself, or also in the
prompt) is decoded again without the prompt."""


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class ConversationContext:
    """The last words of a call's final transcripts, both legs, oldest first."""

    def __init__(self, max_words: int) -> None:
        self.max_words = max_words
        self._words: deque[str] = deque(maxlen=max(max_words, 1))

    def add(self, text: str) -> None:
        if self.max_words > 0:
            self._words.extend(text.split())

    def prompt(self) -> str:
        return " ".join(self._words) if self.max_words > 0 else ""


def _spans(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def repeats_itself(words: list[str], n: int = SUSPECT_SPAN_WORDS) -> bool:
    """True if some run of ``n`` words occurs twice (a doubled clause, even cut short)."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) < len(grams)


def suspect_prompted(text: str, prompt: str, n: int = SUSPECT_SPAN_WORDS) -> bool:
    """A prompted decode that says itself twice or copies ``n`` words of the prompt."""
    words = _words(text)
    if repeats_itself(words, n):
        return True
    return bool(_spans(words, n) & _spans(_words(prompt), n))
