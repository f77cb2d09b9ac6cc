"""Train the distress (arousal) model on the development speakers and write its weights.

    python scripts/train_distress.py [DATA_DIR] [--out WEIGHTS_JSON]

DATA_DIR defaults to ../shared/data/emodb-dev, WEIGHTS_JSON to
voice_assist/data/distress_weights.json.

Trains ONLY on the given folder (the Emo-DB development speakers); the held-out speakers are
never seen.  Prints leave-one-speaker-out estimates for the trained model and for equal hand
weights, and stores them in the file's ``meta`` so the shipped numbers can be checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "emodb-dev"
DEFAULT_OUT = ROOT / "voice_assist" / "data" / "distress_weights.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA), help="Emo-DB-style folder")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="where to write the weights")
    args = parser.parse_args(argv)

    from voice_assist.config import DistressOptions, ProsodyOptions
    from voice_assist.distress.evaluation import by_speaker, load_clips
    from voice_assist.distress.scoring import model_to_dict
    from voice_assist.distress.training import fit_model, leave_one_speaker_out

    threshold = DistressOptions().elevated_threshold
    report: dict[str, object] = {}
    clips_by_band = {}
    for band, telephone in (("wideband", False), ("telephone", True)):
        print(f"loading {args.data} ({band})", file=sys.stderr)
        clips = load_clips(args.data, telephone=telephone, options=ProsodyOptions())
        clips_by_band[band] = clips
        for kind, hand in (("trained", False), ("hand", True)):
            res = leave_one_speaker_out(clips, threshold=threshold, hand=hand)
            report[f"loso_{kind}_{band}"] = res.summary()
            print(f"LOSO {kind:7s} {band:9s} auc {res.auc:.4f} uar {res.uar:.4f}", file=sys.stderr)

    clips = clips_by_band["wideband"]
    speakers = sorted(by_speaker(clips))
    meta = {
        "trained_on": (
            f"{Path(args.data).name}: speakers {' '.join(speakers)} (wideband), {len(clips)} clips"
        ),
        "script": "scripts/train_distress.py",
        "operating_threshold": threshold,
        **report,
    }
    model = fit_model(clips, meta=meta)
    out = Path(args.out)
    out.write_text(json.dumps(model_to_dict(model), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    print(
        json.dumps(
            {f.name: round(f.weight, 3) for f in model.features}
            | {"intercept": round(model.intercept, 3)}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
