"""Property-based fuzzing of the redaction detectors and the per-call redactor.

Adversarial text (huge digit runs, number words in any order, mixed scripts and odd
unicode, emails half-spoken, finals in any order on both legs) never makes them raise,
and a card number read across utterance boundaries never comes out.  The work is
bounded by size limits in the code (:data:`~voice_assist.redaction.numbers.MAX_WORD_CHARS`,
:data:`~voice_assist.redaction.redact.MAX_TEXT_CHARS`), not by timing here.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redaction_util import leaks

from voice_assist.config import RedactionOptions
from voice_assist.events import CHANNELS, TranscriptEvent, Word
from voice_assist.redaction import CallRedactor, detect, luhn_check_digit
from voice_assist.redaction.numbers import MAX_WORD_CHARS, UNITS

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
OPTIONS = RedactionOptions()
DIGIT_WORDS = sorted(UNITS) + ["oh", "double", "triple", "forty", "ninety", "hundred", "thousand"]
VOCAB = [
    "card", "number", "is", "my", "the", "at", "dot", "com", "gmail", "and", "um", "sort",
    "code", "expiry", "security", "phone", "account", "plus", "pounds", "since", "in", "Q",
    "QQ", "C", "a", "oh,", "@", ".com", "+", "-", "/", "٤٤٧٢", "４４", "١٢", "€5", "1,299",
    "3:30", "14th", "\u200b", "\ufeff", "e\u0301", "🙂", "Ω", "ß", "İ",
]  # fmt: skip

word_text = st.one_of(
    st.sampled_from(VOCAB + DIGIT_WORDS),
    st.from_regex(r"\A[0-9]{1,6}([-/.,][0-9]{1,6}){0,3}\Z"),
    st.text(max_size=12),
    st.text(alphabet="0123456789", min_size=MAX_WORD_CHARS - 4, max_size=MAX_WORD_CHARS * 3),
)
words_st = st.lists(word_text, max_size=60)


def as_words(texts: list[str], start_ms: int = 0, step_ms: int = 200) -> tuple[Word, ...]:
    return tuple(
        Word(text=t, start_ms=start_ms + i * step_ms, end_ms=start_ms + i * step_ms + 150,
             probability=0.5)
        for i, t in enumerate(texts)
    )  # fmt: skip


def event(
    texts: list[str], *, channel: str, uid: str, start_ms: int, final: bool
) -> TranscriptEvent:
    words = as_words(texts, start_ms)
    end_ms = words[-1].end_ms if words else start_ms
    text = " ".join(texts)
    return TranscriptEvent(
        call_id="fuzz", t_ms=end_ms, channel=channel, utterance_id=uid,  # type: ignore[arg-type]
        is_final=final, text=text, stable_text=text if final else text[: len(text) // 2],
        start_ms=start_ms, end_ms=end_ms, words=words if final else (),
    )  # fmt: skip


@FUZZ
@given(texts=words_st)
def test_detect_never_raises_and_spans_are_sane(texts: list[str]) -> None:
    words = as_words(texts)
    found = detect(words, options=OPTIONS)
    last_end = 0
    for span in found.spans:
        assert last_end <= span.start < span.end <= len(words)
        assert span.start_ms <= span.end_ms
        last_end = span.end


@FUZZ
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(CHANNELS), words_st, st.booleans(), st.integers(0, 40_000),
            st.booleans(),
        ),
        max_size=12,
    )
)  # fmt: skip
def test_the_redactor_takes_anything_and_loses_no_final(
    steps: list[tuple[str, list[str], bool, int, bool]],
) -> None:
    red = CallRedactor(OPTIONS)
    sent: dict[str, list[str]] = defaultdict(list)
    got: dict[str, list[str]] = defaultdict(list)
    for i, (channel, texts, final, start_ms, idle) in enumerate(steps):
        e = event(texts, channel=channel, uid=f"u{i}", start_ms=start_ms, final=final)
        if final:
            sent[channel].append(e.utterance_id)
        out = red.on_transcript(e)
        out += red.due(channel, received_ms=start_ms + 5000, idle=idle)
        for r in out:
            assert isinstance(r.event, TranscriptEvent)
            assert len(r.event.words) <= max(len(e.words), 60)
            if r.event.is_final:
                got[r.event.channel].append(r.event.utterance_id)
    for channel in CHANNELS:
        for r in red.due(channel, received_ms=10**9, idle=True, final=True):
            got[channel].append(r.event.utterance_id)
    assert got == sent  # every final once, in order per leg


def card_of(seed: int) -> str:
    body = str(4 * 10**14 + seed * 7919 % 10**14).rjust(15, "0")
    return body + luhn_check_digit(body)


def spoken(digits: str, style: int) -> list[str]:
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    if style == 0:
        return [digits[i : i + 4] for i in range(0, len(digits), 4)]
    if style == 1:
        return [names[int(c)] if c != "0" else "oh" for c in digits]
    if style == 2:
        return [c + "," for c in digits]
    return ["-".join(digits[i : i + 4]) for i in range(0, len(digits), 4)]


@FUZZ
@given(
    seed=st.integers(0, 10**6),
    style=st.integers(0, 3),
    cuts=st.lists(st.integers(1, 40), max_size=3),
    before=st.lists(st.sampled_from(VOCAB[:20]), max_size=5),
    after=st.lists(st.sampled_from(["thanks", "OK", "right", "is", "that", "it"]), max_size=3),
    gap_ms=st.integers(300, 2500),
    agent_asks=st.booleans(),
)
def test_a_card_read_across_finals_never_comes_out(
    seed: int,
    style: int,
    cuts: list[int],
    before: list[str],
    after: list[str],
    gap_ms: int,
    agent_asks: bool,
) -> None:
    card = card_of(seed)
    tokens = spoken(card, style)
    bounds = sorted({min(c, len(tokens) - 1) for c in cuts})
    pieces = [tokens[a:b] for a, b in zip([0, *bounds], [*bounds, len(tokens)], strict=True)]
    pieces[0] = [*before, *pieces[0]]
    pieces[-1] = [*pieces[-1], *after]
    red = CallRedactor(OPTIONS)
    out: list[TranscriptEvent] = []
    t = 0
    if agent_asks:
        ask = event(["the", "card", "number?"], channel="agent", uid="a0", start_ms=0, final=True)
        out += [r.event for r in red.on_transcript(ask)]
        t = 1500
    for i, piece in enumerate(pieces):
        e = event(piece, channel="customer", uid=f"c{i}", start_ms=t, final=True)
        out += [r.event for r in red.on_transcript(e)]
        t = e.end_ms + gap_ms
        out += [r.event for r in red.due("customer", received_ms=t, idle=True)]
    out += [r.event for r in red.due("customer", received_ms=t + 10**6, idle=True, final=True)]
    customer = [e for e in out if e.channel == "customer"]
    assert len(customer) == len(pieces)
    said = " ".join(e.text for e in customer)
    assert not leaks(said, card), said


def test_huge_inputs_are_bounded() -> None:
    """One word of 200,000 digits, 20,000 one-digit words, a 1 MB partial: handled."""
    red = CallRedactor(OPTIONS)
    (big,) = red.on_transcript(event(["7" * 200_000], channel="customer", uid="c0",
                                     start_ms=0, final=True))  # fmt: skip
    assert big.event.text == "[NUMBER]"
    many = red.on_transcript(event(["5"] * 20_000 + ["ok"], channel="agent", uid="a0",
                                   start_ms=0, final=True))  # fmt: skip
    assert many[0].event.text == "[NUMBER] ok"
    (part,) = red.on_transcript(event(["4472 1234 " * 100_000], channel="customer",
                                      uid="c1", start_ms=0, final=False))  # fmt: skip
    assert len(part.event.text) <= 25_000 and "4472" not in part.event.text
