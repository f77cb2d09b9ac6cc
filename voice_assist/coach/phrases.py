"""The phrase library: what the prompts say, loaded from a TOML data file.

The file (``voice_assist/data/coach_phrases.toml`` by default, ``coach.phrases_path`` in the
config) holds the instruction text of every prompt kind, the suggested phrases for
``pause_and_acknowledge`` grouped by the distress episode's cause, and the better lines for
each script nudge.  Its header comment describes the layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice_assist.coach.script_lines import SCRIPT_KINDS, ScriptKind
from voice_assist.config import read_toml
from voice_assist.errors import ConfigError

DEFAULT_PHRASES_PATH = Path(__file__).resolve().parent.parent / "data" / "coach_phrases.toml"

PROMPT_KEYS: tuple[str, ...] = (
    "pause_and_acknowledge",
    "be_present_overtalk",
    "be_present_process_first",
    "return_to_solving",
)
"""Keys of the ``[prompts.*]`` tables: be_present has two triggers; script nudges have their
own texts under ``[script.*]``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptText:
    """Instruction text of one prompt kind and its suggested phrase (may be empty)."""

    text: str
    phrase: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CauseGroup:
    """Pause-and-acknowledge phrases for one family of distress causes."""

    name: str
    match: tuple[str, ...]
    """Cause prefixes (lower case) that select this group."""
    priority: int
    phrases: tuple[str, ...]
    instruction: str | None = None
    """Replaces the pause instruction for this group when set."""

    def phrase(self, n: int) -> str:
        """The ``n``-th phrase, rotating (so one call does not repeat the same line)."""
        return self.phrases[n % len(self.phrases)]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptAdvice:
    """What to say about one kind of script line, and the better line(s) to suggest."""

    kind: ScriptKind
    text: str
    better: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PhraseLibrary:
    """Prompt texts, cause groups and script advice; immutable, shared by all calls."""

    prompts: Mapping[str, PromptText]
    groups: tuple[CauseGroup, ...]
    """Every group but the default one."""
    default: CauseGroup
    scripts: Mapping[ScriptKind, ScriptAdvice]

    def prompt(self, key: str) -> PromptText:
        """The text of one of :data:`PROMPT_KEYS`."""
        return self.prompts[key]

    def script(self, kind: ScriptKind) -> ScriptAdvice:
        return self.scripts[kind]

    def group_for(self, causes: Sequence[str]) -> CauseGroup:
        """The group for an episode's causes.

        A cause selects every group with a prefix it starts with (case-insensitive); the
        highest ``priority`` wins, then the earlier cause, then the longer prefix.
        Unknown or no causes give the default group.
        """
        best: tuple[int, int, int] | None = None
        chosen = self.default
        for i, raw in enumerate(causes):
            cause = str(raw).strip().lower()
            if not cause:
                continue
            for group in self.groups:
                for prefix in group.match:
                    if cause.startswith(prefix):
                        rank = (group.priority, -i, len(prefix))
                        if best is None or rank > best:
                            best, chosen = rank, group
        return chosen


def load_phrases(path: str | Path = DEFAULT_PHRASES_PATH) -> PhraseLibrary:
    """Load and check a phrase file.

    Raises
    ------
    ConfigError
        The file is missing or not TOML, a required table is missing, or a table has an
        unknown key, a wrong type or no phrases.
    """
    path = Path(path)
    return parse_phrases(read_toml(path, "phrase file"), origin=str(path))


def parse_phrases(data: Mapping[str, Any], *, origin: str = "phrases") -> PhraseLibrary:
    """Build a :class:`PhraseLibrary` from already-parsed TOML (see :func:`load_phrases`)."""
    _keys(data, {"prompts", "causes", "script"}, origin, required={"prompts", "causes", "script"})
    prompts_raw = _table(data["prompts"], f"{origin}: [prompts]")
    _keys(prompts_raw, set(PROMPT_KEYS), f"{origin}: [prompts]", required=set(PROMPT_KEYS))
    prompts: dict[str, PromptText] = {}
    for key in PROMPT_KEYS:
        where = f"{origin}: [prompts.{key}]"
        table = _table(prompts_raw[key], where)
        _keys(table, {"text", "phrase"}, where, required={"text"})
        prompts[key] = PromptText(
            text=_text(table["text"], where), phrase=_text(table.get("phrase", ""), where, True)
        )

    causes_raw = _table(data["causes"], f"{origin}: [causes]")
    if "default" not in causes_raw:
        raise ConfigError(f"{origin}: [causes.default] is required")
    groups: list[CauseGroup] = []
    default: CauseGroup | None = None
    for name, raw in causes_raw.items():
        where = f"{origin}: [causes.{name}]"
        table = _table(raw, where)
        _keys(table, {"match", "priority", "phrases", "instruction"}, where, required={"phrases"})
        match = tuple(p.strip().lower() for p in _strings(table.get("match", []), where, True))
        priority = table.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ConfigError(f"{where}: priority must be an integer")
        instruction = table.get("instruction")
        group = CauseGroup(
            name=name,
            match=tuple(p for p in match if p),
            priority=priority,
            phrases=_strings(table["phrases"], where),
            instruction=None if instruction is None else _text(instruction, where),
        )
        if name == "default":
            default = group
        else:
            groups.append(group)
    assert default is not None

    scripts_raw = _table(data["script"], f"{origin}: [script]")
    _keys(scripts_raw, set(SCRIPT_KINDS), f"{origin}: [script]", required=set(SCRIPT_KINDS))
    scripts: dict[ScriptKind, ScriptAdvice] = {}
    for kind in SCRIPT_KINDS:
        where = f"{origin}: [script.{kind}]"
        table = _table(scripts_raw[kind], where)
        _keys(table, {"text", "better"}, where, required={"text", "better"})
        scripts[kind] = ScriptAdvice(
            kind=kind, text=_text(table["text"], where), better=_strings(table["better"], where)
        )
    return PhraseLibrary(prompts=prompts, groups=tuple(groups), default=default, scripts=scripts)


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table")
    return value


def _keys(table: Mapping[str, Any], allowed: set[str], where: str, *, required: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}")
    missing = sorted(required - set(table))
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing}")


def _text(value: Any, where: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or not (allow_empty or value.strip()):
        raise ConfigError(f"{where}: expected a non-empty string, not {value!r}")
    return value.strip()


def _strings(value: Any, where: str, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not (allow_empty or value):
        raise ConfigError(f"{where}: expected a non-empty list of strings")
    return tuple(_text(v, where) for v in value)
