"""Typed, frozen events: the contract between pipeline stages.

Every event carries the ``call_id`` and ``t_ms``, a call-relative media time in
milliseconds (derived from sample counts, never from the wall clock).  Stages
exchange these objects only; JSON happens in :mod:`voice_assist.wire`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Channel = Literal["customer", "agent"]
CHANNELS: tuple[Channel, Channel] = ("customer", "agent")

DistressLevel = Literal["calm", "elevated", "high"]
PromptKind = Literal["pause_and_acknowledge", "be_present", "return_to_solving", "script"]
PromptClearReason = Literal["followed", "expired", "dismissed", "superseded", "call_ended"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every pipeline event."""

    call_id: str
    t_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    """One recognised word with call-relative times."""

    text: str
    start_ms: int
    end_ms: int
    probability: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptEvent(Event):
    """A partial (``is_final=False``) or final transcript of one utterance of one leg.

    ``stable_text`` is the prefix of a partial that two consecutive hypotheses agreed
    on (LocalAgreement); it never shrinks within one utterance.  Finals carry words.
    """

    channel: Channel
    utterance_id: str
    is_final: bool
    text: str
    start_ms: int
    end_ms: int
    stable_text: str = ""
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProsodyFrame(Event):
    """Windowed prosody of one leg (about 1 s window, hop 250 ms).

    Loudness in dB relative to the leg's own running level, F0 in semitones re 55 Hz
    (NaN when the window is unvoiced), spectral measures as documented per field.
    """

    channel: Channel
    features: Mapping[str, float]
    voiced: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DistressUpdate(Event):
    """Customer distress score in [0, 1] with the z-scores that drove it."""

    channel: Channel
    score: float
    level: DistressLevel
    provisional: bool
    features: Mapping[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class DistressEpisode(Event):
    """Start or end of a customer distress episode."""

    channel: Channel
    episode_id: str
    state: Literal["start", "end"]
    peak: float
    cause: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt(Event):
    """A coaching prompt for the agent, with the evidence that raised it."""

    prompt_id: str
    kind: PromptKind
    severity: Literal["info", "warn", "urgent"]
    text: str
    suggested_phrase: str
    evidence: Mapping[str, object]
    ttl_ms: int
    episode_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptClear(Event):
    prompt_id: str
    reason: PromptClearReason


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptAck(Event):
    """The agent's reaction to a prompt, sent from the overlay."""

    prompt_id: str
    action: Literal["shown", "dismissed", "followed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EmpathyScore(Event):
    """Empathy test so far: distress episodes and how (fast) the agent acknowledged them."""

    episodes: int
    acknowledged: int
    ack_latency_ms: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStarted(Event):
    agent_id: str
    source: str
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(Event):
    reason: str
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallMetrics(Event):
    """Per-call live metrics for the supervisor (every 1-2 s)."""

    distress: float
    distress_slope_per_s: float
    level: DistressLevel
    agent_talk_ratio: float
    agent_words_per_min: float
    overtalk_ms: int
    silence_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Overload(Event):
    """The transcriber is behind: partials are being degraded (never finals or audio)."""

    channel: Channel | None
    backlog_s: float
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineError(Event):
    """An error inside one call's pipeline; the call goes on unless ``fatal``."""

    channel: Channel | None
    code: str
    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert(Event):
    """Something a supervisor should look at (a distress episode, an unacknowledged prompt)."""

    alert_id: str
    kind: str
    severity: Literal["info", "warn", "urgent"]
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceActivity(Event):
    """A leg started (``speaking=True``) or stopped speaking, from the VAD."""

    channel: Channel
    speaking: bool
