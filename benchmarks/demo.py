"""Demo-call benchmark: what Whisper hears of the bundled demo call, and how the coach reacts.

``voice-assist bench demo --json`` prints one JSON object.  The call
(``voice_assist/data/demo_call.wav``, made by ``scripts/make_demo_call.py``) goes through
the same streaming pipeline as a live call (:mod:`voice_assist.runtime.engine`, as
``voice-assist analyze`` runs it: the 8 kHz legs resampled to 16 kHz, Silero VAD,
streaming Whisper, prosody, distress, coach).  Per leg, ``wer`` is jiwer's WER of the
leg's final transcripts against the script's turns of that leg, both normalised with
Whisper's English normaliser (:func:`benchmarks.asr.wer`); ``target_met`` is every
leg's WER <= 10%.

``coach`` says whether the live coach reacts as the story intends:

* ``pause_in_upset``: a ``pause_and_acknowledge`` prompt is raised while the customer
  is upset (from the start of the first distressed turn to 5 s after the last one ends);
* ``pause_in_calm``: pause prompts raised anywhere else (the calm start and end);
  the story wants none;
* ``stock_reply_flagged``: a ``script`` prompt for the agent's one-word "Fantastic.";
* ``acknowledged``: the empathy test counts the agent's acknowledgement.

``--cast NAME`` (repeatable) also synthesises the call with another cast of voices
(:data:`benchmarks.demo_call.CASTS`, e.g. ``espeak-ng``, the demo's voices before
2026-12) into a temporary file and measures that; ``--audio FILE`` measures any
call recording with a ``.json`` timeline beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.asr import ref_words, wer
from voice_assist import events as ev

HELP = "demo call: per-leg WER against its script, and the coach's prompts on it"

WER_TARGET = 0.10
UPSET_TAIL_MS = 5000
LABELS_UPSET = ("distressed",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--cast",
        action="append",
        default=[],
        metavar="NAME",
        help="also synthesise and measure the call with this cast of voices (repeatable)",
    )
    p.add_argument(
        "--audio",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="also measure this call recording (its .json timeline beside it; repeatable)",
    )
    p.add_argument("--no-bundled", action="store_true", help="skip the bundled demo call itself")
    p.add_argument(
        "--texts", action="store_true", help="include each leg's reference and hypothesis text"
    )


def _events_summary(events: list[ev.Event], utterances: list[dict[str, Any]]) -> dict[str, Any]:
    upset = [u for u in utterances if u.get("label") in LABELS_UPSET]
    lo = min((u["start_ms"] for u in upset), default=0)
    hi = max((u["end_ms"] for u in upset), default=0) + UPSET_TAIL_MS
    prompts = [e for e in events if isinstance(e, ev.Prompt)]
    pauses = [p for p in prompts if p.kind == "pause_and_acknowledge"]
    scripts = [p for p in prompts if p.kind == "script"]
    empathy = [e for e in events if isinstance(e, ev.EmpathyScore)]
    episodes = [e for e in events if isinstance(e, ev.DistressEpisode)]
    last = empathy[-1] if empathy else None
    return {
        "prompts": [
            {
                "t_s": round(p.t_ms / 1000, 2),
                "kind": p.kind,
                **({"script": p.evidence.get("script")} if p.kind == "script" else {}),
                "text": p.text,
            }
            for p in prompts
        ],
        "episodes": [
            {"t_s": round(e.t_ms / 1000, 2), "state": e.state, "cause": list(e.cause)}
            for e in episodes
        ],
        "upset_span_s": [round(lo / 1000, 2), round(hi / 1000, 2)],
        "pause_in_upset": any(lo <= p.t_ms <= hi for p in pauses),
        "pause_in_calm": sum(not lo <= p.t_ms <= hi for p in pauses),
        "stock_reply_flagged": any(p.evidence.get("script") == "stock_reply" for p in scripts),
        "episodes_total": last.episodes if last else 0,
        "acknowledged": last.acknowledged if last else 0,
        "ack_latency_ms": list(last.ack_latency_ms) if last else [],
    }


async def measure_file(engine: Any, path: Path, *, texts: bool = False) -> dict[str, Any]:
    """One call recording through the live pipeline: per-leg WER and the coach's reaction."""
    from voice_assist.audio.files import load_legs
    from voice_assist.runtime.filefeed import feed_legs

    meta = json.loads(path.with_suffix(".json").read_text())
    utterances: list[dict[str, Any]] = meta["utterances"]
    legs = load_legs(path)
    events: list[ev.Event] = []
    session = engine.open_call(agent_id="bench-demo", source="file", sink=events.append)
    t = time.perf_counter()
    await feed_legs(session, legs, chunk_ms=engine.settings.audio.chunk_ms)
    elapsed = time.perf_counter() - t
    finals = sorted(
        (e for e in events if isinstance(e, ev.TranscriptEvent) and e.is_final),
        key=lambda e: e.start_ms,
    )
    per_leg: dict[str, Any] = {}
    for channel in ("customer", "agent"):
        refs = [u["text"] for u in utterances if u["channel"] == channel]
        hyps = [e.text for e in finals if e.channel == channel]
        leg: dict[str, Any] = {
            "wer": round(wer(refs, hyps, language="en"), 4),
            "ref_words": ref_words(refs, "en"),
        }
        if texts:
            leg["reference"] = " ".join(refs)
            leg["hypothesis"] = " ".join(hyps)
        per_leg[channel] = leg
    all_refs = [u["text"] for u in utterances]
    all_hyps = [e.text for e in finals]
    duration_s = max(x.size for x in legs.values()) / 16000
    return {
        "file": str(path),
        "cast": meta.get("cast", "?"),
        "voices": meta.get("voices", {}),
        "audio_s": round(duration_s, 1),
        "wer": round(wer(all_refs, all_hyps, language="en"), 4),
        "legs": per_leg,
        "target_met": all(leg["wer"] <= WER_TARGET for leg in per_leg.values()),
        "coach": _events_summary(events, utterances),
        "rtf": round(elapsed / duration_s, 3),
    }


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import demo_call
    from voice_assist.config import load_settings
    from voice_assist.runtime.engine import Engine

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result: dict[str, Any] = {"wer_target": f"every leg's WER <= {WER_TARGET:.0%}"}
    files: list[tuple[str, Path]] = []
    if not args.no_bundled:
        files.append(("bundled", demo_call.OUT_WAV))
    files += [(str(p), p) for p in args.audio]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cast:
            missing = demo_call.missing_tools(demo_call.CASTS[name])
            if missing:
                result.setdefault("skipped", {})[name] = f"not installed: {', '.join(missing)}"
                continue
            log(f"[demo bench] synthesising cast {name} ...")
            out = Path(tmp) / f"demo_{name}.wav"
            demo_call.write(name, out)
            files.append((f"cast:{name}", out))
        engine = await Engine.start(load_settings(overrides={"asr": {"language": "en"}}))
        calls = {}
        try:
            for label, path in files:
                log(f"[demo bench] streaming {label} ...")
                calls[label] = await measure_file(engine, path, texts=args.texts)
        finally:
            await engine.close()
    result["calls"] = calls
    if "bundled" in calls:
        bundled = calls["bundled"]
        result["wer_customer"] = bundled["legs"]["customer"]["wer"]
        result["wer_agent"] = bundled["legs"]["agent"]["wer"]
        result["target_met"] = bundled["target_met"]
    return result


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for label, call in result["calls"].items():
            legs = ", ".join(f"{ch} {leg['wer']:.1%}" for ch, leg in call["legs"].items())
            coach = call["coach"]
            print(
                f"{label}: WER {legs}; pause prompt in upset part: {coach['pause_in_upset']}, "
                f"in calm parts: {coach['pause_in_calm']}; stock reply flagged: "
                f"{coach['stock_reply_flagged']}; acknowledged {coach['acknowledged']}"
                f"/{coach['episodes_total']}"
            )
    return 0
