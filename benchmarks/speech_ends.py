"""Where the utterances of a clean recording audibly end: the latency benchmarks' reference.

"End of an utterance -> final transcript" needs the moment the speech stops in the
audio.  Neither the system's own voice activity detector nor Whisper's word times may
serve as that reference: the VAD's end lies after the speech (its hang-over), and
Whisper's word ends, aligned from cross-attention, come early (on the bench call they
lie 60-400 ms before the audible end; see README "Measured figures").  The benchmark
recordings have quiet gaps between turns, so the end is read from the signal itself:
the last frame within ``range_db`` of the leg's loud frames before a quiet gap of at
least ``min_gap_ms``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np


def audible_ends_ms(
    samples: np.ndarray,
    *,
    rate_hz: int,
    frame_ms: int = 10,
    range_db: float = 40.0,
    floor_dbfs: float = -60.0,
    min_gap_ms: int = 300,
) -> list[int]:
    """Ends (ms from the start) of the audible stretches of ``samples`` (1-D, float).

    A frame is audible when its RMS level is above ``floor_dbfs`` and within
    ``range_db`` of the leg's loud level (the 95th percentile of frame levels); a stretch
    ends where at least ``min_gap_ms`` of inaudible frames (or the end of the audio)
    follow.
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    hop = max(1, rate_hz * frame_ms // 1000)
    n = x.size // hop
    if n == 0:
        return []
    frames = x[: n * hop].reshape(n, hop)
    rms = np.sqrt(np.mean(np.square(frames), axis=1))
    level = 20 * np.log10(np.maximum(rms, 1e-12))
    loud = float(np.percentile(level, 95))
    audible = level > max(floor_dbfs, loud - range_db)
    gap_frames = max(1, min_gap_ms // frame_ms)
    ends: list[int] = []
    quiet = gap_frames  # frames since the last audible one
    last = -1
    for i, a in enumerate(audible):
        if a:
            last, quiet = i, 0
        else:
            quiet += 1
            if quiet == gap_frames and last >= 0:
                ends.append((last + 1) * frame_ms)
    if quiet < gap_frames and last >= 0:
        ends.append((last + 1) * frame_ms)
    return ends


def call_ends_ms(audio: np.ndarray, *, rate_hz: int) -> dict[str, list[int]]:
    """:func:`audible_ends_ms` of a two-leg recording ``(n, 2)``: column 0 the customer,
    1 the agent (the benchmark calls' layout, as ``audio.file_channel_map`` maps it)."""
    return {
        ch: audible_ends_ms(audio[:, i], rate_hz=rate_hz)
        for i, ch in enumerate(("customer", "agent")[: audio.shape[1]])
    }


def end_within(ends_ms: Sequence[int], start_ms: int, end_ms: int) -> int | None:
    """The last audible end in ``[start_ms, end_ms]`` (ends sorted), or None."""
    i = bisect.bisect_right(ends_ms, end_ms)
    if i and ends_ms[i - 1] >= start_ms:
        return int(ends_ms[i - 1])
    return None
