"""Distress lexicon: the shipped data file and the phrase matcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_assist.config import load_settings
from voice_assist.distress.estimator import resolve_path
from voice_assist.distress.lexicon import Lexicon, lexicon_from_dict, load_lexicon, normalize
from voice_assist.errors import ConfigError


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon(resolve_path(load_settings(env={}).distress.lexicon_path))


def causes(lex: Lexicon, text: str) -> list[str]:
    return [h.cause for h in lex.match(text)]


def test_shipped_lexicon_has_the_required_categories(lexicon: Lexicon) -> None:
    tags = {c.cause for c in lexicon.categories}
    assert {"anger", "repeat_contact", "escalation"} <= tags
    for event in ("bereavement", "divorce", "move", "job_loss", "illness"):
        assert f"life_event:{event}" in tags
    assert all(c.weight > 0 and c.phrases for c in lexicon.categories)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("This is the third time I've called about this!", ["repeat_contact", "repeat_contact"]),
        ("I want to speak to your supervisor.", ["escalation"]),
        ("Just cancel it.", ["escalation"]),
        ("Honestly this is so frustrating, it's ridiculous", ["anger", "anger"]),
        ("My mother passed away in March.", ["life_event:bereavement"]),
        ("We're getting divorced", ["life_event:divorce"]),
        ("I was made redundant last week", ["life_event:job_loss"]),
        ("she's in hospital with cancer", ["life_event:illness", "life_event:illness"]),
        ("we were evicted", ["life_event:move"]),
        ("Could you check my balance please", []),
        ("I lost my card", []),
        ("Sort it out today or I am cancelling!", ["escalation"]),
        ("We separated in May and the bill is in his name", ["life_event:divorce"]),
        ("I'm disabled and can't get to the shop", ["life_event:illness"]),
        # the same words where they are no distress (phone menus, routine support)
        ("Press star to cancel, or pound to confirm.", []),
        ("Enter the keywords separated by commas.", []),
        ("Your account is disabled until you verify it.", []),
        ("The card terminal at the shop declined it.", []),
        ("The diagnosis tool says the router is fine.", []),
    ],
)
def test_matching(lexicon: Lexicon, text: str, expected: list[str]) -> None:
    assert causes(lexicon, text) == expected


def test_curly_apostrophes_and_contractions(lexicon: Lexicon) -> None:
    assert normalize("I\u2019ve called; don't", {"i've": "i have", "don't": "do not"}) == [
        "i",
        "have",
        "called",
        "do",
        "not",
    ]
    assert "repeat_contact" in causes(lexicon, "I\u2019ve already called twice")


def test_overlapping_phrases_of_one_cause_count_once(lexicon: Lexicon) -> None:
    hits = [h for h in lexicon.match("I have called three times") if h.cause == "repeat_contact"]
    assert len(hits) == 1 and hits[0].phrase == "i have called"


def test_wildcards() -> None:
    lex = lexicon_from_dict({"category": [{"cause": "x", "weight": 1.0, "phrases": ["annoy*"]}]})
    assert [h.phrase for h in lex.match("so annoying and annoyed")] == ["annoy*", "annoy*"]


def test_bad_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_lexicon(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[category]]\ncause = 'x'\nphrases = ['a']\n")
    with pytest.raises(ConfigError):
        load_lexicon(bad)
    bad.write_text("[[category]]\ncause = 'x'\nweight = 1\nphrases = ['a']\nwords = 2\n")
    with pytest.raises(ConfigError):
        load_lexicon(bad)
    bad.write_text("not toml [")
    with pytest.raises(ConfigError):
        load_lexicon(bad)
