"""Utterance detectors of the coach: acknowledgement, script lines, process talk."""

from __future__ import annotations

import pytest

from voice_assist.coach.acknowledgement import find_acknowledgement, names_feeling
from voice_assist.coach.process_talk import find_process_talk
from voice_assist.coach.script_lines import (
    ScriptLineDetector,
    count_i_understand,
    find_know_how_you_feel,
    find_taking_sides,
    is_complaint,
    stock_reply_word,
    understand_with_honorific,
)


@pytest.mark.parametrize(
    "text",
    [
        "I can see where that would be extremely frustrating.",
        "That sounds really frustrating.",
        "Oh, that must be so stressful for you",
        "I\u2019m so sorry to hear that.",
        "I'm very sorry for your loss.",
        "I can see why you're upset.",
        "I can only imagine.",
        "You must be really worried.",
        "That's awful, I'm sorry.",
        "How annoying!",
        "I understand why you'd be upset about that.",
        "No wonder you're fed up.",
        "I hear you.",
        "Sorry to hear that, let's get it fixed.",
    ],
)
def test_acknowledgements_are_found(text: str) -> None:
    assert find_acknowledgement(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Can I have your account number please?",
        "I'm sorry, can I have your account number?",
        "I can see your account here.",
        "I know how you feel.",
        "Fantastic!",
        "Let me check that for you.",
        "I hear you now, the line was bad.",
        "I don't understand the question.",
    ],
)
def test_non_acknowledgements(text: str) -> None:
    assert find_acknowledgement(text) is None


def test_acknowledgement_reports_feeling_and_offsets() -> None:
    text = "Right. I can see where that would be extremely frustrating."
    ack = find_acknowledgement(text)
    assert ack is not None
    assert ack.feeling == "frustrating"
    assert text[ack.start : ack.end] == ack.phrase
    assert ack.phrase.startswith("I can see")
    assert names_feeling("this is really worrying")
    assert not names_feeling("what is your postcode")


@pytest.mark.parametrize(
    "text",
    [
        "I know how you feel.",
        "I know exactly how you feel, sir",
        "I totally know what you're going through",
    ],
)
def test_know_how_you_feel(text: str) -> None:
    assert find_know_how_you_feel(text)


def test_i_understand_counting_and_honorific() -> None:
    assert count_i_understand("I understand. I totally understand.") == 2
    assert count_i_understand("I don't understand") == 0
    assert count_i_understand("") == 0
    assert understand_with_honorific("I understand, Mr. Smith.")
    assert understand_with_honorific("Mrs Jones, I understand.")
    assert understand_with_honorific("I understand, sir")
    assert understand_with_honorific("I understand the bill went up") is None


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Fantastic!", "fantastic"),
        ("Oh, perfect.", "perfect"),
        ("great", "great"),
        ("That's awesome", "awesome"),
        ("Okay, great, thanks for waiting", None),
        ("Great, I've fixed the bill for you", None),
        ("", None),
        ("Sorry", None),
    ],
)
def test_stock_reply_word(text: str, word: str | None) -> None:
    assert stock_reply_word(text) == word


@pytest.mark.parametrize(
    "text",
    [
        "Honestly, I'm angry with them too.",
        "They're useless in that department.",
        "Our billing team is completely hopeless.",
        "I'd be furious at them as well.",
        "They always mess things up.",
    ],
)
def test_taking_sides(text: str) -> None:
    assert find_taking_sides(text)


@pytest.mark.parametrize(
    "text",
    ["I can see why you'd be let down.", "They're looking into it now.", "The team is on it."],
)
def test_not_taking_sides(text: str) -> None:
    assert find_taking_sides(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "Can I have your account number?",
        "Let me check that for you.",
        "I just need to verify your identity.",
        "What's your date of birth?",
        "Could I take your postcode please",
    ],
)
def test_process_talk(text: str) -> None:
    assert find_process_talk(text)


@pytest.mark.parametrize(
    "text", ["That sounds really frustrating.", "I'm so sorry for your loss.", ""]
)
def test_not_process_talk(text: str) -> None:
    assert find_process_talk(text) is None


def test_complaints() -> None:
    assert is_complaint("This is the third time I've called and it's still not working!")
    assert is_complaint("You charged me twice")
    assert not is_complaint("I'd like to upgrade my plan please")


def test_detector_repetition_window() -> None:
    det = ScriptLineDetector(repeat_window_ms=60000)
    kw = {"after_complaint": False, "distressed": False}
    assert det.on_agent_final("I understand.", t_ms=0, **kw) == []
    found = det.on_agent_final("Yes, I understand.", t_ms=30000, **kw)
    assert [s.kind for s in found] == ["repeated_understand"]
    # counting starts afresh after a nudge; far apart does not count
    assert det.on_agent_final("I understand.", t_ms=200000, **kw) == []
    assert det.on_agent_final("I understand.", t_ms=300000, **kw) == []


def test_detector_stock_reply_needs_complaint_or_distress() -> None:
    det = ScriptLineDetector(repeat_window_ms=60000)
    assert det.on_agent_final("Perfect.", t_ms=0, after_complaint=False, distressed=False) == []
    found = det.on_agent_final("Perfect.", t_ms=0, after_complaint=True, distressed=False)
    assert [s.kind for s in found] == ["stock_reply"]
    found = det.on_agent_final("Great!", t_ms=0, after_complaint=False, distressed=True)
    assert [s.phrase for s in found] == ["great"]
