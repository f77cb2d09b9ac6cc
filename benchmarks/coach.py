"""Coaching benchmark: are "pause and acknowledge" prompts trustworthy on whole calls?

``voice-assist bench coach --json`` runs the *live* path (the engine and call session
that ``analyze`` and the server use, audio pushed as fast as the decoder keeps up) over
whole calls built from real recordings, one speaker = one call's customer leg:

* **calm calls**: each speaker's calm clips of a corpus joined with ``GAP_S`` of silence
  (the corpora of ``scripts/fetch_calm_speech.py`` in ``benchmarks/data/coach``, and
  every Emo-DB development speaker's neutral and boredom sentences).  Every
  ``pause_and_acknowledge`` prompt on them is false; so is every supervisor alert.
* **agitated calls** (Emo-DB): a speaker calm first, then angry, calm again, angry again
  (:func:`agitated_layout`).  Each angry stretch is one agitated segment; it is caught
  when a prompt comes between its onset and ``CATCH_GRACE_S`` after its end.
* **angry from the start** (Emo-DB): only the speaker's anger sentences; the time to the
  first prompt.
* **mixed (mono) calls**: two calm speakers of one language taking turns on the customer
  leg, as a mono recording puts customer and agent (:func:`mixed_calls`), opened as a
  mixed leg.  Every prompt on them is false; so is every distress episode, which is what
  the leg would prompt with ``coach.mixed_leg_prompts = true``.

Figures (per corpus and overall): calm hours of customer audio, false prompts and false
alerts per hour with an exact Poisson 95% interval, urgent ones (the supervisor alert
of the episode was ``urgent``), recall of agitated segments, onset -> prompt p50/p95,
and the angry-from-the-start caller's first prompt.  The clip-level arousal AUC/UAR
(LOSO) of ``bench distress`` is added (``--no-clip-eval`` skips it) so that it is seen beside
the call-level figures; it ranks whole clips against a baseline fitted on all of a
speaker's clips, which is *not* how the live coach decides (see docs).

The calls are development data (the fetched corpora and Emo-DB development speakers):
tune on them, report held-out figures separately.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from voice_assist import events as ev
from voice_assist.config import PROJECT_ROOT, Settings, load_settings

HELP = "call-level coaching: false prompts per calm hour, recall and onset->prompt latency"

COACH_DATA = PROJECT_ROOT / "benchmarks" / "data" / "coach"
EMODB_DIR = PROJECT_ROOT.parent / "shared" / "data" / "emodb-dev"
GAP_S = 0.7
"""Silence between two clips of one caller (the agent's turn is on the other leg)."""
CATCH_GRACE_S = 5.0
"""A prompt this long after an agitated segment's end still counts as catching it."""
EMODB_CALM = ("N", "L")  # neutral, boredom (Langeweile)
EMODB_ANGER = "W"  # anger (Wut)
RATE_HZ = 16000

MIXED_MAX_TURNS = 8
"""Clips of each voice in a mixed call."""

CallKind = Literal["calm", "agitated", "angry_from_start", "mixed"]


@dataclass(frozen=True, slots=True)
class CallSpec:
    """One benchmark call's customer leg and where its agitated speech is."""

    corpus: str
    speaker: str
    kind: CallKind
    language: str
    audio: np.ndarray
    calm_s: float
    """Seconds of calm clips (silences between clips not counted)."""
    agitated_s: tuple[tuple[float, float], ...] = ()
    """(start, end) of each agitated segment, seconds into the leg."""
    clips_at: tuple[tuple[int, int], ...] = ()
    """Calm calls: [start, end) samples of each clip in ``audio`` (for mixed calls)."""

    @property
    def name(self) -> str:
        return f"{self.corpus}/{self.speaker}/{self.kind}"


@dataclass(frozen=True, slots=True)
class PromptSeen:
    t_s: float
    urgent: bool
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallOutcome:
    spec: CallSpec
    prompts: tuple[PromptSeen, ...]
    alerts: tuple[float, ...]
    """Times of supervisor distress alerts."""
    episodes: tuple[float, ...] = ()
    """Start times of distress episodes (prompted or not)."""


# -- building calls ---------------------------------------------------------------------


def join(clips: Sequence[np.ndarray], gap_s: float = GAP_S) -> tuple[np.ndarray, list[float]]:
    """Clips joined with ``gap_s`` of silence; also each clip's start in seconds."""
    gap = np.zeros(int(round(gap_s * RATE_HZ)), np.float32)
    parts: list[np.ndarray] = []
    starts: list[float] = []
    pos = 0
    for clip in clips:
        if parts:
            parts.append(gap)
            pos += gap.size
        starts.append(pos / RATE_HZ)
        parts.append(clip.astype(np.float32))
        pos += clip.size
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), starts


def clip_spans(clips: Sequence[np.ndarray], starts: Sequence[float]) -> tuple[tuple[int, int], ...]:
    """[start, end) samples of each joined clip."""
    return tuple(
        (round(t * RATE_HZ), round(t * RATE_HZ) + c.size)
        for c, t in zip(clips, starts, strict=True)
    )


def mixed_calls(calm: Sequence[CallSpec], max_turns: int = MIXED_MAX_TURNS) -> list[CallSpec]:
    """Two calm speakers of one language taking turns on one leg, as on a mono recording.

    Calm calls of a language, in name order, are paired (first with second, third with
    fourth); each pair's clips alternate, up to ``max_turns`` of each voice.
    """
    out: list[CallSpec] = []
    for language in sorted({c.language for c in calm}):
        group = sorted(
            (c for c in calm if c.language == language and c.clips_at), key=lambda c: c.name
        )
        for a, b in zip(group[::2], group[1::2], strict=False):
            turns = min(len(a.clips_at), len(b.clips_at), max_turns)
            clips: list[np.ndarray] = []
            for i in range(turns):
                for voice in (a, b):
                    start, end = voice.clips_at[i]
                    clips.append(voice.audio[start:end])
            audio, _ = join(clips)
            calm_s = sum(c.size for c in clips) / RATE_HZ
            pair = f"{a.corpus}-{a.speaker}+{b.corpus}-{b.speaker}"
            out.append(CallSpec(f"mixed_{language}", pair, "mixed", language, audio, calm_s))
    return out


def agitated_layout(
    calm: Sequence[np.ndarray], angry: Sequence[np.ndarray]
) -> tuple[np.ndarray, float, tuple[tuple[float, float], ...]]:
    """calm (2/3) -> angry (first half) -> calm (the rest) -> angry (second half).

    Returns the leg, its calm seconds and the two agitated segments.
    """
    cut_calm = max(1, (2 * len(calm)) // 3)
    cut_angry = max(1, len(angry) // 2)
    blocks = [
        (False, list(calm[:cut_calm])),
        (True, list(angry[:cut_angry])),
        (False, list(calm[cut_calm:])),
        (True, list(angry[cut_angry:])),
    ]
    clips: list[np.ndarray] = []
    flags: list[bool] = []
    for angry_block, block in blocks:
        clips.extend(block)
        flags.extend([angry_block] * len(block))
    audio, starts = join(clips)
    segments: list[tuple[float, float]] = []
    for i, (clip, start) in enumerate(zip(clips, starts, strict=True)):
        if not flags[i]:
            continue
        end = start + clip.size / RATE_HZ
        if i > 0 and flags[i - 1] and segments:
            segments[-1] = (segments[-1][0], end)
        else:
            segments.append((start, end))
    calm_s = sum(c.size for c, f in zip(clips, flags, strict=True) if not f) / RATE_HZ
    return audio, calm_s, tuple(segments)


def _load16k(path: Path) -> np.ndarray:
    from voice_assist.distress.evaluation import load_audio_16k

    return load_audio_16k(path, telephone=False)


def fetched_calm_calls(folder: Path) -> list[CallSpec]:
    """One calm call per (corpus, speaker) of the fetched manifest."""
    manifest = folder / "manifest.tsv"
    if not manifest.is_file():
        return []
    groups: dict[tuple[str, str, str], list[Path]] = {}
    with manifest.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["emotion"] not in ("calm", "neutral"):
                continue
            key = (row["corpus"], row["speaker"], row.get("language") or "en")
            groups.setdefault(key, []).append(folder / row["file"])
    calls = []
    for (corpus, speaker, language), files in sorted(groups.items()):
        clips = [_load16k(f) for f in files]
        audio, starts = join(clips)
        calm_s = sum(c.size for c in clips) / RATE_HZ
        spans = clip_spans(clips, starts)
        calls.append(CallSpec(corpus, speaker, "calm", language, audio, calm_s, clips_at=spans))
    return calls


def emodb_calls(folder: Path) -> list[CallSpec]:
    """Per Emo-DB speaker: a calm call, an agitated call and an angry-from-the-start call."""
    if not folder.is_dir():
        return []
    by_speaker: dict[str, dict[str, list[Path]]] = {}
    for f in sorted(folder.glob("*.wav")):
        if len(f.stem) < 6 or not f.stem[:2].isdigit():
            continue
        by_speaker.setdefault(f.stem[:2], {}).setdefault(f.stem[5], []).append(f)
    calls = []
    for speaker, by_emotion in sorted(by_speaker.items()):
        calm = [_load16k(f) for e in EMODB_CALM for f in by_emotion.get(e, [])]
        angry = [_load16k(f) for f in by_emotion.get(EMODB_ANGER, [])]
        if calm:
            audio, starts = join(calm)
            calm_s = sum(c.size for c in calm) / RATE_HZ
            spans = clip_spans(calm, starts)
            calls.append(CallSpec("emodb_de", speaker, "calm", "de", audio, calm_s, clips_at=spans))
        if calm and len(angry) >= 2:
            audio, calm_s, segments = agitated_layout(calm, angry)
            calls.append(CallSpec("emodb_de", speaker, "agitated", "de", audio, calm_s, segments))
        if angry:
            audio, starts = join(angry)
            end = starts[-1] + angry[-1].size / RATE_HZ
            calls.append(
                CallSpec("emodb_de", speaker, "angry_from_start", "de", audio, 0.0, ((0.0, end),))
            )
    return calls


# -- scoring (no I/O) ---------------------------------------------------------------------


def poisson_ci95(count: int, exposure_h: float) -> tuple[float, float]:
    """Exact (Garwood) 95% interval of a Poisson rate per hour."""
    from scipy.stats import chi2

    if exposure_h <= 0:
        return (math.nan, math.nan)
    lo = 0.0 if count == 0 else float(chi2.ppf(0.025, 2 * count)) / 2
    hi = float(chi2.ppf(0.975, 2 * count + 2)) / 2
    return (round(lo / exposure_h, 2), round(hi / exposure_h, 2))


def caught_at(outcome: CallOutcome, segment: tuple[float, float]) -> float | None:
    """Time of the first prompt that catches ``segment``, or None."""
    start, end = segment
    for p in outcome.prompts:
        if start <= p.t_s <= end + CATCH_GRACE_S:
            return p.t_s
    return None


def false_prompts(outcome: CallOutcome) -> list[PromptSeen]:
    """Prompts outside every agitated segment (and its grace)."""
    segs = outcome.spec.agitated_s
    return [p for p in outcome.prompts if not any(a <= p.t_s <= b + CATCH_GRACE_S for a, b in segs)]


def false_alerts(outcome: CallOutcome) -> list[float]:
    segs = outcome.spec.agitated_s
    return [t for t in outcome.alerts if not any(a <= t <= b + CATCH_GRACE_S for a, b in segs)]


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def summarise(outcomes: Sequence[CallOutcome]) -> dict[str, Any]:
    """The figures of a set of calls (one corpus, or all)."""
    calm_calls = [o for o in outcomes if o.spec.kind == "calm"]
    calm_h = sum(o.spec.calm_s for o in calm_calls) / 3600
    fp = [p for o in calm_calls for p in false_prompts(o)]
    fa = [t for o in calm_calls for t in false_alerts(o)]
    agitated = [o for o in outcomes if o.spec.kind == "agitated"]
    lead_in_h = sum(o.spec.calm_s for o in agitated) / 3600
    lead_in_fp = sum(len(false_prompts(o)) for o in agitated)
    latencies: list[float] = []
    segments = 0
    for o in agitated:
        for seg in o.spec.agitated_s:
            segments += 1
            t = caught_at(o, seg)
            if t is not None:
                latencies.append(max(0.0, t - seg[0]))
    angry = [o for o in outcomes if o.spec.kind == "angry_from_start"]
    first = [o.prompts[0].t_s if o.prompts else None for o in angry]
    mixed = [o for o in outcomes if o.spec.kind == "mixed"]
    out: dict[str, Any] = {
        "calm_calls": len(calm_calls),
        "calm_hours": round(calm_h, 3),
        "calm_false_prompts": len(fp),
        "calm_false_prompts_per_hour": round(len(fp) / calm_h, 2) if calm_h else None,
        "calm_false_prompts_per_hour_ci95": poisson_ci95(len(fp), calm_h) if calm_h else None,
        "calm_urgent_prompts": sum(1 for p in fp if p.urgent),
        "calm_false_alerts_per_hour": round(len(fa) / calm_h, 2) if calm_h else None,
        "calm_false_alerts_per_hour_ci95": poisson_ci95(len(fa), calm_h) if calm_h else None,
    }
    if agitated:
        out.update(
            {
                "agitated_segments": segments,
                "recall": round(len(latencies) / segments, 3) if segments else None,
                "onset_to_prompt_p50_s": _percentile(latencies, 50),
                "onset_to_prompt_p95_s": _percentile(latencies, 95),
                "agitated_calls_calm_part_false_prompts": lead_in_fp,
                "agitated_calls_calm_part_hours": round(lead_in_h, 3),
            }
        )
    if angry:
        known = [t for t in first if t is not None]
        out["angry_from_start_calls"] = len(angry)
        out["angry_from_start_prompted"] = len(known)
        out["angry_from_start_first_prompt_s"] = (
            round(max(known), 2) if len(known) == len(angry) else None
        )
        out["angry_from_start_first_prompt_each_s"] = [
            None if t is None else round(t, 2) for t in first
        ]
    if mixed:
        mixed_h = sum(o.spec.calm_s for o in mixed) / 3600
        episodes = sum(len(o.episodes) for o in mixed)
        out.update(
            {
                "mixed_calls": len(mixed),
                "mixed_hours": round(mixed_h, 3),
                "mixed_false_prompts": sum(len(o.prompts) for o in mixed),
                "mixed_episodes_per_hour": round(episodes / mixed_h, 2) if mixed_h else None,
                "mixed_episodes_per_hour_ci95": poisson_ci95(episodes, mixed_h)
                if mixed_h
                else None,
            }
        )
    return out


# -- running the live path ------------------------------------------------------------------


class _Seen:
    """A call's sink: its pause-and-acknowledge prompts and supervisor distress alerts."""

    def __init__(self) -> None:
        self.prompts: list[PromptSeen] = []
        self.alerts: list[tuple[float, bool]] = []
        self.episodes: list[float] = []

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Prompt) and event.kind == "pause_and_acknowledge":
            self.prompts.append(PromptSeen(event.t_ms / 1000, False, dict(event.evidence)))
        elif isinstance(event, ev.Alert) and event.kind == "distress_episode":
            self.alerts.append((event.t_ms / 1000, event.severity == "urgent"))
        elif isinstance(event, ev.DistressEpisode) and event.state == "start":
            self.episodes.append(event.t_ms / 1000)

    def outcome(self, spec: CallSpec) -> CallOutcome:
        """The prompt of an episode whose alert was urgent is an urgent prompt."""
        urgent_at = {round(t, 3) for t, urgent in self.alerts if urgent}
        prompts = tuple(
            PromptSeen(p.t_s, round(p.t_s, 3) in urgent_at, p.evidence) for p in self.prompts
        )
        alerts = tuple(t for t, _ in self.alerts)
        return CallOutcome(spec, prompts, alerts, tuple(self.episodes))


async def run_calls(settings: Settings, calls: Sequence[CallSpec]) -> list[CallOutcome]:
    """Each call through a fresh live session (one engine per language)."""
    from dataclasses import replace

    from voice_assist.runtime.engine import Engine
    from voice_assist.runtime.filefeed import feed_legs

    outcomes: list[CallOutcome] = []
    for language in sorted({c.language for c in calls}):
        lang_settings = replace(settings, asr=replace(settings.asr, language=language))
        engine = await Engine.start(lang_settings)
        try:
            for spec in [c for c in calls if c.language == language]:
                seen = _Seen()
                t0 = time.monotonic()
                meta = {"legs": "mixed"} if spec.kind == "mixed" else None
                session = engine.open_call(agent_id="bench", source="file", meta=meta, sink=seen)
                await feed_legs(session, {"customer": spec.audio})
                outcome = seen.outcome(spec)
                outcomes.append(outcome)
                _log(
                    f"{spec.name}: {spec.audio.size / RATE_HZ:.0f} s, "
                    f"{len(outcome.prompts)} prompts at {[round(p.t_s) for p in outcome.prompts]} "
                    f"({time.monotonic() - t0:.0f} s)"
                )
        finally:
            await engine.close()
    return outcomes


def _log(msg: str) -> None:
    print(f"[coach bench] {msg}", file=sys.stderr, flush=True)


def add_call_arguments(p: argparse.ArgumentParser) -> None:
    """--json and where the calls come from (shared with ``bench coach-curve``)."""
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--data", type=Path, default=COACH_DATA, help="fetched calm corpora folder")
    p.add_argument("--emodb", type=Path, default=EMODB_DIR, help="Emo-DB-style folder")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_call_arguments(p)
    p.add_argument(
        "--corpus", action="append", default=None, help="only these corpora (repeatable)"
    )
    p.add_argument("--calls-out", type=Path, default=None, help="write per-call results (JSON)")
    p.add_argument(
        "--no-clip-eval",
        action="store_true",
        help="skip the clip-level arousal AUC/UAR (in-sample and LOSO) of bench distress",
    )


def bench(args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings(getattr(args, "config", None))
    calls = fetched_calm_calls(Path(args.data)) + emodb_calls(Path(args.emodb))
    calls += mixed_calls([c for c in calls if c.kind == "calm"])
    if args.corpus:
        calls = [c for c in calls if c.corpus in set(args.corpus)]
    if not calls:
        raise SystemExit(
            f"no calls: fetch the corpora (python scripts/fetch_calm_speech.py) into {args.data}"
            f" and/or give --emodb"
        )
    t0 = time.monotonic()
    outcomes = asyncio.run(run_calls(settings, calls))
    result: dict[str, Any] = summarise(outcomes)
    corpora = sorted({o.spec.corpus for o in outcomes})
    result["corpora"] = {c: summarise([o for o in outcomes if o.spec.corpus == c]) for c in corpora}
    result["calm_max_false_prompts_per_hour_any_corpus"] = max(
        (v["calm_false_prompts_per_hour"] or 0.0 for v in result["corpora"].values()),
        default=None,
    )
    result["targets"] = {
        "calm_false_prompts_per_hour_every_corpus": "<= 1",
        "calm_urgent_prompts": 0,
        "recall": ">= 0.9",
        "onset_to_prompt_p95_s": "<= 4",
        "angry_from_start_first_prompt_s": "<= 10",
        "mixed_false_prompts": 0,
    }
    result["method"] = (
        f"live path as fast as possible; one speaker's clips = one customer leg, {GAP_S} s "
        f"between clips; a prompt catches an agitated segment from its onset to "
        f"{CATCH_GRACE_S} s after its end; calm hours count clip audio only"
    )
    if not args.no_clip_eval and Path(args.emodb).is_dir():
        from benchmarks.distress import clip_accuracy

        clip = clip_accuracy(settings, Path(args.emodb), peers=False)
        result["clip_eval"] = {k: clip[k] for k in ("eval", "loso")}
        result["clip_eval_note"] = (
            "clips ranked against a baseline fitted on all of a speaker's clips at once "
            "(the model's own z cap): not how the live coach decides"
        )
    result["wall_s"] = round(time.monotonic() - t0, 1)
    if args.calls_out:
        args.calls_out.write_text(
            json.dumps(
                [
                    {
                        "call": o.spec.name,
                        "audio_s": round(o.spec.audio.size / RATE_HZ, 1),
                        "agitated_s": o.spec.agitated_s,
                        "episodes_s": [round(t, 2) for t in o.episodes],
                        "prompts": [
                            {"t_s": round(p.t_s, 2), "urgent": p.urgent, "evidence": p.evidence}
                            for p in o.prompts
                        ],
                    }
                    for o in outcomes
                ],
                indent=1,
                default=str,
            )
        )
    return result


def run(args: argparse.Namespace) -> int:
    result = bench(args)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0
