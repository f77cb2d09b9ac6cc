"""Acknowledgement detection in the agent's final transcript.

Good acknowledgement names the feeling from the customer's side ("I can see where that
would be extremely frustrating", "that sounds really worrying", "I'm so sorry to hear
that").  :func:`find_acknowledgement` looks for such a phrase in one utterance; it is a
set of small patterns, not a model, so it errs towards the phrasings agents are trained to
use.  "I know how you feel" is deliberately *not* an acknowledgement (see
:mod:`voice_assist.coach.script_lines`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voice_assist.coach.textnorm import normalize

FEELINGS: tuple[str, ...] = (
    "frustrating", "frustrated", "frustration", "annoying", "annoyed", "irritating",
    "worrying", "worried", "worry", "stressful", "stressed", "stress", "upsetting", "upset",
    "difficult", "hard", "tough", "rough", "awful", "terrible", "horrible", "disappointing",
    "disappointed", "confusing", "confused", "inconvenient", "concerning", "concerned",
    "scary", "scared", "frightening", "painful", "overwhelming", "overwhelmed", "exhausting",
    "exhausted", "infuriating", "maddening", "unsettling", "heartbreaking", "distressing",
    "devastating", "devastated", "sad", "anxious", "angry", "let down", "fed up", "unfair",
    "a nightmare", "a pain", "a hassle", "a shock", "shocking", "hurtful", "a lot to deal with",
)  # fmt: skip
"""Feeling words an acknowledgement may name (lower case)."""

_F = "(?:" + "|".join(re.escape(f) for f in sorted(FEELINGS, key=len, reverse=True)) + ")"
_GAP = r"(?:\s+[\w']+){0,3}?\s+"  # up to three filler words: "really", "so", "like a"
_FEELING_RE = re.compile(rf"\b{_F}\b")

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "names_feeling",
        re.compile(
            rf"\b(?:that|this|it|which|all (?:of )?this)"
            rf"(?:'s|\s+is|\s+was|\s+has been|\s+must be|\s+must have been|\s+would be"
            rf"|\s+sounds|\s+sounded|\s+seems|\s+must feel|'d be)"
            rf"(?:{_GAP}|\s+){_F}\b"
        ),
    ),
    (
        "names_feeling",
        re.compile(
            rf"\byou(?:'re|\s+are|\s+were|\s+must be|\s+must feel|\s+must have been|\s+feel"
            rf"|\s+sound|\s+seem|'ve been|\s+have been|'d be|\s+would be)"
            rf"(?:{_GAP}|\s+){_F}\b"
        ),
    ),
    ("names_feeling", re.compile(rf"\bhow (?:really |so |very )?{_F}\b")),
    ("names_feeling", re.compile(rf"\bi(?:'d|\s+would) be (?:\w+\s+)?{_F} too\b")),
    ("names_feeling", re.compile(r"\bwhat a (?:nightmare|pain|hassle|shame|worry)\b")),
    (
        "perspective",
        re.compile(
            r"\bi can (?:really |totally |completely |definitely |certainly )?"
            r"(?:see|understand|tell) (?:where|why|how)\b"
        ),
    ),
    ("perspective", re.compile(r"\bi can (?:only |just |well )?imagine\b")),
    (
        "perspective",
        re.compile(
            r"\bi (?:can )?hear (?:how|that this|that it|that you|your|the frustration)\b"
            r"|\bi hear you\b(?!\s*(?:now|fine|ok|okay|clearly|loud|well|perfectly|again))"
        ),
    ),
    (
        "perspective",
        re.compile(
            r"\bi (?:really |totally |completely |fully |do )?understand (?:why|how) "
            r"(?:you|that|this|it)"
        ),
    ),
    (
        "perspective",
        re.compile(
            r"\bno wonder you(?:'re|\s+are|\s+feel)\b|\bmakes (?:complete |total |perfect )?"
            r"sense (?:that )?you(?:'re|\s+are|\s+feel|'d|\s+would)\b"
        ),
    ),
    (
        "sorry",
        re.compile(
            r"\b(?:i'm|i am)\s+(?:(?:so|very|really|truly|terribly|deeply|awfully)\s+)*sorry"
            r"\s+(?:to hear|for your loss|for what|for everything|about (?:that|this|your|what|the"
            r"|all)|that (?:you|this|it|happened|that)|you(?:'ve|\s+have|'re|\s+are|\s+went"
            r"|\s+had))"
        ),
    ),
    ("sorry", re.compile(r"\b(?:so |very |really |truly )?sorry to hear\b")),
    (
        "sorry",
        re.compile(
            r"\bsorry for your loss\b|\bmy (?:deepest |sincere )?(?:condolences|sympathies)\b"
        ),
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledgement:
    """An acknowledgement found in one utterance.

    ``start``/``end`` are character offsets into the original text; ``feeling`` is the
    feeling word the utterance names, when it names one.
    """

    kind: str
    phrase: str
    start: int
    end: int
    feeling: str | None


def find_acknowledgement(text: str) -> Acknowledgement | None:
    """The earliest acknowledgement in ``text``, or ``None``."""
    norm = normalize(text)
    best: re.Match[str] | None = None
    best_kind = ""
    for kind, pattern in _PATTERNS:
        m = pattern.search(norm)
        if m is not None and (best is None or m.start() < best.start()):
            best, best_kind = m, kind
    if best is None:
        return None
    feeling = _FEELING_RE.search(norm, best.start())
    return Acknowledgement(
        kind=best_kind,
        phrase=text[best.start() : best.end()],
        start=best.start(),
        end=best.end(),
        feeling=feeling.group(0) if feeling else None,
    )


def names_feeling(text: str) -> bool:
    """Whether ``text`` contains one of :data:`FEELINGS`."""
    return _FEELING_RE.search(normalize(text)) is not None
