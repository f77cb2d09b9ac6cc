#!/usr/bin/env python3
"""Synthesize the bundled two-leg demo call with espeak-ng and sox.

Writes ``voice_assist/data/demo_call.wav`` (stereo, 8 kHz, 16-bit: channel 0 is the
customer, channel 1 the agent, as a telephony recorder would) and
``voice_assist/data/demo_call.json`` (the script with each utterance's start and end in
ms, which the live benchmark uses to time prompts against the end of the customer's
distressed utterance).

The story follows the coaching material: the customer starts calm (the distress
estimate learns their normal voice), then gets agitated (faster, louder, higher:
"this is the third time I've called"); the agent first answers with a one-word stock
reply ("Fantastic.") and is nudged, then acknowledges the feeling ("I can see where
that would be extremely frustrating") and the customer calms down.

Run from the repository root:  python scripts/make_demo_call.py
Needs: espeak-ng, sox (Debian packages of the same names).  Deterministic for a given
espeak-ng/sox version; the noise floor uses a fixed seed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

RATE_HZ = 8000
ROOT = Path(__file__).resolve().parent.parent
OUT_WAV = ROOT / "voice_assist" / "data" / "demo_call.wav"
OUT_JSON = ROOT / "voice_assist" / "data" / "demo_call.json"


@dataclass(frozen=True)
class Voice:
    """espeak-ng settings: words per minute, pitch 0-99, amplitude 0-200, and a sox gain."""

    name: str
    speed_wpm: int
    pitch: int
    amplitude: int
    gain_db: float = 0.0


CUSTOMER_CALM = Voice("en-us+f3", 170, 45, 55)
CUSTOMER_UPSET = Voice("en-us+f3", 205, 80, 130)
CUSTOMER_CALMER = Voice("en-us+f3", 175, 50, 65)
AGENT = Voice("en-gb", 165, 45, 70)


@dataclass(frozen=True)
class Turn:
    channel: str  # "customer" | "agent"
    text: str
    voice: Voice
    gap_ms: int = 500
    """Silence before this turn starts, after the previous turn ended (negative: overlap)."""
    label: str = ""
    say: str = ""
    """What espeak-ng is given when it differs from ``text`` (phoneme hints in [[...]])."""


SCRIPT: tuple[Turn, ...] = (
    Turn("agent", "Northwind Energy, this is Sam. How can I help?", AGENT, 300),
    Turn(
        "customer",
        "Hi Sam. I'm calling about my electricity bill for last month. I moved into a new "
        "flat in March, and I set the account up online when I arrived.",
        CUSTOMER_CALM,
        450,
        "calm",
    ),
    Turn("agent", "Sure. What's your account number?", AGENT, 400),
    Turn(
        "customer",
        "It's four four seven two nine one eight. The bill says I owe three hundred and forty "
        "pounds, but I think that is for my old address, not the new one.",
        CUSTOMER_CALM,
        450,
        "calm",
    ),
    Turn("agent", "Thanks. One moment.", AGENT, 400),
    Turn(
        "customer",
        "I have the meter reading from the day I moved in, if you need it.",
        CUSTOMER_CALM,
        900,
        "calm",
    ),
    Turn(
        "customer",
        "Honestly, this is the third time I've called about this! Every month the same wrong "
        "bill. It's ridiculous, I am sick of it!",
        CUSTOMER_UPSET,
        900,
        "distressed",
    ),
    Turn("agent", "Fantastic.", AGENT, 250, "stock_reply"),
    Turn(
        "customer",
        "Fantastic? It is not fantastic! Nobody listens to me. Sort it out today or I am "
        "cancelling!",
        CUSTOMER_UPSET,
        300,
        "distressed",
    ),
    Turn(
        "agent",
        "I'm sorry. I can see where that would be extremely frustrating, having to call us "
        "again. I will fix it now.",
        AGENT,
        600,
        "acknowledgement",
        # espeak's full "can" sounds like "can't" to Whisper: give it the weak form.
        say="I'm sorry. I [[k@n]] see where that would be extremely frustrating, having to "
        "call us again. I will fix it now.",
    ),
    Turn("customer", "Okay. Thank you.", CUSTOMER_CALMER, 500, "calming"),
    Turn("agent", "Done. Your new account starts on the fourteenth of March.", AGENT, 500),
    Turn("customer", "Great, thanks for your help.", CUSTOMER_CALMER, 450, "calm"),
)


def synthesize(turn: Turn, workdir: Path, index: int) -> np.ndarray:
    """One turn -> float32 mono at 8 kHz, telephone band, with the voice's gain."""
    raw = workdir / f"t{index:02d}.wav"
    tel = workdir / f"t{index:02d}-8k.wav"
    v = turn.voice
    subprocess.run(
        [
            "espeak-ng",
            "-v",
            v.name,
            "-s",
            str(v.speed_wpm),
            "-p",
            str(v.pitch),
            "-a",
            str(v.amplitude),
            "-w",
            str(raw),
            turn.say or turn.text,
        ],
        check=True,
    )
    effects = ["highpass", "300", "lowpass", "3400", "gain", f"{v.gain_db:.1f}"]
    subprocess.run(
        ["sox", str(raw), "-r", str(RATE_HZ), "-c", "1", "-b", "16", str(tel), *effects],
        check=True,
    )
    audio, rate = sf.read(tel, dtype="float32")
    assert rate == RATE_HZ
    # espeak pads with silence; trim it so turn gaps are what the script says
    voiced = np.flatnonzero(np.abs(audio) > 0.01)
    if voiced.size:
        audio = audio[max(0, voiced[0] - 80) : voiced[-1] + 160]
    return np.clip(audio, -0.99, 0.99)


def build(workdir: Path) -> tuple[np.ndarray, list[dict[str, object]]]:
    pieces = []
    t = 0
    for i, turn in enumerate(SCRIPT):
        audio = synthesize(turn, workdir, i)
        start = max(0, t + turn.gap_ms * RATE_HZ // 1000)
        pieces.append((turn, start, audio))
        t = start + audio.size
    total = t + RATE_HZ  # one second of room tone at the end
    legs = {"customer": np.zeros(total, np.float32), "agent": np.zeros(total, np.float32)}
    timeline: list[dict[str, object]] = []
    for turn, start, audio in pieces:
        legs[turn.channel][start : start + audio.size] += audio
        timeline.append(
            {
                "channel": turn.channel,
                "start_ms": start * 1000 // RATE_HZ,
                "end_ms": (start + audio.size) * 1000 // RATE_HZ,
                "label": turn.label,
                "text": turn.text,
            }
        )
    rng = np.random.default_rng(20261122)
    for leg in legs.values():  # a faint line-noise floor (about -60 dBFS): no digital silence
        leg += (0.001 * rng.standard_normal(total)).astype(np.float32)
    stereo = np.stack([legs["customer"], legs["agent"]], axis=1)
    return np.clip(stereo, -1.0, 1.0), timeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_WAV)
    args = parser.parse_args()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (apt-get install {tool})")
    with tempfile.TemporaryDirectory() as tmp:
        stereo, timeline = build(Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(args.out, stereo, RATE_HZ, subtype="PCM_16")
    meta = {
        "sample_rate": RATE_HZ,
        "channels": ["customer", "agent"],
        "duration_ms": stereo.shape[0] * 1000 // RATE_HZ,
        "utterances": timeline,
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    size_kb = args.out.stat().st_size // 1024
    print(f"wrote {args.out} ({meta['duration_ms'] / 1000:.1f} s, {size_kb} KiB) and its .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
