"""Robotic script lines in the agent's own words.

Empathy practice warns against lines that sound scripted or that take sides:

``know_how_you_feel``
    "I know how you feel" (you don't; name their feeling instead).
``repeated_understand``
    "I understand" said again and again, or the stock "I understand, Mr. Smith".
``stock_reply``
    a one-word "fantastic" / "perfect" / "great" right after a complaint or while the
    customer is distressed.
``taking_sides``
    sympathy that joins the customer against someone ("I'm angry with them too",
    "they're useless"): empathy is understanding, not joining in.

The pure functions look at one utterance; :class:`ScriptLineDetector` adds the little
state the repetition rule needs.  Which better line to suggest lives in the phrase file.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Literal

from voice_assist.coach.textnorm import normalize, tokens

ScriptKind = Literal["know_how_you_feel", "repeated_understand", "stock_reply", "taking_sides"]
SCRIPT_KINDS: tuple[ScriptKind, ...] = (
    "know_how_you_feel",
    "repeated_understand",
    "stock_reply",
    "taking_sides",
)

_KNOW_HOW = re.compile(
    r"\bi (?:totally |completely |really |absolutely |just )?know (?:exactly |just )?"
    r"(?:how you(?:'re| are)? (?:feel|feeling|must feel)|what you(?:'re| are) going through)\b"
)
_UNDERSTAND = re.compile(
    r"\bi (?:do |totally |completely |fully |really |absolutely |quite )?understand\b"
)
_HONORIFIC_AFTER = re.compile(
    r"\bi (?:do |totally |completely |fully |really |absolutely )?understand\W{0,3}\s*"
    r"(?:mr|mrs|ms|miss|mister|sir|madam|ma'am|maam)\b"
)
_HONORIFIC_BEFORE = re.compile(
    r"\b(?:mr|mrs|ms|miss|mister|sir|madam|ma'am|maam)\b\.?(?:\s+[a-z'-]+)?\W{0,3}\s*"
    r"i (?:do |totally |completely |fully |really )?understand\b"
)
_SIDES = re.compile(
    r"\b(?:i'm|i am|i'd be|i would be|i get|i'm getting|i was)\s+(?:so |really |just |also )?"
    r"(?:angry|furious|mad|livid|annoyed|fed up|cross)\s+(?:with|at)\s+"
    r"(?:them|him|her|those|that|the|our|your|these)\b"
    r"|\b(?:they're|they are|they were|he's|he is|she's|she is|those people are"
    r"|(?:our|the|that|your|those)\s+[a-z]+(?:\s+[a-z]+)?\s+(?:is|are|were|was))\s+"
    r"(?:so |completely |totally |absolutely |just |really |all |such )?"
    r"(?:useless|hopeless|incompetent|idiots|clueless|a joke|stupid|morons|rubbish|the worst"
    r"|a bunch of \w+)\b"
    r"|\bi (?:hate|can't stand|cannot stand) (?:them|him|her|those|that department|that team)\b"
    r"|\bthey (?:always|never) (?:mess|screw|get) (?:things |it |this )?(?:up|wrong)\b"
    r"|\btypical of (?:them|him|her|that lot)\b"
)

STOCK_WORDS: frozenset[str] = frozenset(
    {"fantastic", "perfect", "great", "awesome", "excellent", "wonderful", "brilliant",
     "amazing", "lovely", "super", "cool", "splendid", "marvellous", "marvelous"}
)  # fmt: skip
_STOCK_FILLERS = frozenset(
    {"oh", "ok", "okay", "well", "that's", "thats", "that", "is", "sounds", "so", "um", "uh",
     "right", "alright", "yes", "yeah", "very", "just", "really", "absolutely", "how", "ah",
     "it's", "its"}
)  # fmt: skip

_COMPLAINT = re.compile(
    r"\b(?:not working|doesn't work|does not work|didn't work|won't|wont|still|again"
    r"|(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th)) time|ridiculous|unacceptable|terrible"
    r"|awful|useless|problem|issue|broken|wrong|overcharged|charged|cancel|complain"
    r"|frustrat\w*|angry|upset|annoyed|fed up|sick of|tired of|waited|waiting|hours|nobody"
    r"|no one|never|passed away|died|lost my|disappointed|worst|hung up|cut off|refund|mess"
    r"|can't believe|cannot believe|joke|disgrace|disgusting|furious|shocking)\b"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptLine:
    """A script line found in one agent utterance; ``phrase`` is the words that matched."""

    kind: ScriptKind
    phrase: str


def find_know_how_you_feel(text: str) -> str | None:
    """The "I know how you feel" phrase in ``text``, or ``None``."""
    m = _KNOW_HOW.search(normalize(text))
    return text[m.start() : m.end()] if m else None


def count_i_understand(text: str) -> int:
    """How many times ``text`` says "I understand" ("I don't understand" does not count)."""
    return len(_UNDERSTAND.findall(normalize(text)))


def understand_with_honorific(text: str) -> str | None:
    """The stock "I understand, Mr. Smith" (or "Sir, I understand") in ``text``, or ``None``."""
    norm = normalize(text)
    m = _HONORIFIC_AFTER.search(norm) or _HONORIFIC_BEFORE.search(norm)
    return text[m.start() : m.end()] if m else None


def stock_reply_word(text: str) -> str | None:
    """The stock word when ``text`` is nothing but a stock reply ("Fantastic!", "Oh, perfect.")."""
    words = tokens(normalize(text))
    if not words or len(words) > 4:
        return None
    stock = [w for w in words if w in STOCK_WORDS]
    if not stock or any(w not in STOCK_WORDS and w not in _STOCK_FILLERS for w in words):
        return None
    return stock[0]


def find_taking_sides(text: str) -> str | None:
    """Sympathy that sides against someone ("they're useless") in ``text``, or ``None``."""
    m = _SIDES.search(normalize(text))
    return text[m.start() : m.end()] if m else None


def is_complaint(text: str) -> bool:
    """Whether a customer utterance sounds like a complaint (a crude word list)."""
    return _COMPLAINT.search(normalize(text)) is not None


class ScriptLineDetector:
    """Finds script lines in the agent's final utterances, one call at a time.

    Parameters
    ----------
    repeat_window_ms
        Two "I understand" within this many ms are ``repeated_understand``.
    """

    def __init__(self, *, repeat_window_ms: int) -> None:
        self._repeat_window_ms = repeat_window_ms
        self._understand_ms: deque[int] = deque()

    def on_agent_final(
        self, text: str, *, t_ms: int, after_complaint: bool, distressed: bool
    ) -> list[ScriptLine]:
        """Script lines in one final agent utterance said at ``t_ms``.

        ``after_complaint``: the utterance answers a customer complaint (the caller decides
        what "right after" means); ``distressed``: the customer is distressed right now.
        """
        found: list[ScriptLine] = []
        if not text.strip():
            return found
        phrase = find_know_how_you_feel(text)
        if phrase:
            found.append(ScriptLine(kind="know_how_you_feel", phrase=phrase))
        found.extend(self._understand(text, t_ms))
        word = stock_reply_word(text)
        if word and (after_complaint or distressed):
            found.append(ScriptLine(kind="stock_reply", phrase=word))
        phrase = find_taking_sides(text)
        if phrase:
            found.append(ScriptLine(kind="taking_sides", phrase=phrase))
        return found

    def _understand(self, text: str, t_ms: int) -> list[ScriptLine]:
        n = count_i_understand(text)
        if n == 0:
            return []
        honorific = understand_with_honorific(text)
        window = self._understand_ms
        while window and (t_ms - window[0] > self._repeat_window_ms or window[0] > t_ms):
            window.popleft()
        window.extend([t_ms] * n)
        if honorific:
            return [ScriptLine(kind="repeated_understand", phrase=honorific)]
        if len(window) >= 2:
            window.clear()  # one nudge per repetition, then count afresh
            return [ScriptLine(kind="repeated_understand", phrase="I understand")]
        return []
