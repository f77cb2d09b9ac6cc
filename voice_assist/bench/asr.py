"""ASR benchmark: streaming vs offline WER, final latency at 1x, calls per machine, RTF.

``voice-assist bench asr --json`` prints one JSON object:

* ``wer_stream`` / ``wer_offline``: WER of the live streaming path (the same engine
  and sessions as a live call, audio pushed as fast as possible) and of
  faster-whisper's own whole-file ``transcribe()`` with the same model and beam, on
  real speech (Emo-DB sentences, German, when ``../shared/data/emodb-dev`` is there)
  and on the bundled synthetic English support call.
* ``final_latency_p50_s`` / ``_p95_s``: one call at 1x; from the end of the last word
  of an utterance in the audio to its final transcript event.
* ``max_realtime_calls``: most simultaneous two-leg calls at 1x with p95 final latency
  <= 1.5 s and no growing backlog; ``limit`` says what stopped the next step.
* ``rtf`` (fast mode, one call) and ``peak_rss_mb``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice_assist import events as ev
from voice_assist.config import PROJECT_ROOT, Settings, load_settings

HELP = "ASR figures: streaming vs offline WER, final latency, max real-time calls, RTF"

BENCH_CALL = PROJECT_ROOT / "benchmarks" / "data" / "bench_call_en.flac"
EMODB_DIR = PROJECT_ROOT.parent / "shared" / "data" / "emodb-dev"
# The ten Emo-DB sentences (Burkhardt et al. 2005), by text code (characters 3-5 of a name).
EMODB_TEXT = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
LATENCY_BUDGET_S = 1.5
START_SPREAD_S = 8.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--emodb", type=Path, default=EMODB_DIR, help="Emo-DB style folder (real speech)"
    )
    p.add_argument("--emodb-clips", type=int, default=60, help="clips used for the real-speech WER")
    p.add_argument("--max-calls", type=int, default=12, help="upper bound of the capacity search")
    p.add_argument(
        "--call-s", type=float, default=45.0, help="seconds of the call used per capacity step"
    )
    p.add_argument("--skip-capacity", action="store_true", help="skip the (slow) capacity search")


def normalise(text: str) -> list[str]:
    return re.sub(r"[^\w' ]+", " ", text.lower()).split()


def wer(refs: list[str], hyps: list[str]) -> float:
    import jiwer

    r = [" ".join(normalise(x)) for x in refs]
    h = [" ".join(normalise(x)) for x in hyps]
    return float(jiwer.wer(" ".join(r), " ".join(h)))


@dataclass
class Corpus:
    name: str
    language: str
    legs: dict[ev.Channel, np.ndarray]
    reference: str


def emodb_corpus(folder: Path, limit: int) -> Corpus | None:
    from voice_assist.audio.files import load_legs

    if not folder.is_dir():
        return None
    files = sorted(f for f in folder.glob("*.wav") if f.name[2:5] in EMODB_TEXT)
    files = files[:: max(1, len(files) // limit)][:limit]
    gap = np.zeros(int(0.9 * 16000), np.float32)
    pieces, refs = [gap], []
    for f in files:
        pieces += [load_legs(f)["customer"], gap]
        refs.append(EMODB_TEXT[f.name[2:5]])
    return Corpus("emodb_de_real", "de", {"customer": np.concatenate(pieces)}, " ".join(refs))


def bench_call_corpus() -> tuple[Corpus, list[dict[str, Any]]]:
    from voice_assist.audio.files import load_legs

    meta = json.loads(BENCH_CALL.with_suffix(".json").read_text())["utterances"]
    legs = load_legs(BENCH_CALL)
    ref = " ".join(u["text"] for u in meta)
    return Corpus("bench_call_en_synthetic", "en", legs, ref), meta


# --------------------------------------------------------------------------- runs
@dataclass
class CallRun:
    finals: list[tuple[float, ev.TranscriptEvent]] = field(default_factory=list)
    overloads: int = 0
    t0: float = 0.0


def _settings(language: str) -> Settings:
    return load_settings(overrides={"asr": {"language": language}})


async def run_calls(
    engine: Any, corpus: Corpus, n: int, *, realtime: bool, seconds: float | None = None
) -> list[CallRun]:
    from voice_assist.runtime.filefeed import feed_legs

    runs = [CallRun() for _ in range(n)]
    legs = corpus.legs
    if seconds is not None:
        legs = {ch: x[: int(seconds * 16000)] for ch, x in legs.items()}

    def sink_for(run: CallRun) -> Callable[[ev.Event], None]:
        def sink(event: ev.Event) -> None:
            if isinstance(event, ev.TranscriptEvent) and event.is_final:
                run.finals.append((time.monotonic(), event))
            elif isinstance(event, ev.Overload):
                run.overloads += 1

        return sink

    # Real calls start independently: seeded uniform offsets over START_SPREAD_S, so the
    # copies of one recording do not end their utterances in lock-step.
    offsets = np.random.default_rng(0).uniform(0, START_SPREAD_S, n) if n > 1 else [0.0]

    async def one(i: int, run: CallRun) -> None:
        await asyncio.sleep(float(offsets[i]))
        session = engine.open_call(agent_id=f"bench{i}", source="file", sink=sink_for(run))
        run.t0 = time.monotonic()
        await feed_legs(session, legs, realtime=realtime)

    await asyncio.gather(*(one(i, r) for i, r in enumerate(runs)))
    return runs


def latencies(run: CallRun) -> list[float]:
    """Wall time from the last word's end (as fed at 1x) to the final event."""
    out = []
    for wall, event in run.finals:
        speech_end_ms = event.words[-1].end_ms if event.words else event.end_ms
        out.append(wall - (run.t0 + speech_end_ms / 1000))
    return out


def transcript(run: CallRun, channels: tuple[str, ...] = ("customer", "agent")) -> str:
    finals = sorted((e for _, e in run.finals if e.channel in channels), key=lambda e: e.start_ms)
    return " ".join(e.text for e in finals)


def offline_text(model: Any, corpus: Corpus, beam_size: int) -> str:
    texts = []
    for audio in corpus.legs.values():
        segments, _ = model.transcribe(audio, language=corpus.language, beam_size=beam_size)
        texts.append(" ".join(s.text for s in segments))
    return " ".join(texts)


def ordered_reference(corpus: Corpus, meta: list[dict[str, Any]] | None) -> str:
    if meta is None:
        return corpus.reference
    return " ".join(u["text"] for ch in corpus.legs for u in meta if u["channel"] == ch)


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from voice_assist.runtime.engine import Engine

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result: dict[str, Any] = {"machine_cores": _cores()}
    call, meta = bench_call_corpus()
    corpora: list[tuple[Corpus, list[dict[str, Any]] | None]] = [(call, meta)]
    real = emodb_corpus(args.emodb, args.emodb_clips)
    if real is not None:
        corpora.insert(0, (real, None))
    else:
        result["note"] = f"no real speech: {args.emodb} missing; WER on synthetic speech only"

    engines: dict[str, Engine] = {}
    per_corpus = {}
    for corpus, m in corpora:
        if corpus.language not in engines:
            engines[corpus.language] = await Engine.start(_settings(corpus.language))
        engine = engines[corpus.language]
        log(f"[asr bench] streaming {corpus.name} ({_dur(corpus):.0f} s) ...")
        t = time.perf_counter()
        (run,) = await run_calls(engine, corpus, 1, realtime=False)
        elapsed = time.perf_counter() - t
        stream_hyp = " ".join(transcript(run, (ch,)) for ch in corpus.legs)
        log(f"[asr bench] offline transcribe() {corpus.name} ...")
        ref = ordered_reference(corpus, m)
        off_same = offline_text(engine.model, corpus, engine.settings.asr.beam_size)
        per_corpus[corpus.name] = {
            "audio_s": round(_dur(corpus), 1),
            "wer_stream": round(wer([ref], [stream_hyp]), 4),
            "wer_offline": round(wer([ref], [off_same]), 4),
            "rtf": round(elapsed / _dur(corpus), 3),
        }
    result["corpora"] = per_corpus
    first = next(iter(per_corpus.values()))
    result["wer_stream"] = first["wer_stream"]
    result["wer_offline"] = first["wer_offline"]
    result["wer_corpus"] = next(iter(per_corpus))
    result["rtf"] = per_corpus[call.name]["rtf"]

    model = engines["en"].model
    for e in engines.values():
        await e.close()
    # live sections start from a fresh engine (same loaded model): no statistics carried over
    engine = await Engine.start(_settings("en"), model=model)
    log("[asr bench] one call at 1x for final latency ...")
    (run,) = await run_calls(engine, call, 1, realtime=True)
    lat = latencies(run)
    result["final_latency_p50_s"] = round(float(np.percentile(lat, 50)), 3)
    result["final_latency_p95_s"] = round(float(np.percentile(lat, 95)), 3)
    result["finals_one_call"] = len(lat)

    await engine.close()
    if not args.skip_capacity:
        result.update(await capacity(model, call, args, log))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["config"] = {
        "model": engine.settings.model.name,
        "device": engine.settings.model.device,
        "compute_type": engine.settings.model.compute_type,
        "cpu_threads": engine.settings.model.cpu_threads,
        "workers": engine.settings.model.workers,
        "beam_size": engine.settings.asr.beam_size,
        "min_window_ms": engine.settings.asr.min_window_ms,
        "end_silence_ms": engine.settings.asr.end_silence_ms,
    }
    return result


async def capacity(
    model: Any, call: Corpus, args: argparse.Namespace, log: Callable[[str], None]
) -> dict[str, Any]:
    from voice_assist.runtime.engine import Engine

    steps = []
    best = 0
    limit = f"search bound --max-calls {args.max_calls} reached"
    n = 1
    while n <= args.max_calls:
        log(f"[asr bench] capacity: {n} calls at 1x ...")
        # admission control is the load benchmark's subject; here every call is let in
        settings = load_settings(
            overrides={
                "asr": {"language": "en", "admit_max_final_wait_ms": 0, "admit_max_utilization": 0},
                "server": {"max_calls": 0},
            }
        )
        engine = await Engine.start(settings, model=model)
        t = time.perf_counter()
        shed_before = engine.pool.stats.partials_shed
        runs = await run_calls(engine, call, n, realtime=True, seconds=args.call_s)
        await engine.close()
        wall = time.perf_counter() - t
        lat = [x for r in runs for x in latencies(r)]
        p95 = float(np.percentile(lat, 95)) if lat else float("inf")
        tail = [x for r in runs for x in latencies(r)[-2:]]
        head = [x for r in runs for x in latencies(r)[:2]]
        growing = bool(tail and head and np.mean(tail) > np.mean(head) + 1.0)
        step = {
            "calls": n,
            "p95_final_latency_s": round(p95, 3),
            "p50_final_latency_s": round(float(np.percentile(lat, 50)), 3) if lat else None,
            "finals": len(lat),
            "partials_shed": engine.pool.stats.partials_shed - shed_before,
            "backlog_growing": growing,
            "wall_s": round(wall, 1),
        }
        steps.append(step)
        if p95 > LATENCY_BUDGET_S or growing:
            limit = (
                f"at {n} calls p95 final latency {p95:.2f} s"
                + (" and a growing backlog" if growing else "")
                + ": decoder CPU time (both cores busy with Whisper encoder/decoder)"
            )
            break
        best = n
        n = n + 1 if n < 4 else n + 2
    return {
        "max_realtime_calls": best,
        "capacity_limit": limit,
        "capacity_steps": steps,
        "capacity_method": (
            f"copies of the bench call at 1x, {args.call_s:g} s each, started at seeded "
            f"uniform offsets over {START_SPREAD_S:g} s; pass = p95 final latency <= "
            f"{LATENCY_BUDGET_S} s and no growing backlog"
        ),
    }


def _dur(corpus: Corpus) -> float:
    return max(x.size for x in corpus.legs.values()) / 16000


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0
