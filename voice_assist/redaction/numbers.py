"""Spoken numbers in transcript words: runs of digits, however Whisper wrote them.

A number read out digit by digit reaches the transcript in many shapes: ``4472 1234``,
``4-4-7-2``, ``4, 4, 7, 2.``, ``four four seven two``, ``forty-four seventy-two``,
``double four``, ``oh`` for zero, ``+44``, ``04/26``.  :func:`digit_runs` turns a word
sequence into :class:`DigitRun` records (the digits, the words they span, how they
were grouped), so that the detectors reason about digits only.

What is *not* a digit run: amounts and measures as Whisper writes them (``$45``,
``£12.50``, ``1,299``, ``5%``, ``3:30``, ``10am``, ``14th``); they break a run.  Fillers
(``um``, ``uh``, ``dash``) do not.  ``oh`` is a zero only next to other digits and
without the comma of an interjection ("Oh, ..."); the homophones the ASR writes for
digits ("for", "to", "free", "fine", "won", "ate") count only between other digits.

Bounded work: each word is parsed from at most :data:`MAX_WORD_CHARS` characters (a
longer word holding digits counts as one oversize run, which the detectors redact
whole); everything else is a single pass over the words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

MAX_WORD_CHARS = 64
"""Longest word parsed character by character; longer ones are judged by digit count."""
OVERSIZE_MIN_DIGITS = 4
"""An over-long word with at least this many digits is one oversize digit run."""

_EDGE = "\"'()[]{}<>«»“”‘’…,.;:!?¿¡*"
_INTERJECTION_TRAIL = (",", "!", "?")

UNITS = {
    "zero": 0, "nought": 0, "naught": 0, "nil": 0,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
OH_WORDS = frozenset({"oh", "o"})
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
REPEATS = {"double": 2, "triple": 3, "treble": 3}
HOMOPHONES = {"for": "4", "fore": "4", "to": "2", "too": "2", "free": "3", "tree": "3",
              "won": "1", "ate": "8", "fine": "5"}  # fmt: skip
"""Words the ASR writes for a spoken digit; digits only between two other digits."""
FILLERS = frozenset(
    {"um", "umm", "uh", "uhm", "er", "erm", "ah", "eh", "hmm", "mm", "dash", "hyphen", "space"}
)

AtomKind = Literal[
    "digits", "unit", "oh", "teen", "tens", "hundred", "thousand", "repeat",
    "and", "a", "filler", "plus", "letters", "homophone", "break",
]  # fmt: skip

_AMOUNT = re.compile(
    r"^(?:[$£€¥₹]\d[\d,]*(?:\.\d+)?[kmb]?|\d[\d,]*(?:\.\d+)?(?:%|[kmb]|p|pm|am|st|nd|rd|th|s)"
    r"|\d{1,4}\.\d{1,3}|\d{1,2}:\d{2}(?::\d{2})?|\d{1,3}(?:,\d{3})+(?:\.\d+)?)$"
)
_GROUPS = re.compile(r"^\+?\d+(?:[-/.,_]\d+)*$")
_NI_COMPACT = re.compile(r"^([a-z]{2})(\d{6})([a-d]?)$")
_PARTS = re.compile(r"[,;\-–—]+")
_O_DIGITS = re.compile(r"^(?=.*\d)[o\d]{2,}$")


@dataclass(frozen=True, slots=True)
class Atom:
    """One token of a word as far as numbers go."""

    word: int
    kind: AtomKind
    value: str = ""
    """Digits (``digits``), the number as text (words), or letters (``letters``)."""
    sep: str = ""
    """For ``digits`` written in one word: the separator that came before it (``-``, ``/``)."""
    oversize: bool = False


@dataclass(frozen=True, slots=True)
class DigitRun:
    """Digits spoken or written together, over words ``[start, end)``."""

    start: int
    end: int
    digits: str
    groups: tuple[int, ...]
    """Length of each digit group as written or spoken (``4472-12`` -> (4, 2))."""
    seps: str = ""
    """Separators written inside words, in order (a ``/`` marks a date-like form)."""
    plus: bool = False
    """A ``+`` or "plus" right before it (an international phone number)."""
    spoken: bool = False
    """Some digits came from number words."""
    oversize: bool = False

    def __len__(self) -> int:
        return len(self.digits)


def split_word(text: str) -> tuple[str, str, str]:
    """``" 4472,"`` -> ``(" ", "4472", ",")``: leading space, core, trailing punctuation."""
    stripped = text.lstrip()
    lead = text[: len(text) - len(stripped)]
    core = stripped.rstrip()
    end = len(core)
    while end and core[end - 1] in _EDGE:
        end -= 1
    start = 0
    while start < end and core[start] in _EDGE:
        start += 1
    return lead, core[start:end], core[end:]


def fold(text: str) -> str:
    """NFKC, lower case, and every script's decimal digits as ASCII digits."""
    text = unicodedata.normalize("NFKC", text).lower()
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def word_atoms(index: int, text: str) -> list[Atom]:
    """The atoms of one word (see the module docstring)."""
    _, raw, trail = split_word(text)
    if len(raw) > MAX_WORD_CHARS:
        digits = sum(1 for c in raw[: MAX_WORD_CHARS * 64] if c.isdecimal())
        if digits >= OVERSIZE_MIN_DIGITS:
            return [Atom(index, "digits", "9" * min(digits, MAX_WORD_CHARS), oversize=True)]
        return [Atom(index, "break")]
    core = fold(raw)
    lead_sep = ""
    if core[:1] in ("-", "–", "—"):  # Whisper writes "4-4-7-2" read slowly as "4 -4 -7 -2"
        core, lead_sep = core.lstrip("-–—"), "-"
    if not core:
        return [Atom(index, "filler")] if raw or trail else []
    if core in FILLERS:
        return [Atom(index, "filler")]
    if core == "plus":
        return [Atom(index, "plus")]
    if core in ("and", "a"):
        return [Atom(index, "and" if core == "and" else "a")]
    if core in OH_WORDS:
        weak = trail.startswith(_INTERJECTION_TRAIL)
        return [Atom(index, "break" if weak else "oh", "0")]
    if core in HOMOPHONES:
        return [Atom(index, "homophone", HOMOPHONES[core])]
    words = _number_words(index, core)
    if words is not None:
        return words
    if core[0].isdigit() or core[0] in "+$£€¥₹":
        atoms = _numeral_atoms(index, core)
        if lead_sep and atoms and atoms[0].kind == "digits":
            atoms[0] = Atom(index, "digits", atoms[0].value, sep=lead_sep)
        return atoms
    if any(c.isdigit() for c in core) or (len(core) <= MAX_WORD_CHARS and "-" in core):
        return _mixed_atoms(index, core)
    letters = _letter_atoms(index, raw, core)
    if letters is not None:
        return letters
    return [Atom(index, "break")]


def _number_words(index: int, core: str) -> list[Atom] | None:
    parts = core.split("-") if "-" in core else [core]
    atoms: list[Atom] = []
    for part in parts:
        if part in UNITS:
            atoms.append(Atom(index, "unit", str(UNITS[part])))
        elif part in TEENS:
            atoms.append(Atom(index, "teen", str(TEENS[part])))
        elif part in TENS:
            atoms.append(Atom(index, "tens", str(TENS[part])))
        elif part in ("hundred", "thousand"):
            atoms.append(Atom(index, "hundred" if part == "hundred" else "thousand"))
        elif part in REPEATS:
            atoms.append(Atom(index, "repeat", str(REPEATS[part])))
        elif part in OH_WORDS and len(parts) > 1:
            atoms.append(Atom(index, "oh", "0"))
        else:
            return None
    return atoms


def _numeral_atoms(index: int, core: str) -> list[Atom]:
    if _AMOUNT.match(core):
        return [Atom(index, "break")]
    if not _GROUPS.match(core):
        return _mixed_atoms(index, core)
    atoms: list[Atom] = []
    if core.startswith("+"):
        atoms.append(Atom(index, "plus"))
        core = core[1:]
    for match in re.finditer(r"([-/.,_]?)(\d+)", core):
        atoms.append(Atom(index, "digits", match.group(2), sep=match.group(1)))
    return atoms


def _mixed_atoms(index: int, core: str) -> list[Atom]:
    """Letters and digits in one word: a compact UK NI number, parts joined by commas or
    hyphens (``3,7,3,8,i'm``, ``double-o-7``), or digits among letters."""
    ni = _NI_COMPACT.match(core.replace("-", ""))  # "QQ123456C", "X-D732241-C"
    if ni:
        atoms = [Atom(index, "letters", ni.group(1)), Atom(index, "digits", ni.group(2))]
        if ni.group(3):
            atoms.append(Atom(index, "letters", ni.group(3)))
        return atoms
    if _O_DIGITS.match(core):  # "o7", "0o1": an "oh" run into the digits
        return [Atom(index, "digits", core.replace("o", "0"))]
    parts = [p for p in _PARTS.split(core) if p]
    if len(parts) > 1:  # each part has no separator left: one level deep
        return [a for part in parts for a in word_atoms(index, part)]
    digits = "".join(c for c in core if c.isdigit())
    if len(digits) >= OVERSIZE_MIN_DIGITS:
        return [Atom(index, "digits", digits)]
    return [Atom(index, "break")]


def _letter_atoms(index: int, raw: str, core: str) -> list[Atom] | None:
    """Spelled letters (``Q``, ``QQ``, ``C.``): written upper case, or a single letter."""
    if not core.isascii() or not core.isalpha() or len(core) > 2:
        return None
    if len(core) == 1 or raw.isupper():
        return [Atom(index, "letters", core)]
    return None


def atoms_of(words: Sequence[str]) -> list[Atom]:
    out: list[Atom] = []
    for i, text in enumerate(words):
        out.extend(word_atoms(i, text))
    return out


def digit_runs(words: Sequence[str]) -> list[DigitRun]:
    """Every run of digits in ``words`` (word texts, in order), left to right."""
    return runs_from_atoms(atoms_of(words))


# -- number-word grammar -----------------------------------------------------------------------


class _Builder:
    """Collects the digit groups of one run."""

    def __init__(self) -> None:
        self.groups: list[str] = []
        self.words: list[int] = []
        self.seps = ""
        self.plus = False
        self.spoken = False
        self.oversize = False

    def add(self, digits: str, first_word: int, last_word: int, *, spoken: bool) -> None:
        self.groups.append(digits)
        self.words += [first_word, last_word]
        self.spoken = self.spoken or spoken

    def run(self) -> DigitRun | None:
        groups = [g for g in self.groups if g]
        if not groups:
            return None
        return DigitRun(
            start=min(self.words),
            end=max(self.words) + 1,
            digits="".join(groups),
            groups=tuple(len(g) for g in groups),
            seps=self.seps,
            plus=self.plus,
            spoken=self.spoken,
            oversize=self.oversize,
        )


_DIGITISH = frozenset({"digits", "unit", "oh", "teen", "tens", "hundred", "thousand", "repeat"})


def _resolve_homophones(atoms: Sequence[Atom]) -> list[Atom]:
    """Homophones ("for", "to", "free") are digits where a chain of them (fillers aside)
    has digits on both sides ("346 free fine 38"), else words."""
    out = list(atoms)
    i, n = 0, len(out)
    while i < n:
        if out[i].kind != "homophone":
            i += 1
            continue
        j = i
        while j < n and out[j].kind in ("homophone", "filler"):
            j += 1
        k = i - 1
        while k >= 0 and out[k].kind == "filler":
            k -= 1
        inside = k >= 0 and out[k].kind in _DIGITISH and j < n and out[j].kind in _DIGITISH
        for m in range(i, j):
            if out[m].kind == "homophone":
                a = out[m]
                out[m] = Atom(a.word, "unit", a.value) if inside else Atom(a.word, "break")
        i = j
    return out


def runs_from_atoms(atoms: Sequence[Atom]) -> list[DigitRun]:
    atoms = _resolve_homophones(atoms)
    runs: list[DigitRun] = []
    b = _Builder()
    pending_plus = False
    i, n = 0, len(atoms)
    after = _next_non_filler(atoms)

    def close() -> None:
        nonlocal b
        _trim_ohs(b, atoms_used)
        run = b.run()
        if run is not None:
            runs.append(run)
        b = _Builder()
        atoms_used.clear()

    atoms_used: list[Atom] = []
    while i < n:
        a = atoms[i]
        if a.kind in ("filler", "and", "a") and not _continues(atoms, i, after[i]):
            if a.kind != "filler" or not b.groups:
                close()
                pending_plus = False
            i += 1
            continue
        if a.kind in ("filler", "and", "a"):
            i += 1
            continue
        if a.kind == "plus":
            close()
            pending_plus = True
            i += 1
            continue
        if a.kind not in _DIGITISH:
            close()
            pending_plus = False
            i += 1
            continue
        if pending_plus and not b.groups:
            b.plus = True
        pending_plus = False
        i = _consume(atoms, i, b, atoms_used)
    close()
    return runs


def _next_non_filler(atoms: Sequence[Atom]) -> list[int]:
    """For each atom, the index of the first non-filler atom after it (``len`` if none)."""
    out = [len(atoms)] * len(atoms)
    nxt = len(atoms)
    for i in range(len(atoms) - 1, -1, -1):
        out[i] = nxt
        if atoms[i].kind != "filler":
            nxt = i
    return out


def _continues(atoms: Sequence[Atom], i: int, j: int) -> bool:
    """A filler, "and" or "a" at ``i`` sits inside a number (digits follow at ``j``, the
    next atom that is no filler)."""
    kind = atoms[i].kind
    if j >= len(atoms) or atoms[j].kind not in _DIGITISH:
        return False
    if kind == "filler":
        return True
    prev = atoms[i - 1].kind if i else ""
    if kind == "and":  # "four hundred and twelve", "two thousand and five"
        return prev in ("hundred", "thousand")
    return atoms[j].kind in ("hundred", "thousand")  # "a hundred"


def _consume(atoms: Sequence[Atom], i: int, b: _Builder, used: list[Atom]) -> int:
    """Add the number starting at atom ``i`` to ``b``; returns the next atom index."""
    a = atoms[i]
    used.append(a)
    if a.kind == "digits":
        b.add(a.value, a.word, a.word, spoken=False)
        b.seps += a.sep if a.sep in "-/" else ""
        b.oversize = b.oversize or a.oversize
        return i + 1
    if a.kind == "oh":
        b.add("0", a.word, a.word, spoken=True)
        return i + 1
    if a.kind == "repeat":
        nxt = atoms[i + 1] if i + 1 < len(atoms) else None
        if nxt is not None and (
            nxt.kind in ("unit", "oh") or (nxt.kind == "digits" and len(nxt.value) == 1)
        ):
            used.append(nxt)
            b.add(nxt.value * int(a.value), a.word, nxt.word, spoken=True)
            return i + 2
        return i + 1  # "double" alone: nothing
    if a.kind in ("hundred", "thousand"):
        value, j = _cardinal(atoms, i)
        b.add(str(value), a.word, atoms[j - 1].word, spoken=True)
        used.extend(atoms[i:j])
        return j
    # unit / teen / tens: maybe the start of "four hundred ..." / "twelve thousand ..."
    if i + 1 < len(atoms) and atoms[i + 1].kind in ("hundred", "thousand"):
        value, j = _cardinal(atoms, i)
        b.add(str(value), a.word, atoms[j - 1].word, spoken=True)
        used.extend(atoms[i:j])
        return j
    if a.kind == "tens" and i + 1 < len(atoms) and atoms[i + 1].kind == "unit":
        unit = atoms[i + 1]
        if unit.value != "0":
            used.append(unit)
            b.add(str(int(a.value) + int(unit.value)), a.word, unit.word, spoken=True)
            return i + 2
    b.add(a.value, a.word, a.word, spoken=True)
    return i + 1


def _cardinal(atoms: Sequence[Atom], i: int) -> tuple[int, int]:
    """A cardinal with "hundred"/"thousand" from atom ``i``: ``(value, next index)``.

    Grammar (English): ``[below_thousand] thousand [and] [below_thousand]`` or
    ``below_thousand``, where ``below_thousand = [unit|"a"] hundred [and] [below_hundred]
    | below_hundred`` and ``below_hundred = tens [unit] | teen | unit``.
    """
    value, j = _below_thousand(atoms, i)
    if j < len(atoms) and atoms[j].kind == "thousand":
        value = max(value, 1) * 1000
        j += 1
        k = j + 1 if j < len(atoms) and atoms[j].kind == "and" else j
        rest, k2 = _below_thousand(atoms, k)
        if k2 > k:
            value += rest
            j = k2
    return value, max(j, i + 1)


def _below_thousand(atoms: Sequence[Atom], i: int) -> tuple[int, int]:
    value, j = _below_hundred(atoms, i)
    if j < len(atoms) and atoms[j].kind == "hundred" and (j == i or value < 10):
        value = max(value, 1) * 100
        j += 1
        k = j + 1 if j < len(atoms) and atoms[j].kind == "and" else j
        rest, k2 = _below_hundred(atoms, k)
        if k2 > k:
            value += rest
            j = k2
    return value, j


def _below_hundred(atoms: Sequence[Atom], i: int) -> tuple[int, int]:
    if i >= len(atoms):
        return 0, i
    a = atoms[i]
    if a.kind == "tens":
        if i + 1 < len(atoms) and atoms[i + 1].kind == "unit" and atoms[i + 1].value != "0":
            return int(a.value) + int(atoms[i + 1].value), i + 2
        return int(a.value), i + 1
    if a.kind in ("teen", "unit"):
        return int(a.value), i + 1
    return 0, i


def _trim_ohs(b: _Builder, used: list[Atom]) -> None:
    """Drop an "oh" at either end of a run that sits next to written digits, or alone:
    spoken zeros come out of Whisper as ``0`` among numerals; an "oh" there is a word."""
    if not used or not b.groups:
        return
    kinds = [a.kind for a in used]
    if all(k == "oh" for k in kinds):
        b.groups.clear()
        return
    if kinds[0] == "oh" and len(kinds) > 1 and kinds[1] == "digits":
        b.groups.pop(0)
        b.words = b.words[2:]
    if kinds[-1] == "oh" and len(kinds) > 1 and kinds[-2] == "digits":
        b.groups.pop()
        b.words = b.words[:-2]
