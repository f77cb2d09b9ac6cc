"""Shared fixtures: settings, the real Whisper model (loaded once), test audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voice_assist.config import Settings, load_settings

DATA = Path(__file__).parent / "data"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(env={})


@pytest.fixture(scope="session")
def whisper_model(settings: Settings):  # type: ignore[no-untyped-def]
    from voice_assist.asr.model import load_model

    return load_model(settings)


def read16k(name: str) -> np.ndarray:
    """A committed test clip as 16 kHz float32 (first channel for stereo)."""
    data, rate = sf.read(str(DATA / name), dtype="float32", always_2d=True)
    assert rate == 16000
    return data[:, 0]
