"""Prosody features on synthetic signals with known pitch, loudness and spectrum."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest

from voice_assist.config import ProsodyOptions
from voice_assist.events import ProsodyFrame
from voice_assist.prosody.features import FEATURE_NAMES, FrameAnalyzer, hz_to_semitones
from voice_assist.prosody.tracker import ProsodyTracker

SR = 16000


def frames_of(y: np.ndarray, chunk: int = 320, **opts: object) -> list[ProsodyFrame]:
    tracker = ProsodyTracker(
        call_id="t",
        channel="customer",
        options=ProsodyOptions(**opts),  # type: ignore[arg-type]
    )
    out: list[ProsodyFrame] = []
    for i in range(0, y.size, chunk):
        out.extend(tracker.feed(y[i : i + chunk]))
    out.extend(tracker.finish())
    return out


def steady(frames: list[ProsodyFrame]) -> list[ProsodyFrame]:
    """Frames whose 1 s window lies entirely inside the signal."""
    return [f for f in frames if 1000 <= f.t_ms <= frames[-1].t_ms - 250]


@pytest.mark.parametrize("freq", [90.0, 140.0, 220.0, 330.0])
def test_tone_pitch_in_semitones(freq: float) -> None:
    y = 0.1 * librosa.tone(freq, sr=SR, duration=3.0)
    frames = steady(frames_of(y.astype(np.float32)))
    assert frames
    expected = 12 * math.log2(freq / 55.0)
    for f in frames:
        assert f.voiced
        assert f.features["f0_st"] == pytest.approx(expected, abs=0.25)
        assert f.features["f0_range_st"] < 0.3
        assert f.features["voiced_ratio"] == pytest.approx(1.0)
        assert f.features["periodicity"] > 0.9


def test_tone_level_in_dbfs() -> None:
    amp = 0.1
    y = amp * librosa.tone(200.0, sr=SR, duration=2.0)
    frames = steady(frames_of(y.astype(np.float32)))
    expected = 20 * math.log10(amp / math.sqrt(2))
    for f in frames:
        assert f.features["rms_dbfs"] == pytest.approx(expected, abs=0.3)


def test_chirp_is_tracked() -> None:
    fmin, fmax, dur = 100.0, 300.0, 4.0
    y = 0.1 * librosa.chirp(fmin=fmin, fmax=fmax, sr=SR, duration=dur, linear=False)
    frames = steady(frames_of(y.astype(np.float32)))
    f0 = [f.features["f0_st"] for f in frames]
    assert all(b > a for a, b in zip(f0, f0[1:], strict=False))
    for f in frames:
        # exponential sweep: semitones rise linearly in time; window centre = t - 0.5 s
        t_mid = f.t_ms / 1000.0 - 0.5
        expected = hz_to_semitones(fmin * (fmax / fmin) ** (t_mid / dur))
        assert f.features["f0_st"] == pytest.approx(float(expected), abs=0.5)
        # the 1 s window spans (fmax/fmin)^(1/dur) = 4.75 semitones
        assert 2.5 < f.features["f0_range_st"] < 5.0


def test_amplitude_step_changes_loudness_by_its_size() -> None:
    tone = librosa.tone(180.0, sr=SR, duration=6.0)
    gain = np.where(np.arange(tone.size) < 3 * SR, 0.02, 0.2)  # +20 dB at 3 s
    frames = frames_of((tone * gain).astype(np.float32))
    quiet = [f.features["rms_dbfs"] for f in frames if 1000 <= f.t_ms <= 3000]
    loud = [f.features["rms_dbfs"] for f in frames if f.t_ms >= 4250]
    assert np.mean(loud) - np.mean(quiet) == pytest.approx(20.0, abs=0.5)
    # loudness_db is relative to the leg's own running level: 0 during the first part
    first = [f.features["loudness_db"] for f in frames if 1000 <= f.t_ms <= 3000]
    assert np.allclose(first, 0.0, atol=0.3)
    after = next(f for f in frames if f.t_ms == 4250)
    assert after.features["loudness_db"] > 5.0


def test_gain_does_not_change_shape_features() -> None:
    y = 0.05 * librosa.tone(150.0, sr=SR, duration=2.0) + 0.02 * librosa.tone(
        1800.0, sr=SR, duration=2.0
    )
    a = steady(frames_of(y.astype(np.float32)))
    b = steady(frames_of((4 * y).astype(np.float32)))
    for fa, fb in zip(a, b, strict=True):
        assert fb.features["rms_dbfs"] - fa.features["rms_dbfs"] == pytest.approx(
            20 * math.log10(4), abs=0.1
        )
        for key in ("f0_st", "centroid_hz", "alpha_ratio_db", "hammarberg_db", "mfcc1"):
            assert fb.features[key] == pytest.approx(fa.features[key], rel=1e-3, abs=1e-3)


def test_spectral_shape_follows_the_spectrum() -> None:
    low = 0.1 * librosa.tone(300.0, sr=SR, duration=2.0)
    high = 0.1 * librosa.tone(2500.0, sr=SR, duration=2.0)
    fl = steady(frames_of(low.astype(np.float32)))[0].features
    fh = steady(frames_of(high.astype(np.float32)))[0].features
    assert fl["centroid_hz"] == pytest.approx(300.0, rel=0.05)
    assert fh["centroid_hz"] == pytest.approx(2500.0, rel=0.05)
    # a flatter spectrum: more energy above 1 kHz, smaller peak difference 0-2k vs 2-4k
    mixed_dull = 0.1 * librosa.tone(200.0, sr=SR, duration=2.0) + 0.003 * librosa.tone(
        2400.0, sr=SR, duration=2.0
    )
    mixed_bright = 0.1 * librosa.tone(200.0, sr=SR, duration=2.0) + 0.03 * librosa.tone(
        2400.0, sr=SR, duration=2.0
    )
    d = steady(frames_of(mixed_dull.astype(np.float32)))[0].features
    b = steady(frames_of(mixed_bright.astype(np.float32)))[0].features
    assert b["alpha_ratio_db"] - d["alpha_ratio_db"] == pytest.approx(20.0, abs=1.0)
    assert d["hammarberg_db"] - b["hammarberg_db"] == pytest.approx(20.0, abs=1.0)
    assert b["mfcc1"] < d["mfcc1"]


def test_white_noise_is_unvoiced() -> None:
    rng = np.random.default_rng(0)
    y = (0.05 * rng.standard_normal(3 * SR)).astype(np.float32)
    frames = steady(frames_of(y))
    assert frames
    assert not any(f.voiced for f in frames)
    assert all(math.isnan(f.features["f0_st"]) for f in frames)
    assert all(f.features["voiced_ratio"] < 0.1 for f in frames)


def test_silence_gives_no_voicing_and_no_nan_level_trouble() -> None:
    frames = frames_of(np.zeros(3 * SR, dtype=np.float32))
    assert frames and not any(f.voiced for f in frames)
    for f in frames:
        assert set(f.features) == set(FEATURE_NAMES)
        assert f.features["pause_ratio"] == pytest.approx(1.0)
        assert math.isnan(f.features["rms_dbfs"])


def test_pauses_and_syllable_rate() -> None:
    # 200 ms tone bursts every 400 ms: 2.5 bursts per second, half of the time silent
    t = np.arange(4 * SR) / SR
    gate = ((t % 0.4) < 0.2).astype(np.float64)
    y = (0.1 * np.sin(2 * np.pi * 160.0 * t) * gate).astype(np.float32)
    frames = steady(frames_of(y))
    assert np.mean([f.features["pause_ratio"] for f in frames]) == pytest.approx(0.5, abs=0.1)
    assert np.mean([f.features["syllable_rate_hz"] for f in frames]) == pytest.approx(2.5, abs=0.6)


def test_telephone_band_gives_the_same_pitch_and_shape() -> None:
    from voice_assist.audio.pcm import mulaw_decode, mulaw_encode
    from voice_assist.audio.resample import resample

    y = (
        0.08 * librosa.tone(130.0, sr=SR, duration=3.0)
        + 0.02 * librosa.tone(1300.0, sr=SR, duration=3.0)
    ).astype(np.float32)
    phone = resample(mulaw_decode(mulaw_encode(resample(y, SR, 8000))), 8000, SR)
    a = steady(frames_of(y))
    b = steady(frames_of(phone))
    for fa, fb in zip(a, b, strict=False):
        assert fb.features["f0_st"] == pytest.approx(fa.features["f0_st"], abs=0.1)
        assert fb.features["rms_dbfs"] == pytest.approx(fa.features["rms_dbfs"], abs=0.5)
        assert fb.features["alpha_ratio_db"] == pytest.approx(
            fa.features["alpha_ratio_db"], abs=1.0
        )


def test_frame_analyzer_rejects_a_frame_too_short_for_fmin() -> None:
    with pytest.raises(ValueError):
        FrameAnalyzer(
            sample_rate_hz=8000,
            frame_length=128,
            hop_length=80,
            fmin_hz=65.0,
            fmax_hz=500.0,
            voicing_threshold=0.5,
            silence_dbfs=-60.0,
        )
