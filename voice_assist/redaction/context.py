"""Keywords that say what the digits spoken next are, and the call's memory of them.

A run of digits is read in the light of the latest keyword before it: after "card
number" four digits are part of a card, after "sort code" six digits are a sort code,
after "security code" three digits are a CVV.  A keyword counts on either leg (the
agent asks, the customer answers) for ``redaction.context_window_ms`` of media time.
:class:`CallContext` remembers the recent keywords and card numbers of one call; it is
bounded (the latest :data:`MEMORY_ITEMS` of each).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

ContextKind = Literal["card", "expiry", "cvv", "national_id", "bank_account", "sort_code", "phone"]

MEMORY_ITEMS = 32

KEYWORDS: dict[ContextKind, tuple[str, ...]] = {
    "card": (
        "card", "cards", "card's", "long number", "visa", "mastercard", "master card",
        "amex", "american express", "debit", "credit", "maestro", "discover card",
        "sixteen digit", "16 digit", "16-digit", "card number",
    ),
    "expiry": (
        "expiry", "expiration", "expires", "expire", "expiring", "expired", "valid until",
        "valid thru", "valid through", "valid till", "end date", "exp", "valid to",
    ),
    "cvv": (
        "security code", "cvv", "cvc", "cv2", "csc", "cvv2", "three digits", "three digit",
        "3 digits", "3 digit", "three-digit", "3-digit", "on the back", "card verification",
        "security number",
    ),
    "national_id": (
        "social security", "ssn", "national insurance", "ni number", "national id",
        "national identity", "id number", "identification number", "passport number",
        "passport", "tax id", "tax number", "driving licence", "driver's license",
        "drivers license",
    ),
    "bank_account": (
        "account number", "account", "acct", "iban", "bank account", "account no",
    ),
    "sort_code": ("sort code", "sortcode", "routing number", "routing"),
    "phone": (
        "phone", "telephone", "mobile", "cell", "landline", "call me", "call you",
        "call back", "call him", "call her", "reach me", "contact number", "text me",
        "ring me", "phone number", "whatsapp", "extension", "cellphone", "cell phone",
    ),
}  # fmt: skip

_PHRASES: dict[str, list[tuple[tuple[str, ...], ContextKind]]] = {}
for _kind, _phrases in KEYWORDS.items():
    for _phrase in _phrases:
        _words = tuple(_phrase.split())
        _PHRASES.setdefault(_words[0], []).append((_words, _kind))
for _entries in _PHRASES.values():
    _entries.sort(key=lambda e: -len(e[0]))  # longest first: "social security" > "security"


@dataclass(frozen=True, slots=True)
class Mention:
    kind: ContextKind
    start: int
    """Word index of the keyword's first word in the sequence searched."""
    end: int


def find_mentions(cores: Sequence[str]) -> list[Mention]:
    """Keywords in ``cores`` (folded word cores, see :func:`~.numbers.fold`), in order."""
    out: list[Mention] = []
    i, n = 0, len(cores)
    while i < n:
        word = cores[i].replace(".", "") if "." in cores[i] else cores[i]
        match = None
        for phrase, kind in _PHRASES.get(word, ()):
            k = len(phrase)
            if i + k <= n and all(cores[i + j] == phrase[j] for j in range(1, k)):
                match = Mention(kind, i, i + k)
                break
        if match is None:
            i += 1
            continue
        out.append(match)
        i = match.end
    return out


class CallContext:
    """Recent keywords and card numbers of one call, by media time (both legs)."""

    def __init__(self, *, window_ms: int, near_card_ms: int) -> None:
        self.window_ms = window_ms
        self.near_card_ms = near_card_ms
        self._mentions: deque[tuple[int, ContextKind]] = deque(maxlen=MEMORY_ITEMS)
        self._cards: deque[int] = deque(maxlen=MEMORY_ITEMS)
        self._payment: deque[int] = deque(maxlen=MEMORY_ITEMS)

    def add_mention(self, kind: ContextKind, end_ms: int) -> None:
        self._mentions.append((end_ms, kind))

    def add_card(self, end_ms: int) -> None:
        self._cards.append(end_ms)

    def add_payment(self, end_ms: int) -> None:
        """Card data (or what may be: a long number) was redacted, ending at ``end_ms``."""
        self._payment.append(end_ms)

    def in_payment(self, t_ms: int) -> bool:
        """A payment is being taken at ``t_ms``: card data or a card, expiry or CVV
        keyword within the window before it."""
        recent = [*self._payment, *(t for t, k in self._mentions if k in ("card", "expiry", "cvv"))]
        return any(t <= t_ms + 500 and t_ms - t <= self.window_ms for t in recent)

    def kind_at(self, t_ms: int, *, slack_ms: int = 500) -> tuple[int, ContextKind] | None:
        """The latest keyword that ended before ``t_ms`` within the window: (end_ms, kind)."""
        best: tuple[int, ContextKind] | None = None
        for end_ms, kind in self._mentions:
            recent = end_ms <= t_ms + slack_ms and t_ms - end_ms <= self.window_ms
            if recent and (best is None or end_ms >= best[0]):
                best = (end_ms, kind)
        return best

    def mention_between(self, start_ms: int, end_ms: int) -> bool:
        """A keyword ended within ``(start_ms, end_ms]``: a new question was asked."""
        return any(start_ms < t <= end_ms for t, _ in self._mentions)

    def card_before(self, t_ms: int, *, slack_ms: int = 500) -> bool:
        return any(
            end_ms <= t_ms + slack_ms and t_ms - end_ms <= self.near_card_ms
            for end_ms in self._cards
        )
