"""The generated test sets of ``bench redaction``: PII in sentences, as text and as speech.

Everything comes from one seeded generator, so a run is repeatable:

* **card numbers**: Luhn-valid Visa (16), Mastercard (16), Amex (15, grouped 4-6-5) and
  Discover (16) numbers;
* **written forms** (what Whisper writes): grouped ``4472 1234 ...``, hyphenated,
  unbroken, digits one by one with spaces or commas, number words with "zero" or
  "oh", "double"/"triple", pairs ("forty-four seventy-two"), and the same read in
  2-4 pieces (separate finals);
* **spoken forms** (what espeak-ng is given): digit by digit in groups, "oh" for zero,
  doubles, pairs, and in pieces with pauses long enough to make separate utterances;
* the other categories (expiry and security code after a card, SSN, UK NI number, sort
  code and account number, email, phone) and **negatives**: sentences with ordinary
  numbers (prices, dates, times, counts, years, addresses, and reference numbers, which
  are not PII but are redacted when 7 digits or longer: the honest cost of failing
  closed on long digit runs).

A token is ``(text, category or None)``: the category of the PII it belongs to.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voice_assist.redaction import luhn_check_digit

RATE_HZ = 16000
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen"]  # fmt: skip
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]  # fmt: skip

Token = tuple[str, str | None]


@dataclass
class Item:
    """One test case: finals (channel, tokens) in order, and what it is."""

    kind: str
    """The category of its PII (``card``, ``email``, ...) or ``negative``."""
    finals: list[tuple[str, list[Token]]] = field(default_factory=list)
    form: str = ""
    secret: str = ""
    """The digits (or the address) that must not come out."""


# -- card numbers ------------------------------------------------------------------------------


def make_card(rng: np.random.Generator) -> tuple[str, str]:
    brand = ["visa", "mastercard", "amex", "discover"][int(rng.integers(4))]
    prefix, length = {
        "visa": ("4", 16),
        "mastercard": ("5" + str(int(rng.integers(1, 6))), 16),
        "amex": (["34", "37"][int(rng.integers(2))], 15),
        "discover": ("6011", 16),
    }[brand]
    body = prefix + "".join(str(int(d)) for d in rng.integers(0, 10, length - len(prefix) - 1))
    return brand, body + luhn_check_digit(body)


def card_groups(digits: str) -> list[str]:
    if len(digits) == 15:
        return [digits[:4], digits[4:10], digits[10:]]
    return [digits[i : i + 4] for i in range(0, len(digits), 4)]


def digit_words(digits: str, *, zero: str = "zero") -> list[str]:
    return [zero if c == "0" else NAMES[int(c)] for c in digits]


def double_words(digits: str) -> list[str]:
    """ "double four", "triple seven" for repeated digits, "oh" for zero."""
    out: list[str] = []
    i = 0
    while i < len(digits):
        j = i
        while j < len(digits) and digits[j] == digits[i] and j - i < 3:
            j += 1
        name = "oh" if digits[i] == "0" else NAMES[int(digits[i])]
        out += {1: [name], 2: ["double", name], 3: ["triple", name]}[j - i]
        i = j
    return out


def pair_words(group: str) -> list[str]:
    """A group read in pairs: "forty-four seventy-two", "oh five", "ten"."""
    out: list[str] = []
    for i in range(0, len(group) - 1, 2):
        a, b = int(group[i]), int(group[i + 1])
        if a == 0:
            out += ["oh", NAMES[b] if b else "oh"]
        elif a == 1:
            out.append(TEENS[b])
        else:
            out.append(TENS[a] + ("-" + NAMES[b] if b else ""))
    if len(group) % 2:
        out.append(NAMES[int(group[-1])])
    return out


WRITTEN_FORMS = (
    "grouped", "hyphen", "unbroken", "spaced", "commas", "words", "words_oh", "doubles",
    "pairs", "pieces", "pieces_words",
)  # fmt: skip


def written(digits: str, form: str, rng: np.random.Generator) -> list[list[str]]:
    """``digits`` as Whisper might write them: one token list per final."""
    groups = card_groups(digits)
    if form == "grouped":
        return [groups]
    if form == "hyphen":
        return [["-".join(groups)]]
    if form == "unbroken":
        return [[digits]]
    if form == "spaced":
        return [list(digits)]
    if form == "commas":
        return [[c + "," for c in digits[:-1]] + [digits[-1]]]
    if form == "words":
        return [digit_words(digits)]
    if form == "words_oh":
        return [digit_words(digits, zero="oh")]
    if form == "doubles":
        return [double_words(digits)]
    if form == "pairs":
        return [[w for g in groups for w in pair_words(g)]]
    cut = sorted(rng.choice(np.arange(1, len(groups)), size=min(len(groups) - 1, 2), replace=False))
    parts = [groups[a:b] for a, b in zip([0, *cut], [*cut, len(groups)], strict=True)]
    if form == "pieces_words":
        return [[w for g in part for w in digit_words(g, zero="oh")] for part in parts]
    return [list(part) for part in parts]


# -- sentences -------------------------------------------------------------------------------

CARD_KEYED = [
    ("my card number is", ""), ("the long number on the card is", ""), ("it's a visa,", ""),
    ("sure, the card number's", "okay"), ("the number on my debit card is", ""),
]  # fmt: skip
CARD_BARE = [("yes it's", ""), ("", ""), ("okay so", "got that?"), ("right,", "yeah"), ("it's", "")]
AGENT_ASKS = "can I take the long card number please?"


def tokens(text: str, category: str | None = None) -> list[Token]:
    return [(t, category) for t in text.split()]


def card_item(rng: np.random.Generator, form: str) -> Item:
    _, card = make_card(rng)
    pieces = written(card, form, rng)
    keyed = rng.random() < 0.5
    before, after = (CARD_KEYED if keyed else CARD_BARE)[int(rng.integers(5))]
    item = Item("card", form=form + ("+keyword" if keyed else ""), secret=card)
    if not keyed and rng.random() < 0.3:
        item.finals.append(("agent", tokens(AGENT_ASKS)))
        item.form += "+agent_asks"
    for i, piece in enumerate(pieces):
        toks: list[Token] = [(t, "card") for t in piece]
        if i == 0:
            toks = tokens(before) + toks
        if i == len(pieces) - 1:
            toks = toks + tokens(after)
        item.finals.append(("customer", toks))
    return item


def expiry_tokens(rng: np.random.Generator) -> tuple[list[str], str]:
    month, year = int(rng.integers(1, 13)), int(rng.integers(24, 33))
    mm = f"{month:02d}"
    forms = [
        [f"{mm}/{year}"],
        [mm, str(year)],
        ["oh" if mm[0] == "0" else NAMES[1], NAMES[int(mm[1])], "twenty", NAMES[year - 20]]
        if year < 30
        else [mm, "thirty" + ("-" + NAMES[year - 30] if year > 30 else "")],
        [MONTHS[month - 1].capitalize(), str(2000 + year)],
    ]
    return forms[int(rng.integers(len(forms)))], mm + str(year)


def cvv_tokens(rng: np.random.Generator, n: int = 3) -> tuple[list[str], str]:
    digits = "".join(str(int(d)) for d in rng.integers(0, 10, n))
    forms = [[digits], list(digits), digit_words(digits, zero="oh")]
    return forms[int(rng.integers(len(forms)))], digits


def card_extras_item(rng: np.random.Generator, kind: str) -> Item:
    """A card number, then its expiry or security code (with or without a keyword)."""
    _, card = make_card(rng)
    item = Item(kind, secret="")
    item.finals.append(("customer", tokens("it's") + [(t, "card") for t in card_groups(card)]))
    keyed = rng.random() < 0.7
    if kind == "expiry":
        toks, secret = expiry_tokens(rng)
        lead = "and the expiry date is" if keyed else "and"
    else:
        toks, secret = cvv_tokens(rng, 4 if rng.random() < 0.15 else 3)
        lead = "the security code on the back is" if keyed else "then"
    item.secret = secret
    item.form = "keyword" if keyed else "after_card"
    if keyed and rng.random() < 0.5:
        item.finals.append(("agent", tokens(lead.replace("and the", "and the") + "?")))
        item.finals.append(("customer", [(t, kind) for t in toks]))
        item.form = "agent_asks"
    else:
        item.finals.append(("customer", tokens(lead) + [(t, kind) for t in toks]))
    return item


def digits_form(digits: str, rng: np.random.Generator, groups: list[str]) -> list[str]:
    forms = [groups, list(digits), digit_words(digits, zero="oh"), ["-".join(groups)]]
    return forms[int(rng.integers(len(forms)))]


def other_item(rng: np.random.Generator, kind: str) -> Item:
    def r(n: int) -> str:
        return "".join(str(int(d)) for d in rng.integers(0, 10, size=n))

    if kind == "national_id":
        if rng.random() < 0.5:
            d = str(int(rng.integers(1, 9))) + r(8)
            lead = ["my social security number is", "SSN", "social security"][int(rng.integers(3))]
            return Item(kind, [("customer", tokens(lead) + [(t, kind) for t in
                        digits_form(d, rng, [d[:3], d[3:5], d[5:]])])], "ssn", d)  # fmt: skip
        d = r(6)
        letters = "".join(rng.choice(list("ABCEGHJKLMNPRSTWXYZ"), 2))
        forms = [[letters, d[:2], d[2:4], d[4:], "C"], [letters + d + "C"],
                 [*letters, *digit_words(d, zero="oh"), "C"]]  # fmt: skip
        toks = forms[int(rng.integers(3))]
        lead = ["my national insurance number is", "it's", "NI number"][int(rng.integers(3))]
        return Item(kind, [("customer", tokens(lead) + [(t, kind) for t in toks])], "ni", d)
    if kind == "sort_code":
        d = r(6)
        toks = digits_form(d, rng, [d[:2], d[2:4], d[4:]])
        return Item(kind, [("customer", tokens("the sort code is") + [(t, kind) for t in toks])],
                    "", d)  # fmt: skip
    if kind == "bank_account":
        d = r(8)
        toks = digits_form(d, rng, [d[:4], d[4:]])
        lead = ["my account number is", "account number", "the bank account is"][
            int(rng.integers(3))
        ]
        return Item(kind, [("customer", tokens(lead) + [(t, kind) for t in toks])], "", d)
    if kind == "email":
        first = ["john", "mary", "sam", "priya", "wei", "olga", "tom", "fatima"][
            int(rng.integers(8))
        ]
        last = ["smith", "jones", "patel", "nguyen", "garcia", "brown", "kowalski"][
            int(rng.integers(7))
        ]
        host, tld = [("gmail", "com"), ("yahoo", "co.uk"), ("outlook", "com"), ("example", "org"),
                     ("btinternet", "com")][int(rng.integers(5))]  # fmt: skip
        style = int(rng.integers(4))
        if style == 0:
            toks = [f"{first}.{last}@{host}.{tld}"]
        elif style == 1:
            toks = [
                first,
                "dot",
                last,
                "at",
                host,
                *[w for p in tld.split(".") for w in ("dot", p)],
            ]
        elif style == 2:
            toks = [first, f".{last}", "at", host, *[f".{p}" for p in tld.split(".")]]
        else:
            toks = [first + last, "at", f"{host}.{tld}"]
        lead = ["my email is", "it's", "you can email me at", "the address is"][
            int(rng.integers(4))
        ]
        return Item(kind, [("customer", tokens(lead) + [(t, kind) for t in toks])], str(style),
                    last)  # fmt: skip
    # phone
    style = int(rng.integers(4))
    if style == 0:
        d = "07" + r(9)
        toks = [d[:5], d[5:]]
    elif style == 1:
        d = "447" + r(9)
        toks = ["+44", d[2:6], d[6:]]
    elif style == 2:
        d = str(int(rng.integers(2, 10))) + r(2) + str(int(rng.integers(2, 10))) + r(6)
        toks = [f"{d[:3]}-{d[3:6]}-{d[6:]}"] if rng.random() < 0.5 else [d[:3], d[3:6], d[6:]]
    else:
        d = "07" + r(9)
        toks = digit_words(d, zero="oh")
    lead = ["call me on", "my mobile is", "my phone number is", "it's"][int(rng.integers(4))]
    return Item("phone", [("customer", tokens(lead) + [(t, "phone") for t in toks])], str(style), d)


NEGATIVES = [
    "I called {n} times about this", "I've been waiting {n} minutes", "it was {price} last month",
    "the bill says {pounds} pounds", "that was on the {ordinal} of {month}", "we moved in {year}",
    "I've had this card since {year}", "my flat is number {n} on the high street",
    "the meeting was at {time}", "they said {n} to {n2} working days", "it's about {pct} more",
    "I have {n} kids and {n2} dogs", "the reference was {ref}", "my order number is {ref}",
    "I paid {pounds} pounds on the {ordinal}", "flight {n3} from gate {n}", "room {n3} please",
    "it's been {n} weeks and {n2} days", "you charged me twice in {month}",
    "I'm on the {ordinal} floor",
]  # fmt: skip
ORDINALS = ["1st", "2nd", "3rd", "4th", "14th", "21st", "fifth", "twelfth", "thirtieth"]


def negative_item(rng: np.random.Generator) -> Item:
    template = NEGATIVES[int(rng.integers(len(NEGATIVES)))]
    ref_len = int(rng.integers(4, 10))
    values = {
        "n": str(int(rng.integers(2, 40))),
        "n2": ["two", "three", "five", "ten"][int(rng.integers(4))],
        "n3": str(int(rng.integers(100, 999))),
        "price": ["£45.99", "$120", "€30", "£1,299"][int(rng.integers(4))],
        "pounds": str(int(rng.integers(10, 400))),
        "ordinal": ORDINALS[int(rng.integers(len(ORDINALS)))],
        "month": MONTHS[int(rng.integers(12))].capitalize(),
        "year": str(int(rng.integers(1975, 2026))),
        "time": ["3:30", "10am", "half past two", "9:15"][int(rng.integers(4))],
        "pct": ["5%", "10 percent", "twenty percent"][int(rng.integers(3))],
        "ref": "".join(str(int(d)) for d in rng.integers(0, 10, ref_len)),
    }
    text = template.format(**values)
    form = "reference" if "{ref}" in template else "ordinary"
    return Item("negative", [("customer", tokens(text))], form, "")


OTHER_KINDS = ("expiry", "cvv", "national_id", "sort_code", "bank_account", "email", "phone")


def text_set(seed: int, *, cards: int, others: int, negatives: int) -> list[Item]:
    """``cards`` card items over all written forms, ``others`` of each other category,
    ``negatives`` ordinary sentences."""
    rng = np.random.default_rng(seed)
    items = [card_item(rng, WRITTEN_FORMS[i % len(WRITTEN_FORMS)]) for i in range(cards)]
    for kind in OTHER_KINDS:
        for _ in range(others):
            if kind in ("expiry", "cvv"):
                items.append(card_extras_item(rng, kind))
            else:
                items.append(other_item(rng, kind))
    items += [negative_item(rng) for _ in range(negatives)]
    return items


# -- speech --------------------------------------------------------------------------------------

ITEMS_PER_CALL = 10
SPOKEN_FORMS = ("digits", "words_oh", "doubles", "pairs", "pieces", "run")


@dataclass
class Segment:
    """One espeak-ng rendering on one leg; ``category`` when all of it is PII."""

    channel: str
    text: str
    category: str | None = None
    item: int | None = None
    gap_after_s: float = 0.15
    """Silence after it: 0.15 s keeps the next segment in the same utterance, 1.3 s
    (above the VAD's end silence) starts a new one."""


def spoken_card(digits: str, form: str) -> list[str]:
    """TTS texts for a card number; more than one: pieces, read as separate utterances."""
    groups = card_groups(digits)
    if form == "digits":
        return [", ".join(" ".join(g) for g in groups)]
    if form == "words_oh":
        return [", ".join(" ".join(digit_words(g, zero="oh")) for g in groups)]
    if form == "doubles":
        return [", ".join(" ".join(double_words(g)) for g in groups)]
    if form == "pairs":
        return [", ".join(" ".join(pair_words(g)) for g in groups)]
    if form == "pieces":
        half = (len(groups) + 1) // 2
        return [", ".join(" ".join(g) for g in part) for part in (groups[:half], groups[half:])]
    return [" ".join(digits)]


def speech_calls(seed: int, *, cards: int, others: int, negatives: int) -> list[list[Segment]]:
    """Calls of segments: each card item (and each other item, and negative) in turn,
    the agent asking first for a third of the card numbers; about 60-90 s per call."""
    rng = np.random.default_rng(seed + 1)
    items: list[list[Segment]] = []
    for i in range(cards):
        _, card = make_card(rng)
        form = SPOKEN_FORMS[i % len(SPOKEN_FORMS)]
        segs: list[Segment] = []
        if i % 3 == 0:
            segs.append(Segment("agent", "Can I take the long number on the card, please?",
                                gap_after_s=0.8))  # fmt: skip
            lead = "Sure, it's"
        else:
            lead = ["My card number is", "Yes, it's", "Okay, it's", "The number is"][i % 4]
        segs.append(Segment("customer", lead))
        parts = spoken_card(card, form)
        for k, part in enumerate(parts):
            segs.append(Segment("customer", part, "card:" + card,
                                gap_after_s=1.3 if k < len(parts) - 1 else 1.5))  # fmt: skip
        items.append(segs)
    for i in range(others):
        kind = OTHER_KINDS[i % len(OTHER_KINDS)]
        if kind in ("expiry", "cvv"):
            _, card = make_card(rng)
            segs = [Segment("customer", "My card number is"),
                    Segment("customer", ", ".join(" ".join(g) for g in card_groups(card)),
                            "card:" + card, gap_after_s=1.2)]  # fmt: skip
            if kind == "expiry":
                month, year = int(rng.integers(1, 13)), int(rng.integers(25, 30))
                spoken = f"oh {NAMES[month]}, twenty {NAMES[year - 20]}" if month < 10 else (
                    f"{TEENS[month - 10]}, twenty {NAMES[year - 20]}")  # fmt: skip
                segs += [Segment("customer", "and the expiry date is"),
                         Segment("customer", spoken, f"expiry:{month:02d}{year}",
                                 gap_after_s=1.5)]  # fmt: skip
            else:
                code = "".join(str(int(d)) for d in rng.integers(1, 10, 3))
                segs += [Segment("customer", "and the security code is"),
                         Segment("customer", " ".join(code), f"cvv:{code}",
                                 gap_after_s=1.5)]  # fmt: skip
            items.append(segs)
            continue
        item = other_item(rng, kind)
        toks = [t for _, ts in item.finals for t in ts]
        lead = " ".join(t for t, c in toks if c is None)
        secret_tokens = [t for t, c in toks if c is not None]
        say = " ".join(secret_tokens).replace("@", " at ").replace(".", " dot ").replace("-", " ")
        if kind in ("sort_code", "bank_account", "phone", "national_id"):
            say = " ".join(" ".join(t) if t.isdigit() else t for t in say.split())
            say = say.replace("+", "plus ")
        secret = Segment("customer", say, f"{kind}:{item.secret}", gap_after_s=1.5)
        items.append([Segment("customer", lead), secret])
    for _ in range(negatives):
        item = negative_item(rng)
        text = " ".join(t for t, _ in item.finals[0][1])
        items.append([Segment("customer", text, None, gap_after_s=1.5)])
    order = rng.permutation(len(items))
    n_calls = max(1, round(len(items) / ITEMS_PER_CALL))
    calls: list[list[Segment]] = [[] for _ in range(n_calls)]
    for n, idx in enumerate(order):
        for seg in items[idx]:
            seg.item = int(idx)
        calls[n * n_calls // len(items)] += items[idx]
    return calls


def speak(text: str, *, voice: str, speed: int) -> np.ndarray:
    """``text`` read by espeak-ng, 16 kHz float32, leading and trailing silence trimmed."""
    import soundfile as sf
    import soxr

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "u.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
            check=True,
            capture_output=True,
        )
        x, rate = sf.read(wav, dtype="float32")
    y = soxr.resample(x, rate, RATE_HZ).astype(np.float32)
    loud = np.flatnonzero(np.abs(y) > 0.01)
    if loud.size:
        y = y[max(0, loud[0] - 160) : loud[-1] + 320]
    return y


@dataclass
class Rendered:
    """A call's two legs, and where each PII segment lies on its leg (samples)."""

    legs: dict[str, np.ndarray]
    secrets: list[tuple[str, str, int, int, int]]
    """(channel, "category:secret", start, end, item) per PII segment."""
    speech: dict[str, np.ndarray]
    """Per leg, the TTS audio alone (to find its voiced frames)."""


def render(call: list[Segment], *, seed: int) -> Rendered:
    rng = np.random.default_rng(seed)
    pos = int(0.5 * RATE_HZ)
    parts: dict[str, list[tuple[int, np.ndarray]]] = {"customer": [], "agent": []}
    secrets: list[tuple[str, str, int, int, int]] = []
    for seg in call:
        voice = "en-us" if seg.channel == "customer" else "en-gb"
        speed = int(rng.integers(140, 175))
        audio = speak(seg.text, voice=voice, speed=speed) if seg.text.strip() else np.zeros(0)
        parts[seg.channel].append((pos, audio))
        if seg.category is not None:
            secrets.append((seg.channel, seg.category, pos, pos + audio.size, seg.item or 0))
        pos += audio.size + int(seg.gap_after_s * RATE_HZ)
    total = pos + RATE_HZ
    legs = {}
    for channel, placed in parts.items():
        leg = np.zeros(total, np.float32)
        for start, audio in placed:
            leg[start : start + audio.size] += 0.5 * audio
        legs[channel] = leg
    noise = np.random.default_rng(seed + 7)
    speech = {ch: x.copy() for ch, x in legs.items()}
    for ch in legs:  # a telephone-like noise floor, so silence is not digital zero
        legs[ch] = legs[ch] + (0.0005 * noise.standard_normal(total)).astype(np.float32)
    return Rendered(legs, secrets, speech)
