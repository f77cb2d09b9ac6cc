"""One call's redactor: finals and partials, numbers read across utterances, context."""

from __future__ import annotations

from dataclasses import replace

from redaction_util import final, leaks, partial

from voice_assist.config import RedactionOptions
from voice_assist.events import TranscriptEvent
from voice_assist.redaction import CallRedactor

CARD = "4472123456789016"


def texts(out: list) -> list[str]:  # type: ignore[type-arg]
    return [r.event.text for r in out]


def test_a_final_is_redacted_with_its_word_times_kept() -> None:
    red = CallRedactor(RedactionOptions())
    event = final("my card is 4472 1234 5678 9016, thanks", start_ms=5000)
    (out,) = red.on_transcript(event)
    e = out.event
    assert e.text == e.stable_text == "my card is [CARD], thanks"
    assert [w.text for w in e.words] == ["my", "card", "is", "[CARD],", "thanks"]
    card = e.words[3]
    assert (card.start_ms, card.end_ms) == (event.words[3].start_ms, event.words[6].end_ms)
    assert e.words[4] == event.words[7]  # the rest untouched
    assert (e.start_ms, e.end_ms, e.utterance_id) == (
        event.start_ms,
        event.end_ms,
        event.utterance_id,
    )
    (span,) = out.spans
    assert span.category == "card" and (span.start_ms, span.end_ms) == (card.start_ms, card.end_ms)


def test_a_final_without_anything_to_redact_is_the_same_object() -> None:
    red = CallRedactor(RedactionOptions())
    event = final("I called 3 times on the 14th")
    (out,) = red.on_transcript(event)
    assert out.event is event and out.spans == ()


def test_a_card_read_in_pieces_is_held_and_redacted_in_every_piece() -> None:
    red = CallRedactor(RedactionOptions())
    assert red.on_transcript(final("yes it's 4472", start_ms=0, uid="c0")) == []
    assert red.hold_from_ms("customer") == 0
    assert red.on_transcript(final("1234", start_ms=2000, uid="c1")) == []
    out = red.on_transcript(final("5678 9016 OK", start_ms=4000, uid="c2"))
    assert [r.event.utterance_id for r in out] == ["c0", "c1", "c2"]
    assert texts(out) == ["yes it's [CARD]", "[CARD]", "[CARD] OK"]
    assert red.hold_from_ms("customer") is None
    assert not any(leaks(r.event.text, CARD, run=4) for r in out)


def test_a_number_continued_after_a_released_final_is_classified_as_a_whole() -> None:
    red = CallRedactor(RedactionOptions())
    (first,) = red.on_transcript(final("it's 4472 1234 5678 9016", start_ms=0, uid="c0"))
    assert first.event.text == "it's [CARD]"  # a whole card: out at once
    (second,) = red.on_transcript(final("9", start_ms=3000, uid="c1"))
    assert second.event.text == "[CARD]"  # the carry-over: one more digit of that number


def test_a_held_final_is_released_when_its_leg_goes_quiet() -> None:
    opts = RedactionOptions()
    red = CallRedactor(opts)
    held = final("my order was 4472", start_ms=0)
    assert red.on_transcript(held) == []
    after = held.end_ms + opts.carry_gap_ms
    assert red.due("customer", received_ms=after - 1, idle=True) == []
    assert red.due("customer", received_ms=after, idle=False) == []  # someone is speaking
    (out,) = red.due("customer", received_ms=after, idle=True)
    assert out.event is held  # four digits, nothing more came: as spoken
    # never longer than carry_max_hold_ms, even while the leg keeps talking
    assert red.on_transcript(final("it was 4472", start_ms=20_000)) == []
    assert red.due("customer", received_ms=22_000 + opts.carry_max_hold_ms, idle=False)


def test_held_finals_come_out_at_the_end_of_the_call() -> None:
    red = CallRedactor(RedactionOptions())
    assert red.on_transcript(final("it's 4472 1234 5678 9016 and 123", start_ms=0)) != []
    assert red.on_transcript(final("the code is 444", start_ms=9000, uid="c1")) != []
    held = final("and 4472", start_ms=60_000, uid="c2")
    assert red.on_transcript(held) == []
    (out,) = red.due("customer", received_ms=60_100, idle=False, final=True)
    assert out.event is held


def test_a_keyword_on_the_other_leg_sets_the_context() -> None:
    red = CallRedactor(RedactionOptions())
    (ask,) = red.on_transcript(
        final("can I take the long number on your card please", channel="agent", uid="a0")
    )
    assert ask.event.text.startswith("can I take")
    (answer,) = red.on_transcript(final("4472 1234, 5678", start_ms=4000))
    assert answer.event.text == "[CARD]"
    (sort_q,) = red.on_transcript(
        final("and the sort code?", start_ms=9000, channel="agent", uid="a1")
    )
    (sort_a,) = red.on_transcript(final("20 45 67", start_ms=11_000, uid="c1"))
    assert sort_a.event.text == "[SORT_CODE]"
    # and it wears off: long after, six digits are six digits
    later = red.on_transcript(final("it was 204567", start_ms=200_000, uid="c2"))
    assert texts(later) in ([], ["it was 204567"])


def test_partials_are_redacted_and_digit_runs_blanked() -> None:
    red = CallRedactor(RedactionOptions())
    (out,) = red.on_transcript(partial("so it's 4472 1234 56", stable="so it's 4472"))
    e = out.event
    assert not e.is_final and "4472" not in e.text and "4472" not in e.stable_text
    assert e.stable_text == "so it's [NUMBER]"
    (email,) = red.on_transcript(partial("my email is john at gmail dot com"))
    assert email.event.text == "my email is [EMAIL]"
    (calm,) = red.on_transcript(partial("I called 3 times", stable="I called"))
    assert calm.event.text == "I called 3 times"


def test_a_final_whose_words_do_not_spell_its_text_is_redacted_by_its_text() -> None:
    red = CallRedactor(RedactionOptions())
    event = replace(final("hello there"), text="hello there 4472 1234 5678 9016")
    (out,) = red.on_transcript(event)
    assert out.event.text == "hello there [CARD]" and out.timeless
    (span,) = out.spans
    assert (span.start_ms, span.end_ms) == (event.start_ms, event.end_ms)  # all of it
    no_words = replace(event, words=())
    (out,) = red.on_transcript(no_words)
    assert out.event.text == "hello there [CARD]"


def test_disabled_redaction_passes_everything_through() -> None:
    red = CallRedactor(RedactionOptions(enabled=False))
    event = final("4472 1234 5678 9016")
    assert red.on_transcript(event)[0].event is event
    assert red.on_transcript(final("it's 4472"))[0].event.text == "it's 4472"


def test_no_card_digits_survive_a_whole_conversation() -> None:
    red = CallRedactor(RedactionOptions())
    script = [
        ("agent", "thanks, can I take the card number please?"),
        ("customer", "yeah, it's four four seven two"),
        ("customer", "one two three four"),
        ("customer", "five six seven eight"),
        ("customer", "nine oh one six"),
        ("agent", "and the expiry?"),
        ("customer", "oh four, twenty six"),
        ("agent", "and the three digits on the back?"),
        ("customer", "seven three one"),
    ]
    out: list[TranscriptEvent] = []
    t = 0
    for i, (channel, text) in enumerate(script):
        items = red.on_transcript(final(text, start_ms=t, channel=channel, uid=f"u{i}"))  # type: ignore[arg-type]
        out += [r.event for r in items]
        t += 3000
    out += [r.event for r in red.due("customer", received_ms=t, idle=True, final=True)]
    said = " ".join(e.text for e in out if e.channel == "customer")
    assert len([e for e in out if e.channel == "customer"]) == 6
    assert not leaks(said, CARD, run=4)
    assert "731" not in said.replace(" ", "") and "seven three one" not in said
    assert "[EXPIRY]" in said and "[CVV]" in said


def test_a_card_silences_its_sentence_and_what_follows_it() -> None:
    red = CallRedactor(RedactionOptions())
    event = final("Hello there. Sure, it's fine for 4472 1234 5678 9016", start_ms=10_000)
    (out,) = red.on_transcript(event)
    (audio,) = out.audio
    words = event.words
    # from the end of "there." (the sentence before) to the end of the final
    assert (audio.start_ms, audio.end_ms) == (words[1].end_ms, event.end_ms)
    assert audio.words_ms == words[6].start_ms and out.trailing_pci
    (email,) = red.on_transcript(final("mail john at gmail dot com please", start_ms=20_000))
    (a,) = email.audio
    assert not email.trailing_pci and a.end_ms == email.event.words[-1].start_ms


def test_digits_misheard_after_card_data_are_silenced_to_the_end_of_the_final() -> None:
    red = CallRedactor(RedactionOptions())
    red.on_transcript(final("it's 4472 1234 5678 9016", start_ms=0))
    event = final("Okay, it's 443. Time 7 .0.", start_ms=5000, uid="c1")
    (out,) = red.on_transcript(event)
    assert out.event.text == "Okay, it's [CVV]. Time 7 .0."
    (audio,) = out.audio
    assert audio.end_ms == event.end_ms and out.trailing_pci


def test_a_partial_ending_in_an_address_still_being_spoken_hides_it() -> None:
    red = CallRedactor(RedactionOptions())
    for said in ("john dot smith", "john.smith", "john .smith at", "john dot smith at gmail dot"):
        (out,) = red.on_transcript(partial(f"my email is {said}", stable="my email is"))
        assert out.event.text == "my email is [EMAIL]", said
        assert "smith" not in out.event.stable_text
    # ordinary partials with "at" are left alone, and the final decides on its own
    for calm in ("I am at home now", "I called three times", "look at the bill"):
        (out,) = red.on_transcript(partial(calm))
        assert out.event.text == calm
