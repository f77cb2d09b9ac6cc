"""Distress words: phrases in the customer's transcript that add evidence, from a data file.

The lexicon (``voice_assist/data/distress_lexicon.toml``) is a list of categories, each
with a ``cause`` tag (used in episode causes, e.g. ``"anger"``, ``"repeat_contact"``,
``"life_event:bereavement"``), a ``weight`` (logit added per match) and ``phrases``.
A phrase is a sequence of words; a word ending in ``*`` matches any word with that prefix
(``frustrat*`` matches "frustrating").  Text and phrases are normalised the same way:
lower case, curly apostrophes straightened, punctuation dropped, and the contractions in
the file's ``[contractions]`` table expanded ("i've" -> "i have").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from voice_assist.config import read_toml
from voice_assist.errors import ConfigError

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_NON_WORD = re.compile(r"[^a-z0-9'*\s-]+")


@dataclass(frozen=True, slots=True)
class LexiconCategory:
    cause: str
    weight: float
    phrases: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class LexiconHit:
    """One phrase found in a transcript."""

    cause: str
    phrase: str
    weight: float
    word_index: int


@dataclass(frozen=True, slots=True)
class Lexicon:
    categories: tuple[LexiconCategory, ...]
    contractions: Mapping[str, str] = field(default_factory=dict)

    def tokens(self, text: str) -> list[str]:
        """Normalised words of ``text`` (contractions expanded)."""
        return normalize(text, self.contractions)

    def match(self, text: str) -> list[LexiconHit]:
        """Every phrase occurrence in ``text``, in order; overlapping phrases of one cause
        count once (the longest wins)."""
        words = self.tokens(text)
        hits: list[LexiconHit] = []
        for cat in self.categories:
            taken: set[int] = set()
            found: list[tuple[int, tuple[str, ...]]] = []
            for phrase in cat.phrases:
                for i in range(len(words) - len(phrase) + 1):
                    if _matches(words, i, phrase):
                        found.append((i, phrase))
            found.sort(key=lambda f: (-len(f[1]), f[0]))
            for i, phrase in found:
                span = set(range(i, i + len(phrase)))
                if span & taken:
                    continue
                taken |= span
                hits.append(
                    LexiconHit(
                        cause=cat.cause, phrase=" ".join(phrase), weight=cat.weight, word_index=i
                    )
                )
        hits.sort(key=lambda h: h.word_index)
        return hits


def _matches(words: list[str], i: int, phrase: tuple[str, ...]) -> bool:
    for k, p in enumerate(phrase):
        w = words[i + k]
        if p.endswith("*"):
            if not w.startswith(p[:-1]):
                return False
        elif w != p:
            return False
    return True


def normalize(text: str, contractions: Mapping[str, str] | None = None) -> list[str]:
    t = text.lower().translate(_APOSTROPHES)
    t = _NON_WORD.sub(" ", t).replace("-", " ")
    out: list[str] = []
    for w in t.split():
        w = w.strip("'")
        if not w:
            continue
        expanded = (contractions or {}).get(w)
        out.extend(expanded.split() if expanded else [w])
    return out


def load_lexicon(path: str | Path) -> Lexicon:
    """Read a lexicon TOML file.

    Raises
    ------
    ConfigError
        Missing file, invalid TOML, or a category without ``cause``/``weight``/``phrases``.
    """
    p = Path(path)
    return lexicon_from_dict(read_toml(p, "distress lexicon"), origin=str(p))


def lexicon_from_dict(data: Mapping[str, object], *, origin: str = "lexicon") -> Lexicon:
    raw_contractions = data.get("contractions", {})
    if not isinstance(raw_contractions, Mapping):
        raise ConfigError(f"{origin}: [contractions] must be a table")
    contractions = {
        str(k).lower().translate(_APOSTROPHES): str(v).lower() for k, v in raw_contractions.items()
    }
    raw = data.get("category", [])
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{origin}: needs at least one [[category]]")
    cats = []
    for i, c in enumerate(raw):
        if not isinstance(c, Mapping):
            raise ConfigError(f"{origin}: category {i} must be a table")
        unknown = set(c) - {"cause", "weight", "phrases", "note"}
        if unknown:
            raise ConfigError(f"{origin}: category {i} has unknown keys {sorted(unknown)}")
        try:
            cause = str(c["cause"])
            weight = float(c["weight"])
            phrases_raw = c["phrases"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{origin}: category {i} needs cause, weight, phrases") from exc
        if not isinstance(phrases_raw, list) or not phrases_raw:
            raise ConfigError(f"{origin}: category {cause!r} needs a non-empty phrases list")
        phrases = tuple(
            tuple(normalize(str(ph), contractions)) for ph in phrases_raw if normalize(str(ph))
        )
        cats.append(LexiconCategory(cause=cause, weight=weight, phrases=phrases))
    return Lexicon(categories=tuple(cats), contractions=contractions)
