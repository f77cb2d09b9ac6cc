"""Find card numbers, expiry dates, security codes, national ids, bank details, emails and
phone numbers in a sequence of transcript words.

:func:`detect` is synchronous, free of I/O and linear in the number of words (each word
parsed from a bounded prefix, see :mod:`.numbers`).  Digits are classified by their
count, shape and context (the rules of :func:`classify`, strongest first):

* **card**: 13-19 digits passing the Luhn check (whatever the context); 4 or more digits
  after a card keyword ("card number", "visa", "long number"); 16-23 digits of any kind
  (a card number that the ASR got one digit wrong); 13-23 digits in runs at most one
  word apart (a card that the ASR broke with a misheard word).
* **expiry** / **cvv**: a date-like run (``04/26``, "oh four twenty six", "April
  twenty six") or 3-4 digits, after an expiry / security-code keyword or within
  ``near_card_ms`` of a whole card number (:data:`CARD_MIN_DIGITS`).
* **national_id**: a UK NI number (two letters, six digits, a letter), a US SSN
  (``123-45-6789``, or nine digits after "social security"), or 4-12 digits after an id
  keyword; **sort_code**: ``12-34-56`` or 4-10 digits after "sort code" or "routing
  number"; **bank_account**: 4-18 digits after "account" (after a keyword from four
  digits: the ASR drops and merges spoken digits).
* **phone**: a "+"/"plus" number, UK (``07700 900123``) and North American shapes, or
  7-15 digits after a phone keyword.
* **long_number**: any other run of ``long_number_min_digits`` or more.

Amounts, times and ordinals never form a run (:mod:`.numbers`); a run followed by a unit
("pounds", "times", "minutes") or a year after "in"/"since" is never redacted (unless it
is a Luhn-valid card number, or an expiry after an expiry keyword).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from voice_assist.config import RedactionOptions
from voice_assist.events import Word
from voice_assist.redaction.context import CallContext, ContextKind, Mention, find_mentions
from voice_assist.redaction.emails import find_emails
from voice_assist.redaction.numbers import (
    MAX_WORD_CHARS,
    DigitRun,
    atoms_of,
    fold,
    runs_from_atoms,
    split_word,
)
from voice_assist.redaction.spans import Category, Span

MAX_LUHN_DIGITS = 19
BROKEN_CARD_DIGITS = (13, 23)
CARD_MIN_DIGITS = 12
"""A card span this long counts as a whole card number (expiry and CVV may follow)."""
QUANTITY_MAX_DIGITS = 6
"""A run followed by a unit ("pounds", "times") is a quantity only this short: longer
ones are redacted whatever follows them."""
AFTER_MENTION_WORDS = 5
"""A keyword this many words after a run ("... 9010 is my card number") also counts."""

UNIT_WORDS = frozenset(
    [
        "pounds",
        "pound",
        "dollars",
        "dollar",
        "euros",
        "euro",
        "quid",
        "bucks",
        "cents",
        "cent",
        "pence",
        "p",
        "percent",
        "per",
        "minutes",
        "minute",
        "mins",
        "hours",
        "hour",
        "hrs",
        "days",
        "day",
        "weeks",
        "week",
        "months",
        "month",
        "years",
        "year",
        "times",
        "o'clock",
        "am",
        "pm",
        "gb",
        "mb",
        "kg",
        "kilos",
        "miles",
        "km",
        "seconds",
        "second",
        "calls",
        "texts",
        "items",
        "people",
        "pounds.",
        "degrees",
        "grand",
        "k",
    ]
)
YEAR_LEAD = frozenset(
    [
        "in",
        "since",
        "from",
        "until",
        "till",
        "by",
        "of",
        "before",
        "after",
        "back",
        "during",
        "around",
        "year",
        "'til",
    ]
)
MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of payment card numbers."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(digits: str) -> str:
    """The digit that makes ``digits`` + it pass :func:`luhn_valid`."""
    return next(str(x) for x in range(10) if luhn_valid(digits + str(x)))


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What :func:`classify` knows about one digit run."""

    run: DigitRun
    kind: ContextKind | None = None
    """The latest keyword before the run (within the context window), if any."""
    near_card: bool = False
    quantity: bool = False
    year: bool = False
    month_before: bool = False
    ni_letters: bool = False


def classify(facts: RunFacts, *, long_min: int) -> tuple[Category, ...]:
    """Categories for one run, preferred first (the first enabled one is used)."""
    run, kind = facts.run, facts.kind
    d = run.digits
    n = len(d)
    tail: tuple[Category, ...] = ("long_number",) if n >= long_min else ()
    if run.oversize or n > 23:
        return ("long_number", "card")
    luhn_card = 13 <= n <= MAX_LUHN_DIGITS and luhn_valid(d)
    if facts.quantity:
        return ("card",) if luhn_card else ()
    if facts.ni_letters:
        return ("national_id", *tail)
    if facts.year and not facts.month_before:
        return ("expiry",) if kind == "expiry" else ()
    if kind == "phone" and 7 <= n <= 15:
        return ("phone", *tail)
    if run.plus and 8 <= n <= 15:
        return ("phone", *tail)
    if luhn_card:
        return ("card", *tail)
    date = _date_like(run) or facts.month_before
    if facts.near_card and n in (3, 4) and kind in (None, "card", "expiry", "cvv"):
        if kind == "expiry" or (kind != "cvv" and date and (n == 4 or "/" in run.seps)):
            return ("expiry", *tail)
        return ("cvv", *tail)
    if kind == "card" and n >= 4:
        return ("card", *tail)
    if kind == "expiry" and (date or n in (2, 4)):
        return ("expiry", *tail)
    if kind == "cvv" and n in (3, 4):
        return ("cvv", *tail)
    # after their keyword, from four digits: the ASR drops and merges spoken digits
    if kind == "national_id" and 4 <= n <= 12:
        return ("national_id", *tail)
    if kind == "sort_code" and 4 <= n <= 10:
        return ("sort_code", *tail)
    if kind == "bank_account" and 4 <= n <= 18:
        return ("bank_account", *tail)
    if n == 9 and run.groups == (3, 2, 4):
        return ("national_id", *tail)
    if n == 6 and run.groups == (2, 2, 2) and run.seps == "--":
        return ("sort_code", *tail)
    if facts.near_card and date and n == 6 and kind in (None, "card", "expiry"):
        return ("expiry", *tail)
    if _phone_shape(d):
        return ("phone", *tail)
    if 16 <= n <= 23:
        return ("card", *tail)
    return tail


def _date_like(run: DigitRun) -> bool:
    d = run.digits
    if "/" in run.seps and 3 <= len(d) <= 6:
        return True
    if len(d) == 4:
        return 1 <= int(d[:2]) <= 12
    if len(d) == 3:
        return d[0] != "0"
    if len(d) == 6:
        return 1 <= int(d[:2]) <= 12 and d[2:4] in ("19", "20")
    return False


def _phone_shape(d: str) -> bool:
    n = len(d)
    if n in (10, 11) and d[0] == "0":
        return True  # UK: 07700 900123, 020 7946 0018
    if n == 10 and d[0] in "23456789":
        return True  # North America: (415) 555-0132
    if n == 11 and d[0] == "1" and d[1] in "23456789":
        return True
    return n == 12 and d.startswith("44")


@dataclass(slots=True)
class Detection:
    """What one :func:`detect` call found: spans, and what it learnt for the call."""

    spans: list[Span] = field(default_factory=list)
    mentions: list[tuple[ContextKind, int]] = field(default_factory=list)
    """Keywords seen, with the media time their last word ends."""
    runs: list[DigitRun] = field(default_factory=list)
    classified: list[tuple[DigitRun, Category]] = field(default_factory=list)
    """The runs that a category took, with it."""
    tail: DigitRun | None = None
    """The last run, when it ends the sequence (only fillers or punctuation after it)."""
    tail_open: bool = False
    """No category but ``long_number`` took :attr:`tail` (and it is no year or amount):
    it may be the first part of a card number read out in pieces."""


def detect(
    words: Sequence[Word],
    *,
    options: RedactionOptions,
    memory: CallContext | None = None,
) -> Detection:
    """Spans of ``words`` to redact (enabled categories only), left to right."""
    texts = [w.text for w in words]
    cores = [fold(split_word(t[: MAX_WORD_CHARS * 2])[1]) for t in texts]
    enabled = set(options.categories) if options.enabled else set()
    out = Detection()
    mentions = find_mentions(cores)
    out.mentions = [(m.kind, words[m.end - 1].end_ms) for m in mentions]
    spans: list[Span] = []
    if "email" in enabled:
        for start, end in find_emails(texts):
            spans.append(_span("email", words, start, end))
    runs = runs_from_atoms(atoms_of(texts))
    out.runs = runs
    last_card_ms: int | None = None
    plain: list[DigitRun] = []  # runs that may be pieces of a card (no year, no amount)
    m = 0  # mentions[:m] end before the current run
    for run in runs:
        while m < len(mentions) and mentions[m].end <= run.start:
            m += 1
        before = mentions[m - 1] if m else None
        after = next(
            (x for x in mentions[m : m + 3] if run.end <= x.start <= run.end + AFTER_MENTION_WORDS),
            None,
        )
        facts = _facts(run, words, cores, texts, before, after, memory, last_card_ms, options)
        chosen = next(
            (c for c in classify(facts, long_min=options.long_number_min_digits) if c in enabled),
            None,
        )
        start, end = run.start, run.end
        if facts.ni_letters:
            start, end = _ni_extent(run, cores, texts)
        elif facts.month_before:
            start = run.start - 1
        if chosen is not None:
            spans.append(_span(chosen, words, start, end))
            out.classified.append((run, chosen))
        if (chosen == "card" and len(run.digits) >= CARD_MIN_DIGITS) or chosen == "expiry":
            last_card_ms = words[end - 1].end_ms
        if run is runs[-1] and _ends_sequence(run, cores):
            out.tail = run
            out.tail_open = chosen in (None, "long_number") and not (facts.year or facts.quantity)
        loose = (
            chosen in (None, "long_number")
            or (chosen == "card" and len(run.digits) < CARD_MIN_DIGITS)
            or (chosen == "phone" and facts.kind != "phone" and not run.plus)  # by shape only
        )
        if loose and not (facts.year or facts.quantity):
            plain.append(run)
    if "card" in enabled:
        for start, end in _broken_cards(plain, mentions):
            spans.append(_span("card", words, start, end))
            out.tail_open = out.tail_open and not (out.tail and out.tail.end <= end)
    out.spans = _merge(spans, words)
    return out


def _broken_cards(runs: Sequence[DigitRun], mentions: Sequence[Mention]) -> list[tuple[int, int]]:
    """Word ranges of runs that make a card number's length together, one word or none
    apart (``373823 007 I'm 3637``: the ASR broke a card with a word it misheard).  A
    keyword between them ("... expiry 04/26") keeps them apart."""
    keyword_at = {i for m in mentions for i in range(m.start, m.end)}
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(runs):
        j, digits = i, len(runs[i].digits)
        while (
            j + 1 < len(runs)
            and runs[j + 1].start - runs[j].end <= 1
            and not keyword_at.intersection(range(runs[j].end, runs[j + 1].start))
        ):
            j += 1
            digits += len(runs[j].digits)
        if j > i and BROKEN_CARD_DIGITS[0] <= digits <= BROKEN_CARD_DIGITS[1]:
            out.append((runs[i].start, runs[j].end))
        i = j + 1
    return out


def _facts(
    run: DigitRun,
    words: Sequence[Word],
    cores: Sequence[str],
    texts: Sequence[str],
    before: Mention | None,
    after: Mention | None,
    memory: CallContext | None,
    last_card_ms: int | None,
    options: RedactionOptions,
) -> RunFacts:
    t_ms = words[run.start].start_ms
    kind: ContextKind | None = None
    if before is not None and t_ms - words[before.end - 1].end_ms <= options.context_window_ms:
        kind = before.kind
    elif memory is not None and (found := memory.kind_at(t_ms)) is not None:
        kind = found[1]
    elif after is not None:
        kind = after.kind
    near = (last_card_ms is not None and t_ms - last_card_ms <= options.near_card_ms) or (
        memory is not None and memory.card_before(t_ms)
    )
    prev = cores[run.start - 1] if run.start else ""
    nxt = cores[run.end] if run.end < len(cores) else ""
    d = run.digits
    year = (
        len(d) == 4
        and 1900 <= int(d) <= 2099
        and run.groups in ((4,), (2, 2))
        and (prev in YEAR_LEAD or nxt in ("year", "years"))
    )
    return RunFacts(
        run=run,
        kind=kind,
        near_card=near,
        quantity=nxt in UNIT_WORDS and len(d) <= QUANTITY_MAX_DIGITS,
        year=year,
        month_before=prev in MONTHS and len(d) in (2, 4),
        ni_letters=_ni_shape(run, cores, texts),
    )


def _ni_shape(run: DigitRun, cores: Sequence[str], texts: Sequence[str]) -> bool:
    """Two letters then six digits (then maybe one letter A-D): a UK NI number."""
    if len(run.digits) != 6:
        return False
    return _ni_extent(run, cores, texts) != (run.start, run.end) or _compact_ni(cores[run.start])


def _compact_ni(core: str) -> bool:
    core = core.replace("-", "")
    return len(core) in (8, 9) and core[:2].isalpha() and core[2:8].isdigit()


def _spelled(text: str, most: int) -> str:
    """A word of spelled letters (``Q``, ``QQ``, ``c.``): written upper case, or one letter."""
    raw = split_word(text[:MAX_WORD_CHARS])[1].replace(".", "")
    if not (raw.isascii() and raw.isalpha()) or len(raw) > most:
        return ""
    return raw.lower() if len(raw) == 1 or raw.isupper() else ""


def _ni_extent(run: DigitRun, cores: Sequence[str], texts: Sequence[str]) -> tuple[int, int]:
    if _compact_ni(cores[run.start]):
        return run.start, run.end
    start = run.start
    letters = ""
    while start > 0 and len(letters) < 2:
        spelled = _spelled(texts[start - 1], 2 - len(letters))
        if not spelled:
            break
        letters = spelled + letters
        start -= 1
    if len(letters) != 2:
        return run.start, run.end
    end = run.end
    if end < len(texts) and _spelled(texts[end], 1) in ("a", "b", "c", "d"):
        end += 1
    return start, end


def _ends_sequence(run: DigitRun, cores: Sequence[str]) -> bool:
    return all(not c or c in ("um", "uh", "er", "erm", "and") for c in cores[run.end :])


def _span(category: Category, words: Sequence[Word], start: int, end: int) -> Span:
    return Span(
        category=category,
        start=start,
        end=end,
        start_ms=min(w.start_ms for w in words[start:end]),
        end_ms=max(w.end_ms for w in words[start:end]),
    )


def _merge(spans: list[Span], words: Sequence[Word]) -> list[Span]:
    """Overlapping spans become one (an email wins; else the first one's category)."""
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and span.start < out[-1].end:
            last = out[-1]
            category = "email" if "email" in (span.category, last.category) else last.category
            out[-1] = _span(category, words, last.start, max(span.end, last.end))
            continue
        out.append(span)
    return out
