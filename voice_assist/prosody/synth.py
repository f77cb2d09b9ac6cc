"""A crude, deterministic speech-like voice for tests and benchmarks (no data files needed).

A glottal pulse train (F0 with intonation and a little jitter) shaped by a spectral-tilt
low-pass and three formant resonators, chopped into syllables and phrases with pauses.
Arousal is what the numbers say: higher F0 and wider range, louder, flatter spectrum
(less tilt), faster syllables.  It is not intelligible; it exercises prosody.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal


@dataclass(frozen=True, slots=True)
class VoiceStyle:
    f0_hz: float = 120.0
    f0_range_st: float = 3.0
    level_dbfs: float = -26.0
    tilt: float = 0.96
    """One-pole low-pass coefficient on the glottal pulses: higher = steeper (calmer) tilt."""
    syllables_per_s: float = 4.0
    pause_every_s: float = 2.5
    pause_ms: float = 450.0


CALM = VoiceStyle()
AGITATED = VoiceStyle(
    f0_hz=190.0, f0_range_st=6.0, level_dbfs=-16.0, tilt=0.80, syllables_per_s=5.5, pause_ms=250.0
)
FORMANTS_HZ = ((600.0, 90.0), (1500.0, 120.0), (2600.0, 180.0))


def synth_voice(
    duration_s: float,
    *,
    style: VoiceStyle = CALM,
    sample_rate_hz: int = 16000,
    seed: int = 0,
) -> np.ndarray:
    """Speech-like float32 samples, shape ``(round(duration_s * sample_rate_hz),)``."""
    rng = np.random.default_rng(seed)
    sr = sample_rate_hz
    n = int(round(duration_s * sr))
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    t = np.arange(n) / sr
    # intonation: slow wave within the range, plus declination inside each phrase
    phrase_pos = (t % style.pause_every_s) / style.pause_every_s
    semis = 0.5 * style.f0_range_st * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 2 * np.pi))
    semis += style.f0_range_st * (0.5 - phrase_pos) * 0.5
    f0 = style.f0_hz * 2.0 ** (semis / 12.0)
    f0 *= 1.0 + 0.004 * rng.standard_normal(n)  # jitter
    phase = np.cumsum(f0 / sr)
    pulses = np.zeros(n)
    pulses[1:][np.diff(np.floor(phase)) > 0] = 1.0
    src = scipy.signal.lfilter([1.0 - style.tilt], [1.0, -style.tilt], pulses)
    src = scipy.signal.lfilter([1.0, -1.0], [1.0, -0.5], src)  # lip radiation-ish
    y = src
    for fc, bw in FORMANTS_HZ:
        r = np.exp(-np.pi * bw / sr)
        theta = 2 * np.pi * fc / sr
        y = scipy.signal.lfilter([1.0 - r], [1.0, -2 * r * np.cos(theta), r * r], y)
    # syllables and pauses
    env = np.zeros(n)
    syl = 1.0 / style.syllables_per_s
    start = 0.0
    while start < duration_s:
        if (start % style.pause_every_s) + syl > style.pause_every_s:
            start += style.pause_ms / 1000.0 + (style.pause_every_s - start % style.pause_every_s)
            continue
        a, b = int(start * sr), int(min(duration_s, start + 0.72 * syl) * sr)
        if b > a:
            gain = 10 ** (rng.uniform(-2.5, 2.5) / 20)
            env[a:b] = gain * np.hanning(b - a) ** 0.5
        start += syl
    y = y * env
    rms = np.sqrt(np.mean(y[env > 0] ** 2)) if np.any(env > 0) else 1.0
    y *= 10 ** (style.level_dbfs / 20) / max(rms, 1e-12)
    y += 10 ** (-75 / 20) * rng.standard_normal(n)  # a faint noise floor
    return np.clip(y, -1.0, 1.0).astype(np.float32)
