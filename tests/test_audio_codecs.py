from __future__ import annotations

import numpy as np
import pytest

from voice_assist.audio import pcm
from voice_assist.audio.resample import StreamResampler, resample
from voice_assist.errors import CorruptAudioError, UnsupportedAudioError


def test_mulaw_table_matches_g711_reference_points() -> None:
    # G.711: 0xFF and 0x7F are the two zeros, 0x00 is the most negative, 0x80 the most positive
    assert pcm.MULAW_TO_FLOAT[0xFF] == 0.0
    assert pcm.MULAW_TO_FLOAT[0x7F] == 0.0
    assert round(pcm.MULAW_TO_FLOAT[0x00] * 32768) == -32124
    assert round(pcm.MULAW_TO_FLOAT[0x80] * 32768) == 32124


def test_mulaw_round_trip_error_is_within_quantisation_step() -> None:
    x = np.linspace(-0.9, 0.9, 5001).astype(np.float32)
    y = pcm.mulaw_decode(pcm.mulaw_encode(x))
    # mu-law steps grow with amplitude: relative error stays under ~4 %
    assert np.all(np.abs(y - x) <= 0.04 * np.abs(x) + 2e-4)


def test_pcm16_round_trip_and_odd_length_is_an_error() -> None:
    x = np.array([0.0, 0.5, -0.5, 0.999], dtype=np.float32)
    assert np.allclose(pcm.pcm16_decode(pcm.pcm16_encode(x)), x, atol=1e-4)
    with pytest.raises(CorruptAudioError):
        pcm.pcm16_decode(b"\x00\x01\x02")


def test_unknown_encoding_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedAudioError, match="opus"):
        pcm.decode(b"\x00" * 10, "opus")


def test_deinterleave_and_partial_frames() -> None:
    x = np.arange(6, dtype=np.float32)
    assert pcm.deinterleave(x, 2).tolist() == [[0, 2, 4], [1, 3, 5]]
    with pytest.raises(CorruptAudioError):
        pcm.deinterleave(np.arange(5, dtype=np.float32), 2)


def test_sanitize_replaces_nan_and_inf_and_clips() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 2.0, -3.0, 0.25], dtype=np.float32)
    clean, bad = pcm.sanitize(x)
    assert bad == 3
    assert clean.tolist() == [0.0, 0.0, 0.0, 1.0, -1.0, 0.25]


def test_stream_resampler_matches_rate_and_keeps_a_tone() -> None:
    t = np.arange(8000 * 2) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    rs = StreamResampler(8000)
    parts = [rs.feed(tone[i : i + 160]) for i in range(0, tone.size, 160)] + [rs.finish()]
    out = np.concatenate(parts)
    assert abs(out.size - 32000) <= 2
    spectrum = np.abs(np.fft.rfft(out[4000:20000]))
    peak_hz = np.argmax(spectrum) * 16000 / 16000
    assert abs(peak_hz - 440) <= 2
    whole = resample(tone, 8000)
    assert abs(whole.size - 32000) <= 2
