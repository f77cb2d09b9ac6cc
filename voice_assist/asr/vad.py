"""Streaming voice activity detection with the Silero VAD model shipped in faster-whisper.

:class:`SileroStream` turns a 16 kHz stream into one speech probability per 32 ms
chunk (512 samples), carrying the model's recurrent state and 64-sample context
across calls so that streaming gives the same numbers however the input is cut; the
state is reset after a stretch of quiet (see :class:`SileroStream`).
:class:`SpeechGate` turns those probabilities into utterance boundaries with
hysteresis (``threshold`` to start, ``neg_threshold`` to end), a minimum speech
duration and an end-of-utterance silence.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass

import numpy as np

CHUNK_SAMPLES = 512
CHUNK_MS = 32
_CONTEXT_SAMPLES = 64


@functools.lru_cache(maxsize=1)
def _session() -> object:
    import onnxruntime
    from faster_whisper.utils import get_assets_path

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 4
    path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


_SESSION_LOCK = threading.Lock()


class SileroStream:
    """Speech probability per 512-sample chunk, streamed.

    ``feed(samples)`` buffers input and returns a float32 array of probabilities for
    every whole chunk completed so far (possibly empty); the numbers do not depend on
    how the input is cut into calls.

    The model's recurrent state is reset to zero once ``reset_after_quiet_chunks``
    consecutive chunks have scored below ``quiet_below`` (0 turns the reset off, which
    gives faster-whisper's whole-file numbers).  Carried through a long call, the state
    lost the next speaker: after a 17 s monologue, a 26 s recording of another voice
    scored above 0.5 in 57 of its first 500 chunks, against 247 on its own, and 15 s of
    its speech never reached Whisper; with the reset after 0.5 s of quiet, 292, after
    1.5 s, 320.  A reset within a turn costs: after 0.5 s, J. F. Kennedy's "ask not"
    (after a 0.7 s pause) scored above 0.5 in 8 chunks instead of 17 and was lost, so
    the runtime resets between turns (``asr.vad_reset_quiet_ms``, 1.5 s).
    """

    def __init__(
        self, *, reset_after_quiet_chunks: int = 1500 // CHUNK_MS, quiet_below: float = 0.35
    ) -> None:
        """Defaults as ``asr.vad_reset_quiet_ms`` and ``asr.vad_neg_threshold`` (1.5 s, 0.35)."""
        self._session = _session()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._reset_after = reset_after_quiet_chunks
        self._quiet_below = quiet_below
        self._quiet = 0  # consecutive chunks below quiet_below so far

    def feed(self, samples: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        n = buf.size // CHUNK_SAMPLES
        self._pending = buf[n * CHUNK_SAMPLES :]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        chunks = buf[: n * CHUNK_SAMPLES].reshape(n, CHUNK_SAMPLES)
        contexts = np.empty((n, _CONTEXT_SAMPLES), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = chunks[:-1, -_CONTEXT_SAMPLES:]
        self._context = chunks[-1, -_CONTEXT_SAMPLES:].copy()
        batch = np.concatenate([contexts, chunks], axis=1)
        parts = []
        while batch.shape[0]:
            with _SESSION_LOCK:  # one ONNX session shared by all legs
                out, h, c = self._session.run(  # type: ignore[attr-defined]
                    None, {"input": batch, "h": self._h, "c": self._c}
                )
            probs = np.asarray(out, dtype=np.float32).reshape(-1)
            reset_at = self._reset_point(probs)
            if reset_at is None:
                self._h, self._c = h, c
                parts.append(probs)
                break
            # the chunks after the reset point are run again from the zero state
            parts.append(probs[: reset_at + 1])
            self._h = np.zeros_like(self._h)
            self._c = np.zeros_like(self._c)
            batch = batch[reset_at + 1 :]
        return np.concatenate(parts)

    def _reset_point(self, probs: np.ndarray) -> int | None:
        """Index of the chunk that completes a quiet run (counting the run so far)."""
        for k, p in enumerate(probs):
            self._quiet = self._quiet + 1 if p < self._quiet_below else 0
            if self._reset_after and self._quiet == self._reset_after:
                return k
        return None


@dataclass(frozen=True, slots=True)
class GateChange:
    """``kind`` is ``start`` (speech began at ``sample``) or ``end`` (speech ended there)."""

    kind: str
    sample: int


class SpeechGate:
    """Hysteresis on per-chunk speech probabilities; works in sample positions.

    A start is reported once ``min_speech_ms`` of speech has accumulated (its position
    is the first speech chunk, minus ``speech_pad_ms``); an end once ``end_silence_ms``
    of non-speech has followed (its position is the last speech chunk, plus the pad).
    """

    def __init__(
        self,
        *,
        threshold: float,
        neg_threshold: float,
        min_speech_ms: int,
        end_silence_ms: int,
        speech_pad_ms: int,
        sample_rate_hz: int = 16000,
    ) -> None:
        self.threshold = threshold
        self.neg_threshold = min(neg_threshold, threshold)
        self._min_speech_chunks = max(1, round(min_speech_ms / CHUNK_MS))
        self._end_silence_chunks = max(1, round(end_silence_ms / CHUNK_MS))
        self._pad = int(speech_pad_ms * sample_rate_hz / 1000)
        self._chunk_index = 0
        self.speaking = False
        self._candidate_start: int | None = None
        self._speech_run = 0
        self._silence_run = 0
        self._last_speech_end = 0
        self._last_end_sample = 0

    def feed(self, probs: np.ndarray) -> list[GateChange]:
        changes: list[GateChange] = []
        for p in probs:
            start = self._chunk_index * CHUNK_SAMPLES
            self._chunk_index += 1
            if not self.speaking:
                if p >= self.threshold:
                    if self._candidate_start is None:
                        self._candidate_start = start
                    self._speech_run += 1
                    if self._speech_run >= self._min_speech_chunks:
                        self.speaking = True
                        self._silence_run = 0
                        self._last_speech_end = start + CHUNK_SAMPLES
                        begin = max(self._last_end_sample, self._candidate_start - self._pad, 0)
                        changes.append(GateChange("start", begin))
                elif p < self.neg_threshold:
                    self._candidate_start = None
                    self._speech_run = 0
            else:
                if p >= self.neg_threshold:
                    self._silence_run = 0
                    self._last_speech_end = start + CHUNK_SAMPLES
                else:
                    self._silence_run += 1
                    if self._silence_run >= self._end_silence_chunks:
                        end = min(self._last_speech_end + self._pad, start + CHUNK_SAMPLES)
                        self._last_end_sample = end
                        changes.append(GateChange("end", end))
                        self.speaking = False
                        self._candidate_start = None
                        self._speech_run = 0
        return changes

    @property
    def last_speech_end(self) -> int:
        """Sample just after the last chunk classified as speech."""
        return self._last_speech_end

    @property
    def silence_ms(self) -> int:
        """Non-speech run inside the current utterance (0 when not speaking)."""
        return self._silence_run * CHUNK_MS if self.speaking else 0

    def tentative_end(self) -> int | None:
        """Where the utterance will end if the current silence lasts: known once the
        silence has covered the end pad (the audio up to that point is then complete)."""
        if not self.speaking or self._silence_run * CHUNK_SAMPLES < self._pad + CHUNK_SAMPLES:
            return None
        return self._last_speech_end + self._pad

    @property
    def position(self) -> int:
        """Samples consumed so far (whole chunks)."""
        return self._chunk_index * CHUNK_SAMPLES
