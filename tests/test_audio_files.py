from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA

from voice_assist.audio.files import load_legs
from voice_assist.errors import AudioError, CorruptAudioError


def test_stereo_file_maps_channels_to_legs() -> None:
    legs = load_legs(DATA / "call_stereo_en.flac")
    assert set(legs) == {"customer", "agent"}
    assert legs["customer"].dtype == np.float32
    swapped = load_legs(DATA / "call_stereo_en.flac", channel_map=("agent", "customer"))
    assert np.array_equal(swapped["agent"], legs["customer"])


def test_mono_8k_file_becomes_16k_customer_leg(tmp_path: Path) -> None:
    path = tmp_path / "phone.wav"
    sf.write(path, np.zeros(8000, dtype=np.float32), 8000)
    legs = load_legs(path)
    assert list(legs) == ["customer"]
    assert abs(legs["customer"].size - 16000) <= 2


def test_empty_truncated_and_garbage_files_are_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(CorruptAudioError, match="empty"):
        load_legs(empty)
    good = (DATA / "utterance_en.flac").read_bytes()
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(good[:200])
    with pytest.raises(AudioError):
        load_legs(truncated)
    garbage = tmp_path / "noise.mp3"
    garbage.write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(AudioError):
        load_legs(garbage)
    with pytest.raises(CorruptAudioError, match="no such file"):
        load_legs(tmp_path / "missing.wav")


def test_unknown_channel_name_is_rejected() -> None:
    with pytest.raises(AudioError, match="channel map"):
        load_legs(DATA / "call_stereo_en.flac", channel_map=("caller", "agent"))


def test_nan_samples_in_file_are_sanitised(tmp_path: Path) -> None:
    x = np.zeros(16000, dtype=np.float32)
    x[100:200] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    legs = load_legs(path)
    assert np.isfinite(legs["customer"]).all()
