"""Every use of faster-whisper beyond its public ``transcribe()``, in one place.

The decoder decodes one encoder window per utterance, with its own window sizes,
prompts and segment handling, so it drives faster-whisper's model one step at a time:
its options record, tokenizer, feature extractor, encoder, prompt builder, decoding
with temperature fallback, timestamp segmentation (a private method) and word
alignment.  These are internals of the pinned release (``FASTER_WHISPER_VERSION``);
``tests/test_asr_whisper_api.py`` checks the contract this module relies on, so an
upgrade fails there, loudly, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

FASTER_WHISPER_VERSION = "1.2.1"
"""The release these internals are known to match (pinned in ``pyproject.toml``)."""

PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True, slots=True)
class WindowDecode:
    """One window's decode: token ids and the scores the rejection rules use."""

    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


class WhisperApi:
    """The faster-whisper model, step by step (see the module docstring)."""

    def __init__(self, model: WhisperModel, language: str | None) -> None:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        self._model = model
        self.language = language
        self.multilingual = bool(model.model.is_multilingual)
        self._tokenizer_cls = Tokenizer
        self._options_cls = TranscriptionOptions
        self.suppress_tokens = get_suppressed_tokens(self.new_tokenizer(), [-1])

    @property
    def max_length(self) -> int:
        return int(self._model.max_length)

    def new_tokenizer(self) -> Any:
        """A tokenizer; it keeps per-call state, so one per thread."""
        return self._tokenizer_cls(
            self._model.hf_tokenizer,
            self.multilingual,
            task="transcribe",
            language=self.language or "en",
        )

    def options(
        self,
        *,
        beam_size: int,
        temperatures: list[float],
        log_prob_threshold: float,
        no_speech_threshold: float,
        compression_ratio_threshold: float,
        word_timestamps: bool,
        max_initial_timestamp: float,
    ) -> Any:
        """A full ``TranscriptionOptions``: the fields the decoder varies, and fixed
        values for the rest (greedy best-of, no conditioning, timestamp tokens on:
        without them Whisper runs on past the speech into the padded window)."""
        return self._options_cls(
            beam_size=beam_size,
            best_of=1,
            patience=1.0,
            length_penalty=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            log_prob_threshold=log_prob_threshold,
            no_speech_threshold=no_speech_threshold,
            compression_ratio_threshold=compression_ratio_threshold,
            condition_on_previous_text=False,
            prompt_reset_on_temperature=0.5,
            temperatures=temperatures,
            initial_prompt=None,
            prefix=None,
            suppress_blank=True,
            suppress_tokens=self.suppress_tokens,
            without_timestamps=False,
            max_initial_timestamp=max_initial_timestamp,
            word_timestamps=word_timestamps,
            prepend_punctuations=PREPEND_PUNCTUATIONS,
            append_punctuations=APPEND_PUNCTUATIONS,
            multilingual=self.language is None and self.multilingual,
            max_new_tokens=None,
            clip_timestamps="0",
            hallucination_silence_threshold=None,
            hotwords=None,
        )

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Log-mel features of 16 kHz float32 audio, shape ``(n_mels, frames)``."""
        return np.asarray(self._model.feature_extractor(audio))

    def encode(self, features: np.ndarray) -> Any:
        return self._model.encode(features)

    def decode_window(
        self, encoder_output: Any, tokenizer: Any, previous: list[int], options: Any
    ) -> WindowDecode:
        """Decode one window after the ``previous`` prompt tokens, with the options'
        temperature fallback."""
        model = self._model
        sequence = model.get_prompt(tokenizer, previous[-(model.max_length // 2 - 1) :])
        result, avg_logprob, _temperature, compression = model.generate_with_fallback(
            encoder_output, sequence, tokenizer, options
        )
        return WindowDecode(
            list(result.sequences_ids[0]),
            float(avg_logprob),
            float(result.no_speech_prob),
            float(compression),
        )

    def segments(
        self, tokenizer: Any, tokens: list[int], content_frames: int, duration_s: float
    ) -> tuple[list[dict[str, Any]], int]:
        """The window's segments by timestamp tokens, and where the decode stopped
        (in frames; short of ``content_frames`` when Whisper asks for a next window)."""
        segments, seek, _single = self._model._split_segments_by_timestamps(  # noqa: SLF001
            tokenizer, tokens, 0.0, content_frames, duration_s, 0
        )
        return list(segments), int(seek)

    def add_word_times(
        self, segments: list[dict[str, Any]], tokenizer: Any, encoder_output: Any, frames: int
    ) -> None:
        """Word start/end/probability into each segment's ``words`` (in place)."""
        self._model.add_word_timestamps(
            [segments],
            tokenizer,
            encoder_output,
            frames,
            PREPEND_PUNCTUATIONS,
            APPEND_PUNCTUATIONS,
            last_speech_timestamp=0.0,
        )
