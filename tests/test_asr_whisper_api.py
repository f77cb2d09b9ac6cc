"""The faster-whisper contract :mod:`voice_assist.asr.whisper_api` relies on.

An upgrade of faster-whisper that renames, removes or adds what the adapter uses
fails here, in one place, instead of somewhere in a decode."""

from __future__ import annotations

import dataclasses
import inspect

import faster_whisper
import numpy as np
import pytest
from faster_whisper import WhisperModel
from faster_whisper.transcribe import TranscriptionOptions

from voice_assist.asr.whisper_api import FASTER_WHISPER_VERSION, WhisperApi
from voice_assist.config import Settings


def params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_the_pinned_release_is_installed() -> None:
    assert faster_whisper.__version__ == FASTER_WHISPER_VERSION


def test_the_private_methods_keep_their_signatures() -> None:
    assert params(WhisperModel._split_segments_by_timestamps) == [
        "self", "tokenizer", "tokens", "time_offset", "segment_size", "segment_duration", "seek"
    ]  # fmt: skip
    assert params(WhisperModel.generate_with_fallback) == [
        "self", "encoder_output", "prompt", "tokenizer", "options"
    ]  # fmt: skip
    assert params(WhisperModel.add_word_timestamps) == [
        "self", "segments", "tokenizer", "encoder_output", "num_frames",
        "prepend_punctuations", "append_punctuations", "last_speech_timestamp",
    ]  # fmt: skip
    assert params(WhisperModel.get_prompt)[:3] == ["self", "tokenizer", "previous_tokens"]


@pytest.mark.model
def test_the_adapter_fills_every_option_and_decodes_a_window(
    whisper_model,  # type: ignore[no-untyped-def]
    settings: Settings,
) -> None:
    api = WhisperApi(whisper_model, "en")
    opts = api.options(
        beam_size=1,
        temperatures=[0.0],
        log_prob_threshold=-1.0,
        no_speech_threshold=0.6,
        compression_ratio_threshold=2.4,
        word_timestamps=True,
        max_initial_timestamp=1.0,
    )
    fields = {f.name for f in dataclasses.fields(TranscriptionOptions)}
    assert fields == set(dataclasses.asdict(opts))  # a new or renamed field fails here
    tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    features = api.features(tone)
    assert features.ndim == 2 and features.shape[1] > 0
    padded = np.zeros((features.shape[0], 1000), dtype=np.float32)
    padded[:, : features.shape[1]] = features[:, :1000]
    tokenizer = api.new_tokenizer()
    window = api.decode_window(api.encode(padded), tokenizer, [], opts)
    assert 0.0 <= window.no_speech_prob <= 1.0 and np.isfinite(window.avg_logprob)
    segments, seek = api.segments(tokenizer, window.tokens, 1000, 10.0)
    assert isinstance(segments, list) and 0 <= seek <= 1000
