"""Email addresses, written (``john.smith@gmail.com``) or spoken ("john dot smith at
gmail dot com", which Whisper may write ``john .smith at gmail .com``).

An address needs a local part, "at" (or ``@``), and a domain of at least two labels
joined by "dot" whose last label is a known top-level domain, so "meet me at the
station" or "look at that" are not addresses.  Where the ASR lost the "at"
(``john .jones .outlook .com``, ``john.smithatgmail.com``) a mail provider's domain
stands for it.  The local part reaches back over
"dot"/"underscore"/"dash" joins and spelled letters, at most :data:`MAX_LOCAL_TOKENS`
words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from voice_assist.redaction.numbers import MAX_WORD_CHARS, fold

MAX_LOCAL_TOKENS = 12
MAX_DOMAIN_LABELS = 8

TLDS = frozenset(
    [
        "com",
        "net",
        "org",
        "edu",
        "gov",
        "mil",
        "int",
        "io",
        "co",
        "uk",
        "us",
        "ca",
        "au",
        "nz",
        "ie",
        "de",
        "fr",
        "es",
        "it",
        "nl",
        "be",
        "ch",
        "at",
        "se",
        "no",
        "dk",
        "fi",
        "pl",
        "pt",
        "in",
        "jp",
        "cn",
        "br",
        "mx",
        "za",
        "ru",
        "info",
        "biz",
        "me",
        "tv",
        "ai",
        "app",
        "dev",
        "online",
        "uk",
        "email",
        "eu",
    ]
)
_JOINS = {"dot": ".", "point": ".", "underscore": "_", "dash": "-", "hyphen": "-"}
_STOP = frozenset(
    [
        "is",
        "me",
        "my",
        "it",
        "it's",
        "its",
        "email",
        "e-mail",
        "address",
        "the",
        "a",
        "an",
        "to",
        "on",
        "in",
        "of",
        "at",
        "and",
        "or",
        "us",
        "you",
        "your",
        "him",
        "her",
        "them",
        "we",
        "i",
        "that",
        "this",
        "look",
        "looking",
        "be",
        "here",
        "there",
        "home",
        "work",
        "go",
        "went",
        "get",
        "stay",
        "staying",
        "sign",
        "log",
        "logged",
    ]
)
_EDGE_NO_DOT = "\"'()[]{}<>«»“”‘’…,;:!?¿¡*"
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})$")
_LOCAL = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}$")
_DOTTED = re.compile(r"^[a-z][a-z0-9_+-]*(?:\.[a-z0-9_+-]+)+$")
"""``john.smith``: a word with inner dots, as Whisper writes a local part (partials)."""
_FUSED = re.compile(r"^([a-z0-9][a-z0-9._+-]{1,63})at([a-z0-9-]{2,63}(?:\.[a-z0-9-]{1,63}){1,3})$")
PROVIDERS = frozenset(
    [
        "gmail",
        "googlemail",
        "yahoo",
        "hotmail",
        "outlook",
        "live",
        "msn",
        "icloud",
        "me",
        "aol",
        "btinternet",
        "protonmail",
        "proton",
        "mail",
        "gmx",
        "zoho",
        "yandex",
        "sky",
        "virginmedia",
        "talktalk",
    ]
)
_WRITTEN = re.compile(r"^[a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){0,7}$")


def email_tokens(texts: Sequence[str]) -> list[tuple[str, bool]]:
    """Per word: its folded core and whether it starts with a dot (Whisper writes a
    spoken "dot" as ``.smith`` or ``.com``)."""
    out: list[tuple[str, bool]] = []
    for text in texts:
        t = fold(text[: MAX_WORD_CHARS * 4].strip()).strip(_EDGE_NO_DOT)
        out.append((t.strip("."), t.startswith(".")))
    return out


def find_emails(texts: Sequence[str]) -> list[tuple[int, int]]:
    """``[start, end)`` word ranges of the addresses in ``texts`` (word texts), in order."""
    tokens = email_tokens(texts)
    cores = [c for c, _ in tokens]
    dotted = [d for _, d in tokens]
    out: list[tuple[int, int]] = []
    n = len(cores)
    i = 0
    while i < n:
        core = cores[i]
        found: tuple[int, int] | None = None
        if "@" in core:
            local, _, domain = core.partition("@")
            end = _domain_end(domain or None, cores, dotted, i + 1)
            if end is not None:
                start = i if local else _local_start(cores, dotted, i)
                if start is not None:
                    found = (start, end)
            elif _WRITTEN.match(core):
                found = (i, i + 1)
        elif "at" in core and "." in core and _fused(core):
            found = (i, i + 1)
        elif i + 1 < n and dotted[i + 1] and (end := _lost_at(cores, dotted, i)) is not None:
            found = (i, end)
        elif core == "at" and i + 1 < n:
            end = _domain_end(None, cores, dotted, i + 1)
            start = _local_start(cores, dotted, i) if end is not None else None
            if end is not None and start is not None:
                found = (start, end)
        if found is None:
            i += 1
            continue
        if out and found[0] < out[-1][1]:
            found = (out[-1][0], max(found[1], out[-1][1]))
            out[-1] = found
        else:
            out.append(found)
        i = found[1]
    return out


def unfinished_email(texts: Sequence[str]) -> int | None:
    """Start of an address still being spoken at the end of ``texts``, or None.

    For partials only: "... john dot smith", "... john.smith", "... john .smith at",
    "... john dot smith at gmail dot" are addresses whose domain has not been said yet,
    so the detector above cannot see them; the final that follows has the whole address
    or none.  A partial blanks a little too much at worst ("look at" as its last words,
    "e.g" while it is being said)."""
    tokens = email_tokens(texts)
    cores = [c for c, _ in tokens]
    dotted = [d for _, d in tokens]
    n = len(cores)
    for i in range(n - 1, max(-1, n - 2 - 2 * MAX_DOMAIN_LABELS), -1):
        core = cores[i]
        if core == "at" or "@" in core:
            tail = cores[i + 1 :]
            joined = any(c in _JOINS for c in tail) or any(dotted[i + 1 :])
            if not all(_LABEL.match(c) or c in _JOINS for c in tail if c) or (
                len(tail) > 1 and not joined
            ):  # "at home now": words after "at" that are not a domain being spelled
                break
            if "@" in core and not core.startswith("@"):
                return i
            return _local_start(cores, dotted, i)
    end = n - 1 if n and cores[-1] in _JOINS else n  # "john dot": the join is still open
    if end <= 0 or (
        end == n
        and not (dotted[-1] or (n >= 2 and cores[-2] in _JOINS) or _DOTTED.match(cores[-1]))
    ):
        return None
    return _local_start(cores, dotted, end)


def _fused(core: str) -> bool:
    """``john.smithatgmail.com``: an address whose "at" Whisper ran into the word.  Only
    with a common mail provider's domain, or a dot in the local part."""
    match = _FUSED.match(core)
    if match is None:
        return False
    local, domain = match.group(1), match.group(2).split(".")
    return domain[-1] in TLDS and (domain[0] in PROVIDERS or "." in local or "_" in local)


def _lost_at(cores: Sequence[str], dotted: Sequence[bool], i: int) -> int | None:
    """``john .jones .outlook .com``: a dotted chain from word ``i`` whose "at" the ASR
    lost, ending in a mail provider's domain (a label ending in a provider's name, then
    top-level labels).  The end of the chain, or None."""
    labels = _labels(cores[i])
    j = i + 1
    while j < len(cores) and dotted[j] and cores[j] and len(labels) < MAX_DOMAIN_LABELS:
        labels += _labels(cores[j])
        j += 1
    if len(labels) < 3 or labels[-1] not in TLDS or not all(_LABEL.match(x) for x in labels):
        return None
    k = len(labels) - 1
    while k > 0 and labels[k] in TLDS:
        k -= 1
    provider = any(labels[k].endswith(p) for p in PROVIDERS if len(p) >= 5)
    return j if provider and k >= 1 else None


def _labels(text: str) -> list[str]:
    return [x for x in text.split(".") if x]


def _domain_end(
    first: str | None, cores: Sequence[str], dotted: Sequence[bool], j: int
) -> int | None:
    """End (exclusive) of a domain that starts with ``first`` (the rest of a word after
    ``@``) or, when ``first`` is None, with word ``j``."""
    if first is None:
        if j >= len(cores):
            return None
        first = cores[j]
        j += 1
    labels = _labels(first)
    while j < len(cores) and len(labels) < MAX_DOMAIN_LABELS:
        if dotted[j] and cores[j]:
            labels += _labels(cores[j])
            j += 1
        elif (
            j + 1 < len(cores)
            and cores[j] in ("dot", "point")
            and _LABEL.match(cores[j + 1].split(".")[0] or "-")
        ):
            labels += _labels(cores[j + 1])
            j += 2
        else:
            break
    if len(labels) < 2 or not all(_LABEL.match(x) for x in labels) or labels[-1] not in TLDS:
        return None
    return j


def _local_start(cores: Sequence[str], dotted: Sequence[bool], at: int) -> int | None:
    """Start of the local part that ends just before word ``at`` ("at" or ``@...``)."""
    k = at - 1
    if k < 0 or cores[k] in _STOP or not _LOCAL.match(cores[k]):
        return None
    while k - 1 >= 0 and at - k < MAX_LOCAL_TOKENS:
        if dotted[k] and _LOCAL.match(cores[k - 1]) and cores[k - 1] not in _STOP:
            k -= 1  # "john .smith"
        elif (
            k - 2 >= 0
            and cores[k - 1] in _JOINS
            and _LOCAL.match(cores[k - 2])
            and cores[k - 2] not in _STOP
        ):
            k -= 2
        elif len(cores[k]) == 1 and len(cores[k - 1]) == 1 and cores[k - 1].isalnum():
            k -= 1  # spelled: "j s m i t h at ..."
        else:
            break
    return k
