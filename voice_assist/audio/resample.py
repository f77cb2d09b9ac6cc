"""Streaming resampling to the pipeline's one internal rate (16 kHz) with soxr."""

from __future__ import annotations

import numpy as np
import soxr

PIPELINE_RATE_HZ = 16000


class StreamResampler:
    """Resample a stream chunk by chunk without edge artefacts between chunks.

    ``feed(x)`` returns what is ready; ``finish()`` flushes the filter tail.  Identity
    (no copy beyond float32) when the input is already at the output rate.
    """

    def __init__(self, in_rate_hz: int, out_rate_hz: int = PIPELINE_RATE_HZ) -> None:
        self.in_rate_hz = in_rate_hz
        self.out_rate_hz = out_rate_hz
        self._rs = (
            None
            if in_rate_hz == out_rate_hz
            else soxr.ResampleStream(in_rate_hz, out_rate_hz, 1, dtype="float32", quality="HQ")
        )

    def feed(self, samples: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(samples, dtype=np.float32)
        if self._rs is None:
            return x
        return self._rs.resample_chunk(x, last=False)

    def finish(self) -> np.ndarray:
        if self._rs is None:
            return np.zeros(0, dtype=np.float32)
        return self._rs.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def resample(
    samples: np.ndarray, in_rate_hz: int, out_rate_hz: int = PIPELINE_RATE_HZ
) -> np.ndarray:
    """Resample a whole signal at once."""
    x = np.ascontiguousarray(samples, dtype=np.float32)
    if in_rate_hz == out_rate_hz:
        return x
    return soxr.resample(x, in_rate_hz, out_rate_hz, quality="HQ").astype(np.float32, copy=False)
