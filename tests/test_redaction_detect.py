"""Redaction detectors on words: spoken numbers, each category, and ordinary speech left alone."""

from __future__ import annotations

import pytest
from redaction_util import words_of

from voice_assist.config import RedactionOptions
from voice_assist.redaction import detect, luhn_check_digit, luhn_valid
from voice_assist.redaction.numbers import digit_runs

OPTIONS = RedactionOptions()
CARD = "4472123456789016"  # Luhn-valid


def found(text: str, options: RedactionOptions = OPTIONS) -> list[tuple[str, str]]:
    """(category, the words it covers) for each span detected in ``text``."""
    words = words_of(text)
    return [
        (s.category, " ".join(w.text for w in words[s.start : s.end]))
        for s in detect(words, options=options).spans
    ]


# -- spoken numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("4472 1234 5678 9016", CARD),
        ("4472-1234-5678-9016.", CARD),
        ("4, 4, 7, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 6.", CARD),
        ("4-4-7-2-1-2-3-4-5-6-7-8-9-0-1-6", CARD),
        ("four four seven two one two three four five six seven eight nine zero one six", CARD),
        ("forty-four seventy-two twelve thirty-four fifty-six seventy-eight ninety sixteen", CARD),
        ("forty four seventy two, twelve thirty four", "44721234"),
        ("double four seven two", "4472"),
        ("triple seven oh one", "777" + "01"),
        ("oh seven seven double oh nine", "077009"),
        ("four hundred and twelve", "412"),
        ("two thousand and five", "2005"),
        ("nineteen eighty four", "1984"),
        ("um, 44, uh, 72", "4472"),
        ("+44 7700 900123", "447700900123"),
        ("４４７２ １２３４", "44721234"),  # full-width digits
        ("٤٤٧٢", "4472"),  # Arabic-Indic digits
    ],
)
def test_spoken_and_written_numbers_become_digits(text: str, digits: str) -> None:
    assert "".join(r.digits for r in digit_runs(text.split())) == digits


@pytest.mark.parametrize(
    "text",
    [
        "it cost $45.99",
        "about 1,299 pounds",
        "we open at 9:30",
        "on the 14th",
        "call at 10am",
        "5% off",
        "Oh, I see",
        "oh no",
        "double check it",
    ],
)
def test_amounts_times_ordinals_and_interjections_are_not_digit_runs(text: str) -> None:
    assert digit_runs(text.split()) == []


def test_luhn() -> None:
    assert luhn_valid(CARD) and luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4472123456789010") and not luhn_valid("") and not luhn_valid("4x")
    assert luhn_valid("453914880343646" + luhn_check_digit("453914880343646"))


# -- card numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "yes it's 4472 1234 5678 9016 thanks",
        "4472123456789016",
        "it's four four seven two one two three four five six seven eight nine oh one six",
        "forty-four seventy-two twelve thirty-four fifty-six seventy-eight ninety sixteen",
        "the number 3782 822463 10005 please",  # Amex, 15 digits
        "Sure, it's 4449 -3439 -2188 -1681",  # a slow reading, as Whisper writes it
        "it's 4472 1234 5678 for 016",  # "for": a 4 the ASR heard as a word
        "Okay, it's 4,4,7,2,1,2,I'm 3,4,5,6, 7,8,9,0,1,6.",  # broken by a misheard word
    ],
)
def test_luhn_valid_cards_are_found_without_any_keyword(text: str) -> None:
    assert [c for c, _ in found(text)] == ["card"]


def test_a_card_keyword_catches_a_misheard_number_and_pieces() -> None:
    # one digit wrong (no longer Luhn-valid) after "card number"
    assert found("my card number is 4472 1234 5678 9010") == [("card", "4472 1234 5678 9010")]
    assert found("the long number on the card 4472 1234") == [("card", "4472 1234")]
    # 16 digits that fail Luhn are a card anyway (an ASR error), never a phone number
    assert [c for c, _ in found("it's 4472 1234 5678 9010")] == ["card"]


def test_expiry_and_security_code_near_a_card() -> None:
    text = "card 4472 1234 5678 9016 expiry 04/26 and the security code is 123"
    assert found(text) == [
        ("card", "4472 1234 5678 9016"),
        ("expiry", "04/26"),
        ("cvv", "123"),
    ]
    # without keywords, right after the card number
    assert [c for c, _ in found("4472 1234 5678 9016 then oh four twenty six then 123")] == [
        "card",
        "expiry",
        "cvv",
    ]
    assert found("it expires in April twenty six") == [("expiry", "April twenty six")]


def test_cvv_and_expiry_need_a_card_or_a_keyword() -> None:
    assert found("my flight was 370 and the gate 0426") == []
    assert found("the three digits on the back are 7 3 1") == [("cvv", "7 3 1")]


# -- ids, bank details, emails, phones ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category", "covered"),
    [
        ("my social security number is 123-45-6789", "national_id", "123-45-6789"),
        ("social security one two three four five six seven eight nine", "national_id",
         "one two three four five six seven eight nine"),
        ("my NI number is QQ 12 34 56 C", "national_id", "QQ 12 34 56 C"),
        ("it's QQ123456C", "national_id", "QQ123456C"),
        ("and it's X-D732241-C", "national_id", "X-D732241-C"),
        ("sort code 20-45-67", "sort_code", "20-45-67"),
        ("the sort code is two oh four five six seven", "sort_code",
         "two oh four five six seven"),
        ("account number 12345678", "bank_account", "12345678"),
        ("my email is john dot smith at gmail dot com", "email",
         "john dot smith at gmail dot com"),
        ("My email is john .smith at gmail .com.", "email", "john .smith at gmail .com."),
        ("write to j.smith@example.co.uk please", "email", "j.smith@example.co.uk"),
        ("j s m i t h at yahoo dot co dot uk", "email", "j s m i t h at yahoo dot co dot uk"),
        ("My email is john.smithatgmail.com", "email", "john.smithatgmail.com"),
        ("it's john .jones .outlook .com", "email", "john .jones .outlook .com"),
        ("the sort code is 4355 made", "sort_code", "4355"),
        ("call me on 07700 900123", "phone", "07700 900123"),
        ("it's plus four four seven seven double oh nine oh oh one two three", "phone",
         "four four seven seven double oh nine oh oh one two three"),
        ("my number is 415 555 0132", "phone", "415 555 0132"),
        ("my mobile is 555 0132 1", "phone", "555 0132 1"),
        ("the reference was 9 8 7 6 5 4 3 2", "long_number", "9 8 7 6 5 4 3 2"),
    ],
)  # fmt: skip
def test_categories(text: str, category: str, covered: str) -> None:
    assert found(text) == [(category, covered)]


@pytest.mark.parametrize(
    "text",
    [
        "I called 3 times on the 14th and nobody helped",
        "it was 45 pounds and then 120 pounds the month after",
        "I've had this card since 2019",
        "we moved here in 1998",
        "it costs £1,299.99 a year",
        "the meeting is at 3:30 on the 21st",
        "flight 370 from gate 12",
        "I have two kids and three dogs",
        "twenty twenty four was a bad year",
        "meet me at the station",
        "look at the website dot com thing",
        "number 10 Downing Street",
        "I waited forty five minutes on hold",
        "my account has been overcharged",
        "Oh, well, one of those days",
        "I waited for 2 days and went to bbc.co.uk",
        "from 9 to 5 on weekdays",
    ],
)
def test_ordinary_sentences_with_numbers_are_left_alone(text: str) -> None:
    assert found(text) == []


def test_categories_can_be_turned_off() -> None:
    only_email = RedactionOptions(categories=("email",))
    text = "4472 1234 5678 9016 or john at gmail dot com"
    assert [c for c, _ in found(text, only_email)] == ["email"]
    assert found(text, RedactionOptions(enabled=False)) == []


def test_unknown_category_is_a_config_error() -> None:
    from voice_assist.config import load_settings
    from voice_assist.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown redaction.categories"):
        load_settings(env={"VOICE_ASSIST_REDACTION__CATEGORIES": "card,passwords"})


def test_spans_carry_the_word_times() -> None:
    words = words_of("my card is 4472 1234 5678 9016", start_ms=10_000)
    (span,) = detect(words, options=OPTIONS).spans
    assert (span.start, span.end) == (3, 7)
    assert (span.start_ms, span.end_ms) == (words[3].start_ms, words[6].end_ms)
    assert span.placeholder == "[CARD]"


def test_the_configs_category_list_is_the_detectors_own() -> None:
    from typing import get_args

    from voice_assist.config import REDACTION_CATEGORIES
    from voice_assist.redaction.spans import PLACEHOLDERS, Category

    assert get_args(Category) == REDACTION_CATEGORIES
    assert set(PLACEHOLDERS) >= set(REDACTION_CATEGORIES)
