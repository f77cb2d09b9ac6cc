"""Distress benchmark: speed, update latency, arousal accuracy and two peers, in one run.

``voice-assist bench distress --json`` prints one JSON object:

* ``speed``: prosody + distress for one leg pinned to one CPU core: ``rtf_cpu`` (CPU
  seconds per second of audio; target <= 0.02), ``rtf_wall``, and the per-chunk cost.
* ``latency``: audio fed in ``chunk_ms`` chunks as a live leg would be; for every distress
  update, the time from the arrival of the audio that completes its window to the update
  (``chunk`` wait + compute): ``p50_ms``, ``p95_ms``, ``max_ms`` (target <= 250 ms), and
  ``update_interval_ms`` (the longest gap between updates in media time).
* ``eval``: ``voice-assist eval arousal`` on the development folder with the shipped weights,
  wideband and ``--telephone``.  The shipped weights were trained on these speakers, so these
  are in-sample; ``loso`` gives the honest figures: each speaker scored by a model trained on
  the other speakers only (``loso_hand``: the same with equal hand weights).
* ``peers`` (same clips, same run): openSMILE eGeMAPSv02 functionals + logistic regression,
  leave-one-speaker-out (``egemaps_lr``: scaler fitted on training speakers;
  ``egemaps_lr_spknorm``: features z-normalised within each speaker first), and the
  unsupervised per-speaker z-score of loudness + F0 (``zscore_loudness_f0``, UAR at z = 0).

opensmile and scikit-learn are development-only dependencies, imported here only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voice_assist.config import PROJECT_ROOT, Settings, load_settings

HELP = "distress figures: RTF, update latency, arousal AUC/UAR (+ LOSO) and peer methods"

EMODB_DIR = PROJECT_ROOT.parent / "shared" / "data" / "emodb-dev"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--data", type=Path, default=EMODB_DIR, help="Emo-DB-style folder")
    p.add_argument("--seconds", type=float, default=60.0, help="audio for the speed test")
    p.add_argument("--chunk-ms", type=int, default=20, help="live chunk size for latency")
    p.add_argument("--no-peers", action="store_true", help="skip the opensmile/sklearn peers")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    have_data = Path(args.data).is_dir() and any(Path(args.data).glob("*.wav"))
    audio = _speech(args.data if have_data else None, args.seconds)
    out: dict[str, Any] = {
        "machine_note": "shared 2-core development machine; figures are preliminary",
        "audio": "emodb-dev clips concatenated" if have_data else "synthetic voice",
    }
    _progress("speed")
    out["speed"] = _speed(settings, audio)
    _progress("latency")
    out["latency"] = _latency(settings, audio, chunk_ms=args.chunk_ms)
    if have_data:
        out.update(clip_accuracy(settings, Path(args.data), peers=not args.no_peers))
    else:
        out["eval"] = None
        out["note"] = f"no data at {args.data}: accuracy figures skipped"
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    return 0


def _progress(msg: str) -> None:
    print(f"bench distress: {msg}", file=sys.stderr, flush=True)


# -- speed and latency ------------------------------------------------------------------


def _speech(folder: Path | None, seconds: float) -> np.ndarray:
    n = int(seconds * 16000)
    if folder is None:
        from voice_assist.prosody.synth import AGITATED, CALM, synth_voice

        half = seconds / 2
        return np.concatenate(
            [synth_voice(half, style=CALM, seed=1), synth_voice(half, style=AGITATED, seed=2)]
        )[:n]
    from voice_assist.distress.evaluation import load_audio_16k

    parts: list[np.ndarray] = []
    total = 0
    for p in sorted(folder.glob("*.wav")):
        parts.append(load_audio_16k(p, telephone=False))
        total += parts[-1].size
        if total >= n:
            break
    x = np.concatenate(parts)
    while x.size < n:
        x = np.concatenate([x, x])
    return x[:n].astype(np.float32)


def _pipeline(settings: Settings) -> tuple[Any, Any]:
    from voice_assist.distress.estimator import DistressEstimator
    from voice_assist.prosody.tracker import ProsodyTracker

    tracker = ProsodyTracker(call_id="bench", channel="customer", options=settings.prosody)
    estimator = DistressEstimator(call_id="bench", options=settings.distress)
    return tracker, estimator


def _pin_one_core() -> set[int] | None:
    if not hasattr(os, "sched_getaffinity"):
        return None
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    return before


def _speed(settings: Settings, audio: np.ndarray) -> dict[str, Any]:
    before = _pin_one_core()
    try:
        warm, warm_est = _pipeline(settings)  # first use loads librosa's lazy modules
        for frame in warm.feed(audio[:32000]):
            warm_est.on_prosody(frame)
        tracker, estimator = _pipeline(settings)
        step = 16 * 100
        costs = []
        wall0 = time.perf_counter()
        cpu0 = time.process_time()
        for i in range(0, audio.size, step):
            c0 = time.perf_counter()
            for frame in tracker.feed(audio[i : i + step]):
                estimator.on_prosody(frame)
            costs.append(time.perf_counter() - c0)
        for frame in tracker.finish():
            estimator.on_prosody(frame)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    dur = audio.size / 16000
    return {
        "audio_s": round(dur, 2),
        "cores": 1 if before is not None else None,
        "rtf_cpu": round(cpu / dur, 5),
        "rtf_wall": round(wall / dur, 5),
        "target_rtf": 0.02,
        "chunk_100ms_cost_ms_p95": round(1000 * float(np.percentile(costs, 95)), 3),
    }


def _latency(settings: Settings, audio: np.ndarray, *, chunk_ms: int) -> dict[str, Any]:
    """Simulated live leg: chunk k arrives at its media end time; what does an update wait?"""
    from voice_assist.events import DistressUpdate

    tracker, estimator = _pipeline(settings)
    step = 16 * chunk_ms
    lat: list[float] = []
    times: list[int] = []
    for i in range(0, audio.size, step):
        chunk = audio[i : i + step]
        arrival_ms = (i + chunk.size) / 16.0  # the whole chunk is there at its end
        t0 = time.perf_counter()
        updates: list[DistressUpdate] = []
        for frame in tracker.feed(chunk):
            updates.extend(e for e in estimator.on_prosody(frame) if isinstance(e, DistressUpdate))
        compute_ms = 1000 * (time.perf_counter() - t0)
        for u in updates:
            # the window ending at u.t_ms was complete once this chunk arrived
            lat.append(arrival_ms - u.t_ms + compute_ms)
            times.append(u.t_ms)
    gaps = np.diff(times) if len(times) > 1 else np.zeros(1)
    arr = np.asarray(lat)
    return {
        "chunk_ms": chunk_ms,
        "updates": len(lat),
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
        "max_ms": round(float(np.max(arr)), 2),
        "target_ms": 250,
        "update_interval_ms": int(np.max(gaps)),
    }


# -- accuracy and peers ------------------------------------------------------------------


def clip_accuracy(settings: Settings, folder: Path, *, peers: bool) -> dict[str, Any]:
    from voice_assist.distress.estimator import resolve_path
    from voice_assist.distress.evaluation import evaluate, load_clips, score_clips
    from voice_assist.distress.scoring import load_model
    from voice_assist.distress.training import leave_one_speaker_out

    thr = settings.distress.elevated_threshold
    model = load_model(resolve_path(settings.distress.model_path))
    out: dict[str, Any] = {"eval": {}, "loso": {}, "loso_hand": {}, "peers": {}}
    for band, telephone in (("wideband", False), ("telephone", True)):
        _progress(f"eval {band}")
        clips = load_clips(folder, telephone=telephone, options=settings.prosody)
        res = evaluate(clips, score_clips(model, clips), threshold=thr)
        out["eval"][band] = res.summary()
        _progress(f"loso {band}")
        out["loso"][band] = leave_one_speaker_out(clips, threshold=thr).summary()
        hand = leave_one_speaker_out(clips, threshold=thr, hand=True)
        out["loso_hand"][band] = {"n": hand.n, "auc": round(hand.auc, 4), "uar": round(hand.uar, 4)}
        if peers:
            _progress(f"peers {band}")
            out["peers"][band] = _peers(folder, telephone=telephone)
    out["eval_note"] = (
        "eval uses the shipped weights, trained on these same development speakers (in-sample); "
        "loso is the held-out estimate"
    )
    return out


def _peers(folder: Path, *, telephone: bool) -> dict[str, Any]:
    import opensmile
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from voice_assist.distress.evaluation import (
        HIGH_AROUSAL,
        LOW_AROUSAL,
        auc,
        emotion_of,
        load_audio_16k,
        uar,
    )

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    rows: list[np.ndarray] = []
    labels: list[bool] = []
    speakers: list[str] = []
    columns: Sequence[str] = ()
    for p in sorted(folder.glob("*.wav")):
        emo = emotion_of(p.name)
        if emo is None or emo not in HIGH_AROUSAL | LOW_AROUSAL:
            continue
        audio = load_audio_16k(p, telephone=telephone)
        df = smile.process_signal(audio, 16000)
        columns = list(df.columns)
        rows.append(df.to_numpy(dtype=np.float64)[0])
        labels.append(emo in HIGH_AROUSAL)
        speakers.append(p.name[:2])
    x = np.nan_to_num(np.vstack(rows))
    y = np.asarray(labels)
    spk = np.asarray(speakers)

    def spk_norm(m: np.ndarray) -> np.ndarray:
        out = np.empty_like(m)
        for s in np.unique(spk):
            sel = spk == s
            mu = m[sel].mean(axis=0)
            sd = m[sel].std(axis=0)
            out[sel] = (m[sel] - mu) / np.where(sd > 1e-9, sd, 1.0)
        return out

    def loso_lr(m: np.ndarray) -> dict[str, float]:
        prob = np.empty(y.size)
        for s in np.unique(spk):
            test = spk == s
            scaler = StandardScaler().fit(m[~test])
            clf = LogisticRegression(max_iter=5000).fit(scaler.transform(m[~test]), y[~test])
            prob[test] = clf.predict_proba(scaler.transform(m[test]))[:, 1]
        return {"auc": round(auc(y, prob), 4), "uar": round(uar(y, prob >= 0.5), 4)}

    loud = spk_norm(x[:, [columns.index("loudness_sma3_amean")]])[:, 0]
    f0 = spk_norm(x[:, [columns.index("F0semitoneFrom27.5Hz_sma3nz_amean")]])[:, 0]
    z = loud + f0
    zs = {"auc": round(auc(y, z), 4), "uar": round(uar(y, z >= 0.0), 4)}
    return {
        "n": int(y.size),
        "egemaps_lr": loso_lr(x),
        "egemaps_lr_spknorm": loso_lr(spk_norm(x)),
        "zscore_loudness_f0": zs,
        "zscore_f0_only": {"auc": round(auc(y, f0), 4), "uar": round(uar(y, f0 >= 0.0), 4)},
        "zscore_loudness_only_auc": round(auc(y, loud), 4)
        if np.all(np.isfinite(loud))
        else math.nan,
    }
