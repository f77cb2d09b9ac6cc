"""``voice-assist eval arousal DIR [--telephone] [--json]``: score labelled speech.

Scores every clip of an Emo-DB-style folder with the live distress model (each speaker one
caller, baseline from that speaker's own audio, no labels) and prints
``{"n": ..., "auc": ..., "uar": ...}`` with ``--json`` (UAR at the live
``distress.elevated_threshold``).  Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "evaluate the distress estimator on labelled speech (arousal, Emo-DB style)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=["arousal"], help="what to evaluate")
    p.add_argument("dir", metavar="DIR", help="Emo-DB-style folder (emotion = 6th character)")
    p.add_argument(
        "--telephone",
        action="store_true",
        help="band-limit to 8 kHz mu-law and back first, as a phone line would",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--per-speaker", action="store_true", help="add per-speaker figures to the output"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from voice_assist.config import load_settings
    from voice_assist.distress.estimator import resolve_path
    from voice_assist.distress.evaluation import evaluate, load_clips, score_clips
    from voice_assist.distress.scoring import load_model
    from voice_assist.errors import AudioError

    settings = load_settings(getattr(args, "config", None))
    folder = Path(args.dir)
    if not folder.is_dir():
        raise AudioError(f"not a folder: {folder}")
    model = load_model(resolve_path(settings.distress.model_path))

    def progress(msg: str) -> None:
        print(f"eval arousal: {msg}", file=sys.stderr, flush=True)

    band = "telephone (8 kHz mu-law)" if args.telephone else "wideband"
    progress(f"loading {folder} ({band})")
    clips = load_clips(
        folder, telephone=args.telephone, options=settings.prosody, progress=progress
    )
    if not clips:
        raise AudioError(f"no labelled clips (W, F, A, L, T, N as 6th character) in {folder}")
    scores = score_clips(model, clips)
    result = evaluate(clips, scores, threshold=settings.distress.elevated_threshold)
    out: dict[str, object] = dict(result.summary())
    if args.per_speaker:
        out["per_speaker"] = result.per_speaker
    if args.json:
        print(json.dumps(out))
    else:
        print(f"clips {result.n}  AUC {result.auc:.4f}  UAR {result.uar:.4f} ({band})")
        for spk, figs in result.per_speaker.items():
            print(
                f"  speaker {spk}: n {int(figs['n'])}  AUC {figs['auc']:.4f}  UAR {figs['uar']:.4f}"
            )
    return 0
