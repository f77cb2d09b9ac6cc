"""Operating points of the distress path: false prompts per calm hour against recall and speed.

``voice-assist bench coach-curve --json`` builds the calls of ``bench coach`` (calm,
agitated and angry-from-the-start customer legs), computes each leg's prosody frames
once, then replays only the distress estimator for a list of settings.  Each
episode start stands for a ``pause_and_acknowledge`` prompt (the coach prompts on every
episode start of a customer leg that is not mixed), and its peak for the alert's
severity.

What it leaves out, so ``bench coach`` stays the figure of record: the words (final
transcripts: lexicon and speaking-rate evidence; the Emo-DB calls are German and carry
no lexicon hits, the English calm calls very few), and the coach's own prompt gap.  The
default point is printed first so that it can be compared with ``bench coach``.

Every point is judged on the same development calls; a point chosen here is chosen on
them, and the README says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.coach import (
    RATE_HZ,
    CallOutcome,
    CallSpec,
    PromptSeen,
    add_call_arguments,
    emodb_calls,
    fetched_calm_calls,
    summarise,
)
from voice_assist import events as ev
from voice_assist.config import DistressOptions, Settings, load_settings

HELP = "distress operating points replayed from the coach benchmark's prosody frames"
CHUNK_MS = 100

POINTS: tuple[dict[str, Any], ...] = (
    {},
    {"episode_strength_gain": 2.0},
    {"episode_strength_gain": 3.0},
    {"episode_min_ms": 2500, "rise_time_constant_ms": 500},
    {"episode_min_ms": 2500},
    {"episode_min_ms": 2000},
    {"rise_time_constant_ms": 500},
    {"episode_strength_gain": 4.0, "episode_min_ms": 4000},
    {"pool_voiced_ms": 2000},
    {"z_clip": 4.0},
)
"""Overrides of ``[distress]`` replayed by default (the first is the configured point)."""


def leg_frames(spec: CallSpec, settings: Settings) -> list[ev.ProsodyFrame]:
    """The customer leg's prosody frames, fed in live-sized chunks."""
    from voice_assist.prosody.tracker import ProsodyTracker

    tracker = ProsodyTracker(call_id=spec.name, channel="customer", options=settings.prosody)
    step = RATE_HZ * CHUNK_MS // 1000
    frames: list[ev.ProsodyFrame] = []
    for pos in range(0, spec.audio.size, step):
        frames.extend(tracker.feed(spec.audio[pos : pos + step]))
    frames.extend(tracker.finish())
    return frames


def replay(
    spec: CallSpec, frames: Sequence[ev.ProsodyFrame], options: DistressOptions, urgent_peak: float
) -> CallOutcome:
    """The prompts the estimator's episodes would raise on one leg (no words)."""
    from voice_assist.distress.estimator import DistressEstimator

    est = DistressEstimator(call_id=spec.name, options=options)
    prompts: list[PromptSeen] = []
    for frame in frames:
        for out in est.on_prosody(frame):
            if isinstance(out, ev.DistressEpisode) and out.state == "start":
                prompts.append(PromptSeen(out.t_ms / 1000, out.peak >= urgent_peak))
    return CallOutcome(spec, tuple(prompts), tuple(p.t_s for p in prompts))


def curve(
    settings: Settings, calls: Sequence[CallSpec], points: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    t0 = time.monotonic()
    frames = [leg_frames(c, settings) for c in calls]
    _log(f"prosody of {len(calls)} calls in {time.monotonic() - t0:.0f} s")
    rows = []
    for overrides in points:
        options = dataclasses.replace(settings.distress, **overrides)
        outcomes = [
            replay(c, f, options, settings.coach.urgent_alert_min_peak)
            for c, f in zip(calls, frames, strict=True)
        ]
        figures = summarise(outcomes)
        corpora = sorted({c.corpus for c in calls})
        per = {c: summarise([o for o in outcomes if o.spec.corpus == c]) for c in corpora}
        row = {
            "overrides": overrides,
            "calm_false_prompts_per_hour": figures["calm_false_prompts_per_hour"],
            "calm_false_prompts": figures["calm_false_prompts"],
            "calm_urgent_prompts": figures["calm_urgent_prompts"],
            "calm_max_false_prompts_per_hour_any_corpus": max(
                (v["calm_false_prompts_per_hour"] or 0.0 for v in per.values()), default=None
            ),
            "recall": figures.get("recall"),
            "onset_to_prompt_p50_s": figures.get("onset_to_prompt_p50_s"),
            "onset_to_prompt_p95_s": figures.get("onset_to_prompt_p95_s"),
            "angry_from_start_prompted": figures.get("angry_from_start_prompted"),
            "angry_from_start_first_prompt_each_s": figures.get(
                "angry_from_start_first_prompt_each_s"
            ),
            "false_prompt_calls": sorted(
                {o.spec.name for o in outcomes if o.spec.kind == "calm" and o.prompts}
            ),
        }
        rows.append(row)
        _log(json.dumps(row))
    return rows


def _log(msg: str) -> None:
    print(f"[coach curve] {msg}", file=sys.stderr, flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_call_arguments(p)
    p.add_argument(
        "--point",
        action="append",
        default=None,
        metavar="JSON",
        help="[distress] overrides of one point, e.g. '{\"episode_min_ms\": 2500}' (repeatable;"
        " default: a built-in list)",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    calls = fetched_calm_calls(Path(args.data)) + emodb_calls(Path(args.emodb))
    if not calls:
        raise SystemExit(f"no calls: run scripts/fetch_calm_speech.py (into {args.data})")
    try:
        points = [json.loads(p) for p in args.point] if args.point else list(POINTS)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--point is not JSON: {exc}") from exc
    known = {f.name for f in dataclasses.fields(DistressOptions)}
    for p in points:
        unknown = set(p) - known
        if not isinstance(p, dict) or unknown:
            raise SystemExit(f"--point: unknown [distress] keys {sorted(unknown)}")
    rows = curve(settings, calls, points)
    result = {
        "points": rows,
        "calm_hours": round(sum(c.calm_s for c in calls if c.kind == "calm") / 3600, 3),
        "method": "prosody frames once per call, distress estimator replayed per point; "
        "words left out; an episode start stands for a prompt",
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0
