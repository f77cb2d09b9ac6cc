"""Text normalisation shared by the utterance detectors.

Whisper writes curly apostrophes, mixed case and stray punctuation; the detectors match
on a lower-case text with straight apostrophes and single spaces.  Character offsets of
the normalised text equal those of the input (every substitution is one-for-one), so a
match can be mapped back to the transcript's words.
"""

from __future__ import annotations

import re

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_SPACE = re.compile(r"\s")
_WORD = re.compile(r"[a-z0-9']+")


def normalize(text: str) -> str:
    """Lower-case, straight apostrophes, every whitespace character a plain space.

    The result has the same length as ``text``.
    """
    lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return _SPACE.sub(" ", lowered.translate(_APOSTROPHES))


def tokens(text: str) -> list[str]:
    """Words of a normalised text, without punctuation (apostrophes kept: ``that's``)."""
    return [t.strip("'") for t in _WORD.findall(text) if t.strip("'")]
