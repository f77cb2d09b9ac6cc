"""config/default.toml and the option dataclasses say the same: the dataclasses are the
source of every default, the file shows them with their comments, and no value differs."""

from __future__ import annotations

import dataclasses
import tomllib
import typing

from voice_assist.config import DEFAULT_CONFIG_PATH, Settings, load_settings


def test_every_value_in_default_toml_equals_the_dataclass_default() -> None:
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    hints = typing.get_type_hints(Settings)
    differ = []
    for section, values in data.items():
        cls = hints[section]
        defaults = {
            f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            for f in dataclasses.fields(cls)
        }
        for key, value in values.items():
            want = defaults[key]
            got = tuple(value) if isinstance(value, list) else value
            if got != want:
                differ.append(f"{section}.{key}: file {got!r}, dataclass {want!r}")
    assert differ == []


def test_every_dataclass_field_appears_in_default_toml() -> None:
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    missing = [
        f"{section.name}.{f.name}"
        for section in dataclasses.fields(Settings)
        for f in dataclasses.fields(typing.get_type_hints(Settings)[section.name])
        if f.name not in data.get(section.name, {})
    ]
    assert missing == []


def test_loading_the_file_changes_nothing() -> None:
    assert load_settings(env={}) == Settings()
