"""Open prompts of one call: ids, TTL, rate limit and the cap on open prompts.

Rules (no prompt storm):

- at least ``min_gap_ms`` between two prompts of the same kind;
- at most ``max_open`` prompts open at once: a new prompt displaces the least important
  open one (the oldest among equals) when it is at least as important, else it is dropped;
- a prompt expires ``ttl_ms`` after it was raised.

Importance: pause_and_acknowledge > be_present > return_to_solving > script.
Prompt ids are deterministic per call: ``f"{call_id}-p{n}"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from voice_assist.events import Prompt, PromptClear, PromptClearReason, PromptKind

Severity = Literal["info", "warn", "urgent"]

PRIORITY: dict[PromptKind, int] = {
    "pause_and_acknowledge": 3,
    "be_present": 2,
    "return_to_solving": 1,
    "script": 0,
}


@dataclass(slots=True, kw_only=True)
class OpenPrompt:
    """A prompt on the agent's screen, with what the coach needs to know about it."""

    prompt: Prompt
    expires_ms: int
    trigger: str = ""
    """What raised it, e.g. ``"overtalk"`` or ``"process_first"`` for be_present."""
    episode_ids: set[str] = field(default_factory=set)
    shown: bool = False

    @property
    def kind(self) -> PromptKind:
        return self.prompt.kind

    @property
    def prompt_id(self) -> str:
        return self.prompt.prompt_id


class PromptBook:
    """Raises, tracks and clears the prompts of one call."""

    def __init__(self, *, call_id: str, ttl_ms: int, min_gap_ms: int, max_open: int) -> None:
        self._call_id = call_id
        self._ttl_ms = max(0, ttl_ms)
        self._min_gap_ms = max(0, min_gap_ms)
        self._max_open = max(1, max_open)
        self._n = 0
        self._open: dict[str, OpenPrompt] = {}
        self._last_raised_ms: dict[PromptKind, int] = {}

    def gap_ok(self, kind: PromptKind, t_ms: int) -> bool:
        """Whether a prompt of ``kind`` may be raised at ``t_ms`` (the same-kind gap)."""
        last = self._last_raised_ms.get(kind)
        return last is None or t_ms - last >= self._min_gap_ms

    def raise_prompt(
        self,
        *,
        kind: PromptKind,
        severity: Severity,
        text: str,
        suggested_phrase: str,
        evidence: Mapping[str, object],
        t_ms: int,
        episode_id: str | None = None,
        trigger: str = "",
        replace_same_kind: bool = False,
    ) -> tuple[list[PromptClear | Prompt], OpenPrompt | None]:
        """Raise a prompt if the rules allow it.

        Returns the events (clears of displaced prompts, then the prompt) and the open
        prompt, or ``([], None)`` when it was rate-limited or dropped at the cap.
        ``replace_same_kind`` clears open prompts of the same kind first ("superseded").
        """
        if not self.gap_ok(kind, t_ms):
            return [], None
        out: list[PromptClear | Prompt] = []
        if replace_same_kind:
            out.extend(self.clear_where(lambda p: p.kind == kind, "superseded", t_ms))
        if len(self._open) >= self._max_open:
            victim = min(self._open.values(), key=lambda p: PRIORITY[p.kind])
            if PRIORITY[victim.kind] > PRIORITY[kind]:
                return out, None
            cleared = self.clear(victim.prompt_id, "superseded", t_ms)
            if cleared is not None:
                out.append(cleared)
        prompt = Prompt(
            call_id=self._call_id,
            t_ms=t_ms,
            prompt_id=f"{self._call_id}-p{self._n}",
            kind=kind,
            severity=severity,
            text=text,
            suggested_phrase=suggested_phrase,
            evidence=dict(evidence),
            ttl_ms=self._ttl_ms,
            episode_id=episode_id,
        )
        self._n += 1
        self._last_raised_ms[kind] = t_ms
        entry = OpenPrompt(
            prompt=prompt,
            expires_ms=t_ms + self._ttl_ms,
            trigger=trigger,
            episode_ids={episode_id} if episode_id else set(),
        )
        self._open[prompt.prompt_id] = entry
        out.append(prompt)
        return out, entry

    def get(self, prompt_id: str) -> OpenPrompt | None:
        return self._open.get(prompt_id)

    def open_prompts(self, kind: PromptKind | None = None) -> list[OpenPrompt]:
        return [p for p in self._open.values() if kind is None or p.kind == kind]

    def clear(self, prompt_id: str, reason: PromptClearReason, t_ms: int) -> PromptClear | None:
        """Close one open prompt; ``None`` when it is not open."""
        if self._open.pop(prompt_id, None) is None:
            return None
        return PromptClear(call_id=self._call_id, t_ms=t_ms, prompt_id=prompt_id, reason=reason)

    def clear_where(
        self, pred: Callable[[OpenPrompt], bool], reason: PromptClearReason, t_ms: int
    ) -> list[PromptClear]:
        out = []
        for entry in [p for p in self._open.values() if pred(p)]:
            cleared = self.clear(entry.prompt_id, reason, t_ms)
            if cleared is not None:
                out.append(cleared)
        return out

    def expire(self, t_ms: int) -> list[tuple[OpenPrompt, PromptClear]]:
        """Close the prompts whose TTL has run out by ``t_ms``."""
        out = []
        for entry in [p for p in self._open.values() if p.expires_ms <= t_ms]:
            cleared = self.clear(entry.prompt_id, "expired", t_ms)
            if cleared is not None:
                out.append((entry, cleared))
        return out
