"""Build the redaction test call (tests/data/card_call_en.flac + .json) with espeak-ng.

A two-leg call (customer = channel 0, agent = channel 1) in which the agent asks for a
card number and the customer reads it in two pieces with a pause between (so the ASR
makes two utterances of it), then the expiry date, the security code and an email
address, and ends with a sentence that holds nothing to redact.  The JSON holds the card
number and every segment's leg, start/end (ms) and label, for the end-to-end tests.
Deterministic for a given espeak-ng version.

Usage: python scripts/make_redaction_clip.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.redaction_sets import RATE_HZ, speak

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "card_call_en"
CARD = "4539148803436467"  # Luhn-valid, made up

SEGMENTS = [  # (leg, text, label, silence after, seconds)
    ("agent", "Thanks for calling. Can I take the long number on the card, please?", None, 0.8),
    ("customer", "Sure, it's", None, 0.15),
    ("customer", "4 5 3 9, 1 4 8 8.", "card", 1.4),
    ("customer", "0 3 4 3, 6 4 6 7.", "card", 1.0),
    ("agent", "And the expiry date?", None, 0.8),
    ("customer", "oh four, twenty six.", "expiry", 1.0),
    ("agent", "And the three digits on the back?", None, 0.8),
    ("customer", "seven three one.", "cvv", 1.0),
    ("customer", "My email is", None, 0.15),
    ("customer", "john dot smith at gmail dot com.", "email", 1.0),
    ("customer", "I have called three times about this bill.", None, 1.0),
]


def main() -> None:
    pos = int(0.5 * RATE_HZ)
    placed: list[tuple[str, int, np.ndarray]] = []
    rows = []
    for channel, text, label, gap_s in SEGMENTS:
        voice, speed = ("en-us", 150) if channel == "customer" else ("en-gb", 165)
        audio = 0.5 * speak(text, voice=voice, speed=speed)
        placed.append((channel, pos, audio))
        rows.append(
            {
                "channel": channel,
                "start_ms": pos * 1000 // RATE_HZ,
                "end_ms": (pos + audio.size) * 1000 // RATE_HZ,
                "label": label,
                "text": text,
            }
        )
        pos += audio.size + int(gap_s * RATE_HZ)
    total = pos + RATE_HZ
    stereo = np.zeros((total, 2), np.float32)
    for channel, start, audio in placed:
        stereo[start : start + audio.size, 0 if channel == "customer" else 1] += audio
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sf.write(OUT.with_suffix(".flac"), stereo, RATE_HZ, subtype="PCM_16")
    meta = {"card": CARD, "segments": rows}
    OUT.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {OUT.with_suffix('.flac')} ({total / RATE_HZ:.1f} s)")


if __name__ == "__main__":
    main()
