"""The coach's phrase library: the data file, cause groups and validation."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from voice_assist.coach.acknowledgement import find_acknowledgement, names_feeling
from voice_assist.coach.phrases import (
    DEFAULT_PHRASES_PATH,
    PROMPT_KEYS,
    load_phrases,
    parse_phrases,
)
from voice_assist.coach.script_lines import SCRIPT_KINDS, ScriptLineDetector
from voice_assist.config import CoachOptions, load_settings
from voice_assist.errors import ConfigError


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    with DEFAULT_PHRASES_PATH.open("rb") as fh:
        return tomllib.load(fh)


def test_default_file_loads_completely() -> None:
    lib = load_phrases()
    assert set(lib.prompts) == set(PROMPT_KEYS)
    assert set(lib.scripts) == set(SCRIPT_KINDS)
    names = {g.name for g in lib.groups}
    for needed in ("anger", "repeat_contact", "escalation", "bereavement", "move", "job_loss"):
        assert needed in names
    assert {"illness", "divorce"} <= names
    assert lib.default.phrases


def test_every_pause_phrase_acknowledges_and_names_a_feeling() -> None:
    lib = load_phrases()
    for group in (*lib.groups, lib.default):
        for phrase in group.phrases:
            assert find_acknowledgement(phrase) is not None, (group.name, phrase)
            assert names_feeling(phrase), (group.name, phrase)


def test_better_lines_acknowledge_and_are_not_script_lines() -> None:
    lib = load_phrases()
    for advice in lib.scripts.values():
        for line in advice.better:
            assert find_acknowledgement(line) is not None, line
            det = ScriptLineDetector(repeat_window_ms=60000)
            assert det.on_agent_final(line, t_ms=0, after_complaint=True, distressed=True) == []


@pytest.mark.parametrize(
    ("causes", "group"),
    [
        (("anger",), "anger"),
        (("prosody:loud",), "anger"),
        (("prosody:fast", "prosody:pitch"), "anger"),
        (("repeat_contact",), "repeat_contact"),
        (("escalation",), "escalation"),
        (("life_event:bereavement",), "bereavement"),
        (("prosody:loud", "life_event:bereavement"), "bereavement"),
        (("LIFE_EVENT:Move",), "move"),
        (("life_event:move:abroad",), "move"),
        (("life_event:job_loss",), "job_loss"),
        (("life_event:illness",), "illness"),
        (("life_event:divorce",), "divorce"),
        (("life_event:lottery_win",), "life_event"),
        (("anger", "repeat_contact"), "repeat_contact"),
        (("something_new",), "default"),
        (("",), "default"),
        ((), "default"),
    ],
)
def test_group_for_cause(causes: tuple[str, ...], group: str) -> None:
    assert load_phrases().group_for(causes).name == group


def test_phrases_rotate() -> None:
    group = load_phrases().group_for(("anger",))
    assert group.phrase(0) != group.phrase(1)
    assert group.phrase(len(group.phrases)) == group.phrase(0)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["causes"].pop("default"),
        lambda d: d["causes"]["anger"].update(phrases=[]),
        lambda d: d["causes"]["anger"].update(colour="red"),
        lambda d: d["causes"]["anger"].update(priority="high"),
        lambda d: d["prompts"].pop("return_to_solving"),
        lambda d: d["script"]["stock_reply"].pop("better"),
        lambda d: d.update(extra={}),
        lambda d: d["prompts"]["pause_and_acknowledge"].update(text=""),
    ],
)
def test_invalid_phrase_data_is_a_config_error(raw: dict[str, Any], edit: Any) -> None:
    data = copy.deepcopy(raw)
    edit(data)
    with pytest.raises(ConfigError):
        parse_phrases(data)


def test_missing_or_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_phrases(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_phrases(bad)


def test_coach_options_in_default_toml_match_dataclass() -> None:
    settings = load_settings(env={})
    assert settings.coach == CoachOptions()
    assert settings.coach.metrics_interval_ms == 1000
    assert {f.name for f in dataclasses.fields(CoachOptions)} >= {
        "metrics_interval_ms",
        "max_open_prompts",
        "prompt_ttl_ms",
        "min_prompt_gap_ms",
    }
    assert settings.project_path(settings.coach.phrases_path) == DEFAULT_PHRASES_PATH
