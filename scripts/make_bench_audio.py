"""Build the benchmark call (benchmarks/data/bench_call_en.flac + .json) with espeak-ng.

A two-leg support call: customer (channel 0) and agent (channel 1) take turns, with
realistic gaps; the JSON holds each utterance's leg, start/end seconds and text.
Usage: python scripts/make_bench_audio.py
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

OUT = Path(__file__).resolve().parent.parent / "benchmarks" / "data"
RATE = 16000

TURNS = [
    ("agent", 165, "Thank you for calling, my name is Sam, how can I help you today?"),
    ("customer", 150, "Hi, my internet has not been working since Tuesday morning."),
    ("agent", 165, "I am sorry to hear that. Can I have your account number please?"),
    ("customer", 155, "Yes, it is four five two seven nine one."),
    ("agent", 160, "Thank you. I can see there was an outage in your area this week."),
    ("customer", 175, "This is the third time I have called about this and nobody has fixed it."),
    (
        "agent",
        150,
        "I can see where that would be extremely frustrating, especially after three calls.",
    ),
    ("customer", 160, "It really is. I work from home and I have lost two days of work."),
    ("agent", 160, "Let me book an engineer visit for tomorrow morning between eight and twelve."),
    ("customer", 150, "Tomorrow morning works for me. Will someone call before they arrive?"),
    ("agent", 165, "Yes, the engineer will call you thirty minutes before the visit."),
    ("customer", 150, "Okay, thank you for your help."),
    ("agent", 165, "You are welcome. Is there anything else I can help you with today?"),
    ("customer", 150, "No, that is all. Goodbye."),
]


def speak(text: str, speed: int, voice: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "u.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True
        )
        x, rate = sf.read(wav, dtype="float32")
    return soxr.resample(x, rate, RATE).astype(np.float32)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    t = 0.8
    utterances = []
    pieces = []
    for channel, speed, text in TURNS:
        voice = "en-us" if channel == "customer" else "en-gb"
        x = speak(text, speed, voice)
        start = t
        pieces.append((channel, int(start * RATE), x))
        t = start + x.size / RATE
        utterances.append(
            {"channel": channel, "start_s": round(start, 3), "end_s": round(t, 3), "text": text}
        )
        t += 0.9
    total = int((t + 1.0) * RATE)
    stereo = np.zeros((total, 2), dtype=np.float32)
    for channel, at, x in pieces:
        col = 0 if channel == "customer" else 1
        stereo[at : at + x.size, col] += x
    sf.write(OUT / "bench_call_en.flac", stereo, RATE)
    (OUT / "bench_call_en.json").write_text(json.dumps({"utterances": utterances}, indent=1) + "\n")
    print(f"{total / RATE:.1f} s, {len(utterances)} utterances -> {OUT}")


if __name__ == "__main__":
    main()
