"""Redaction benchmark: are card numbers and other PII kept out of everything stored?

``voice-assist bench redaction --json`` prints one JSON object:

* ``card_recall_text``: generated Luhn-valid card numbers written as Whisper writes them
  (:mod:`benchmarks.redaction_sets`: grouped, hyphenated, digit by digit, words, "oh",
  "double", pairs, in 2-4 separate finals), in sentences with and without a keyword,
  through the per-call redactor: caught when every word of the number is redacted.
  ``recall_text`` gives every category, ``precision`` the share of redacted spans that
  hold PII (over cards, the other categories and the negative sentences).
* ``card_recall_asr``: card numbers read by espeak-ng (digit by digit, "oh", doubles,
  pairs, in two pieces with a pause between), with the other categories and negative
  sentences, in two-leg calls run through the real live path (engine, call session,
  Whisper, store) as fast as the decoder keeps up: a card is caught when the stored
  finals over its audio hold a placeholder and not seven of its digits in a row
  (PCI lets a receipt show six and four).  ``card_leaks_asr`` counts the others that
  leak; ``precision_asr`` is over the placeholders in the stored finals.
* ``unredacted_in_store``: card numbers of both sets of which anything is left in the
  store: seven digits in a row in any text column of any row of their call (the
  utterances, the events the replay feed and REST detail read, the call row), or less
  than 90% of the card's voiced audio silent in the FLAC (``audio_card_muted_share_*``).
* ``false_redactions_per_hour_calm``: placeholders in the finals of real calm English
  speech without PII (the English calls of ``benchmarks/data/coach`` and
  ``benchmarks/data/real_en``, see ``scripts/fetch_calm_speech.py``), per hour of audio;
  ``null`` with ``calm_note`` when they are not fetched.
  ``false_redactions_per_hour_bundled``: the same over the two bundled synthetic calls
  (demo and ``bench asr``'s), against their scripts (their account numbers are PII,
  redacted rightly).

Nothing is tuned to single items; the sets are regenerated from ``--seed``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.redaction_sets import (
    RATE_HZ,
    Item,
    Rendered,
    render,
    speech_calls,
    text_set,
)
from voice_assist import events as ev
from voice_assist.config import PROJECT_ROOT, Settings, load_settings
from voice_assist.redaction import CallRedactor
from voice_assist.redaction.numbers import digit_runs

HELP = "PCI/PII redaction: card recall as text and through the ASR, precision, calm false hits"

SEED = 19
LEAK_RUN = 7
CARD_TARGET = 0.98
MUTED_MIN_SHARE = 0.9
COACH_DATA = PROJECT_ROOT / "benchmarks" / "data" / "coach"
REAL_EN = PROJECT_ROOT / "benchmarks" / "data" / "real_en"
BUNDLED = (
    PROJECT_ROOT / "benchmarks" / "data" / "bench_call_en.flac",
    PROJECT_ROOT / "voice_assist" / "data" / "demo_call.wav",
)
FINAL_GAP_MS = 1200
WORD_MS = 300


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def spoken_digits(text: str) -> str:
    return "".join(r.digits for r in digit_runs(text.split()))


def leaked(text: str, secret: str, run: int = LEAK_RUN) -> bool:
    digits = spoken_digits(text)
    run = min(run, len(secret))
    return any(secret[i : i + run] in digits for i in range(len(secret) - run + 1))


def placeholder(word: str) -> bool:
    return "[" in word and "]" in word


# -- text set ------------------------------------------------------------------------------------


def _final(
    call_id: str, channel: str, uid: str, toks: Sequence[str], start_ms: int
) -> ev.TranscriptEvent:
    words = tuple(
        ev.Word(text=t, start_ms=start_ms + i * WORD_MS, end_ms=start_ms + i * WORD_MS + 250,
                probability=0.9)
        for i, t in enumerate(toks)
    )  # fmt: skip
    end_ms = words[-1].end_ms + 200 if words else start_ms
    text = " ".join(toks)
    return ev.TranscriptEvent(
        call_id=call_id, t_ms=end_ms, channel=channel, utterance_id=uid,  # type: ignore[arg-type]
        is_final=True, text=text, stable_text=text, start_ms=start_ms, end_ms=end_ms,
        words=words,
    )  # fmt: skip


def run_text_item(item: Item, settings: Settings, call_id: str) -> tuple[list[Any], list[Any]]:
    """(published events, per final: set of redacted word indices of the original)."""
    red = CallRedactor(settings.redaction)
    published: list[Any] = []
    covered: dict[str, set[int]] = defaultdict(set)
    t = 0
    finals = []
    for n, (channel, toks) in enumerate(item.finals):
        e = _final(call_id, channel, f"u{n}", [w for w, _ in toks], t)
        finals.append(e)
        out = red.on_transcript(e)
        t = e.end_ms + FINAL_GAP_MS
        out += red.due(channel, received_ms=t, idle=True)
        for r in out:
            published.append(r)
    for channel in ev.CHANNELS:
        published += red.due(channel, received_ms=t + 10**6, idle=True, final=True)
    for r in published:
        for s in r.spans:
            covered[r.event.utterance_id].update(range(s.start, s.end))
    return published, [covered[f"u{n}"] for n in range(len(item.finals))]


def score_text(items: Sequence[Item], settings: Settings, store: Any) -> dict[str, Any]:
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    by_form: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    tp = fp = 0
    negatives_hit = 0
    store_leaks = 0
    for k, item in enumerate(items):
        call_id = f"text-{k:05d}"
        published, covered = run_text_item(item, settings, call_id)
        cats = {c for _, toks in item.finals for _, c in toks if c is not None}
        for cat in cats:
            ok = all(
                i in covered[n]
                for n, (_, toks) in enumerate(item.finals)
                for i, (_, c) in enumerate(toks)
                if c == cat
            )
            totals[cat] += 1
            hits[cat] += ok
            if cat == "card" and item.kind == "card":
                form = item.form.split("+")[0]
                by_form[form][0] += ok
                by_form[form][1] += 1
        for r in published:
            n = int(r.event.utterance_id[1:])
            toks = item.finals[n][1]
            for s in r.spans:
                if any(toks[i][1] is not None for i in range(s.start, s.end)):
                    tp += 1
                else:
                    fp += 1
                    negatives_hit += item.kind == "negative"
        if store is not None:
            rec = store.recorder(call_id, agent_id="bench", source="file", backpressure=True)
            for r in published:
                rec.on_event(r.event)
            rec.close("end_of_text")
        if item.kind == "card" and any(leaked(r.event.text, item.secret) for r in published):
            store_leaks += 1
    recall = {c: round(hits[c] / totals[c], 4) for c in sorted(totals)}
    return {
        "card_recall_text": recall.get("card"),
        "recall_text": recall,
        "items_text": dict(sorted(totals.items())),
        "card_recall_text_by_form": {f: round(a / b, 4) for f, (a, b) in sorted(by_form.items())},
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "spans_text": tp + fp,
        "false_spans_text": fp,
        "false_spans_in_negatives": negatives_hit,
        "negatives_text": sum(1 for i in items if i.kind == "negative"),
        "card_leaks_text": store_leaks,
    }


# -- ASR set --------------------------------------------------------------------------------------


async def run_pipeline(
    settings: Settings,
    calls: Sequence[dict[str, np.ndarray]],
    *,
    store: Any = None,
    model: Any = None,
    agent_id: str = "bench-redaction",
) -> tuple[list[str], list[list[ev.TranscriptEvent]], Any]:
    """Run each call's legs through the live path; (call ids, published finals, model)."""
    from voice_assist.runtime.engine import Engine
    from voice_assist.runtime.filefeed import feed_legs

    engine = await Engine.start(settings, store=store, model=model)
    ids: list[str] = []
    finals: list[list[ev.TranscriptEvent]] = []
    try:
        for legs in calls:
            got: list[ev.TranscriptEvent] = []

            def sink(event: ev.Event, got: list[ev.TranscriptEvent] = got) -> None:
                if isinstance(event, ev.TranscriptEvent) and event.is_final:
                    got.append(event)

            session = engine.open_call(agent_id=agent_id, source="file", sink=sink)
            await feed_legs(session, dict(legs))  # type: ignore[arg-type]
            ids.append(session.call_id)
            finals.append(got)
    finally:
        await engine.close()
    return ids, finals, engine.model


def _region_finals(
    finals: Sequence[ev.TranscriptEvent], channel: str, start_ms: int, end_ms: int
) -> list[ev.TranscriptEvent]:
    return [
        f for f in finals if f.channel == channel and f.start_ms < end_ms and start_ms < f.end_ms
    ]


def _placeholder_words(finals: Sequence[ev.TranscriptEvent]) -> list[tuple[str, ev.Word]]:
    return [(f.channel, w) for f in finals for w in f.words if placeholder(w.text)]


def _stored_texts(store: Any, call_id: str) -> list[str]:
    """Every text column of every row of ``call_id``, in any table of the store."""
    import sqlalchemy as sa

    from voice_assist.store import schema

    out: list[str] = []
    with store.engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            if "call_id" not in table.c:
                continue
            for row in conn.execute(sa.select(table).where(table.c.call_id == call_id)):
                out += [v for v in row if isinstance(v, str)]
    return out


def _muted_share(archived: np.ndarray, speech: np.ndarray, start: int, end: int) -> float:
    """Share of the voiced 20 ms frames of ``speech[start:end]`` that are silent archived."""
    hop = RATE_HZ // 50
    voiced = muted = 0
    for a in range(start, min(end, speech.size, archived.size) - hop + 1, hop):
        if np.sqrt(np.mean(speech[a : a + hop] ** 2)) < 0.02:
            continue
        voiced += 1
        muted += float(np.max(np.abs(archived[a : a + hop]))) < 2e-3
    return muted / voiced if voiced else 1.0


def score_asr(
    rendered: Sequence[Rendered],
    ids: Sequence[str],
    finals: Sequence[Sequence[ev.TranscriptEvent]],
    store: Any,
) -> dict[str, Any]:
    import soundfile as sf

    caught: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    leaks = 0
    tp = fp = 0
    store_leaks = 0
    shares: list[float] = []
    audio_leaks = 0
    missed: list[str] = []
    audio_missed: list[str] = []
    other_missed: list[str] = []
    for call, call_id, got in zip(rendered, ids, finals, strict=True):
        regions = []
        for channel, label, start, end, _item in call.secrets:
            kind, _, secret = label.partition(":")
            s_ms, e_ms = start * 1000 // RATE_HZ, end * 1000 // RATE_HZ
            regions.append((channel, kind, secret, s_ms, e_ms, start, end))
        # a card read in pieces is one card: join its segments
        joined: dict[tuple[str, str, str], list[int]] = {}
        for channel, kind, secret, s_ms, e_ms, _, _ in regions:
            key = (channel, kind, secret)
            span = joined.setdefault(key, [s_ms, e_ms])
            span[0], span[1] = min(span[0], s_ms), max(span[1], e_ms)
        for (channel, kind, secret), (s_ms, e_ms) in joined.items():
            near = _region_finals(got, channel, s_ms - 300, e_ms + 300)
            text = " ".join(f.text for f in near)
            has_ph = any(
                placeholder(w.text) and w.start_ms < e_ms + 300 and s_ms - 300 < w.end_ms
                for f in near
                for w in f.words
            )
            if kind == "email":
                leak = secret.lower() in text.lower()
            else:
                leak = leaked(text, secret, LEAK_RUN if kind == "card" else len(secret))
            totals[kind] += 1
            ok = has_ph and not leak
            caught[kind] += ok
            if not ok and kind != "card":
                other_missed.append(f"{kind} {call_id} {s_ms}-{e_ms} ms: {text[:200]}")
            if kind == "card":
                leaks += leak
                if not ok:
                    why = "leak" if leak else "no placeholder"
                    missed.append(f"{call_id} {s_ms}-{e_ms} ms ({why}): {text[:200]}")
        for channel, w in _placeholder_words(got):
            inside = any(
                ch == channel and w.start_ms < e + 500 and s - 500 < w.end_ms
                for ch, _, _, s, e, _, _ in regions
            )
            tp += inside
            fp += not inside
        texts = _stored_texts(store, call_id)
        cards = {secret for _, kind, secret, *_ in regions if kind == "card"}
        store_leaks += sum(any(leaked(t, c) for t in texts) for c in cards)
        path = store.audio_dir / f"{call_id}.flac"
        if path.exists():
            archived, _ = sf.read(str(path), dtype="float32", always_2d=True)
            for channel, kind, _, _, _, start, end in regions:
                if kind != "card":
                    continue
                col = 0 if channel == "customer" else 1
                share = _muted_share(archived[:, col], call.speech[channel], start, end)
                shares.append(share)
                if share < MUTED_MIN_SHARE:
                    audio_leaks += 1
                    s_ms, e_ms = start * 1000 // RATE_HZ, end * 1000 // RATE_HZ
                    audio_missed.append(f"{call_id} {s_ms}-{e_ms} ms: {share:.2f} muted")
    recall = {k: round(caught[k] / totals[k], 4) for k in sorted(totals)}
    return {
        "card_recall_asr": recall.get("card"),
        "recall_asr": recall,
        "items_asr": dict(sorted(totals.items())),
        "card_leaks_asr": leaks,
        "precision_asr": round(tp / (tp + fp), 4) if tp + fp else None,
        "placeholders_asr": tp + fp,
        "false_placeholders_asr": fp,
        "store_text_leaks_asr": store_leaks,
        "audio_card_muted_share_min": round(min(shares), 3) if shares else None,
        "audio_card_muted_share_mean": round(float(np.mean(shares)), 3) if shares else None,
        "audio_card_leaks": audio_leaks,
        "card_misses_asr": missed[:10],
        "audio_card_misses": audio_missed[:10],
        "other_misses_asr": other_missed[:10],
    }


# -- calm speech -----------------------------------------------------------------------------------


def calm_legs() -> tuple[list[dict[str, np.ndarray]], list[str]]:
    from benchmarks.asr import real_en_corpus
    from benchmarks.coach import fetched_calm_calls

    calls: list[dict[str, np.ndarray]] = []
    names: list[str] = []
    for spec in fetched_calm_calls(COACH_DATA):
        if spec.language != "en":  # the redactor's patterns and spoken numbers are English
            continue
        calls.append({"customer": spec.audio})
        names.append(spec.corpus)
    real = real_en_corpus(REAL_EN) if REAL_EN.is_dir() else None
    if real is not None:
        calls.append({str(ch): x for ch, x in real.legs.items()})
        names.append(real.name)
    return calls, names


def bundled_calls() -> tuple[list[dict[str, np.ndarray]], list[list[tuple[str, int, int, bool]]]]:
    """The bundled calls' legs and, per call, (channel, start_ms, end_ms, holds PII) of
    each scripted utterance (PII: a number of six digits or more, or an email)."""
    from voice_assist.audio.files import load_legs

    calls: list[dict[str, np.ndarray]] = []
    scripts: list[list[tuple[str, int, int, bool]]] = []
    for path in BUNDLED:
        legs = load_legs(path)
        meta = json.loads(path.with_suffix(".json").read_text())["utterances"]
        rows: list[tuple[str, int, int, bool]] = []
        for u in meta:
            start = int(u["start_ms"]) if "start_ms" in u else int(float(u["start_s"]) * 1000)
            end = int(u["end_ms"]) if "end_ms" in u else int(float(u["end_s"]) * 1000)
            pii = len(spoken_digits(u["text"])) >= 6 or "@" in u["text"]
            rows.append((str(u["channel"]), start, end, pii))
        calls.append({str(ch): x for ch, x in legs.items()})
        scripts.append(rows)
    return calls, scripts


def _hours(calls: Sequence[dict[str, np.ndarray]]) -> float:
    return sum(max(x.size for x in legs.values()) for legs in calls) / RATE_HZ / 3600


# -- the benchmark ----------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--text-cards", type=int, default=440, help="card numbers in the text set")
    p.add_argument("--asr-cards", type=int, default=50, help="card numbers read through the ASR")
    p.add_argument("--no-asr", action="store_true", help="the text set only (no model)")
    p.add_argument("--no-calm", action="store_true", help="skip the calm speech")


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from voice_assist.store import Store

    t0 = time.monotonic()
    settings = load_settings(getattr(args, "config", None))
    tmp = Path(tempfile.mkdtemp(prefix="bench-redaction-"))
    result: dict[str, Any] = {"seed": args.seed}
    try:
        store = Store.open(settings, data_dir=tmp / "data")
        items = text_set(args.seed, cards=args.text_cards, others=40, negatives=200)
        _log(f"[redaction bench] text set: {len(items)} items ...")
        result |= score_text(items, settings, store)
        model = None
        if not args.no_asr:
            if shutil.which("espeak-ng") is None:
                raise SystemExit("bench redaction needs espeak-ng (apt-get install espeak-ng)")
            calls = speech_calls(args.seed, cards=args.asr_cards, others=21, negatives=20)
            rendered = [render(call, seed=args.seed + i) for i, call in enumerate(calls)]
            audio_s = sum(r.legs["customer"].size for r in rendered) / RATE_HZ
            _log(f"[redaction bench] ASR set: {len(calls)} calls, {audio_s:.0f} s ...")
            ids, finals, model = await run_pipeline(
                settings, [r.legs for r in rendered], store=store
            )
            store.flush()
            result |= score_asr(rendered, ids, finals, store)
            result["asr_audio_s"] = round(audio_s, 1)
        texts_leaks = 0
        for k in range(len(items)):
            if items[k].kind == "card":
                texts_leaks += any(
                    leaked(t, items[k].secret) for t in _stored_texts(store, f"text-{k:05d}")
                )
        result["unredacted_in_store"] = (
            texts_leaks + result.get("store_text_leaks_asr", 0) + result.get("audio_card_leaks", 0)
        )
        store.close()
        if not args.no_calm and not args.no_asr:
            result |= await _calm(settings, model)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    card = result.get("card_recall_asr")
    result["target_card_recall_asr"] = CARD_TARGET
    result["target_met"] = bool(
        card is not None and card >= CARD_TARGET and result["unredacted_in_store"] == 0
    )
    result["cpu_count"] = os.cpu_count()
    result["wall_s"] = round(time.monotonic() - t0, 1)
    return result


async def _calm(settings: Settings, model: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    calls, names = calm_legs()
    if calls:
        _log(f"[redaction bench] calm speech: {_hours(calls):.2f} h ...")
        _, finals, model = await run_pipeline(settings, calls, model=model)
        hits = sum(len(_placeholder_words(f)) for f in finals)
        out["false_redactions_per_hour_calm"] = round(hits / _hours(calls), 2)
        out["calm_hours"] = round(_hours(calls), 3)
        out["calm_corpora"] = sorted(set(names))
        out["false_redactions_calm"] = hits
    else:
        out["false_redactions_per_hour_calm"] = None
        out["calm_note"] = (
            f"no calm speech corpus in {COACH_DATA} or {REAL_EN}: fetch them with "
            "python scripts/fetch_calm_speech.py and python scripts/fetch_real_speech.py"
        )
        _log(f"[redaction bench] {out['calm_note']}")
    bundled, scripts = bundled_calls()
    _, finals, _ = await run_pipeline(settings, bundled, model=model)
    false = right = 0
    for got, rows in zip(finals, scripts, strict=True):
        for channel, w in _placeholder_words(got):
            pii = any(
                ch == channel and p and w.start_ms < e + 500 and s - 500 < w.end_ms
                for ch, s, e, p in rows
            )
            right += pii
            false += not pii
    out["false_redactions_per_hour_bundled"] = round(false / _hours(bundled), 2)
    out["bundled_hours"] = round(_hours(bundled), 3)
    out["bundled_pii_redacted"] = right
    return out


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0
