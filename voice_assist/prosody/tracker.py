"""Streaming prosody for one leg: 16 kHz samples in, :class:`ProsodyFrame` every hop out.

The tracker band-limits the leg to ``analysis_rate_hz`` (8 kHz: the telephone band, so a
phone leg and a wideband leg give the same features; 16 -> 8 kHz is a short linear-phase FIR,
about 2 ms of delay, rather than a high-quality resampler with tens of ms of look-ahead),
analyses short frames as soon as the
next window end is covered by audio, and emits one frame per ``hop_ms`` of media time with
the features of the last ``window_ms``.  ``t_ms`` is the end of the window, in call-relative
media milliseconds counted from the samples fed.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from voice_assist.audio.pcm import sanitize
from voice_assist.audio.resample import StreamResampler
from voice_assist.config import ProsodyOptions
from voice_assist.events import Channel, ProsodyFrame
from voice_assist.logutil import call_logger
from voice_assist.prosody.features import FrameAnalyzer, FrameArrays, window_features

VOICED_ONLY = (
    "f0_st",
    "f0_std_st",
    "f0_range_st",
    "periodicity",
    "jitter",
    "shimmer_db",
    "alpha_ratio_db",
    "hammarberg_db",
)
"""Features that are NaN in a window marked ``voiced=False``."""


class _Decimator2:
    """Streaming decimation by two: a 63-tap FIR low-pass (cut-off 0.46 of the output rate)
    then every other sample.  Group delay 31 input samples (about 2 ms at 16 kHz)."""

    TAPS = 63

    def __init__(self, in_rate_hz: int) -> None:
        self._b = scipy.signal.firwin(self.TAPS, 0.46 * in_rate_hz / 2, fs=in_rate_hz)
        self._zi = np.zeros(self.TAPS - 1)
        self._phase = 0

    def feed(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:
            return np.zeros(0, dtype=np.float32)
        y, self._zi = scipy.signal.lfilter(self._b, 1.0, x.astype(np.float64), zi=self._zi)
        out = y[self._phase :: 2]
        self._phase = (self._phase + x.size) % 2
        return out.astype(np.float32)

    def finish(self) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)


class ProsodyTracker:
    """Per-leg prosody: ``feed(samples) -> [ProsodyFrame]``, ``finish() -> [ProsodyFrame]``.

    Parameters
    ----------
    call_id, channel : str
        Copied onto every frame.
    options : ProsodyOptions
        Frame, window and hop sizes, F0 range, voicing and level settings.
    sample_rate_hz : int
        Rate of the samples given to :meth:`feed` (the pipeline's 16 kHz).
    """

    def __init__(
        self,
        *,
        call_id: str,
        channel: Channel,
        options: ProsodyOptions,
        sample_rate_hz: int = 16000,
    ) -> None:
        self.call_id = call_id
        self.channel: Channel = channel
        self.options = options
        self.sample_rate_hz = sample_rate_hz
        self._log = call_logger(__name__, call_id, channel)
        rate = options.analysis_rate_hz
        self._rate = rate
        self._resampler: _Decimator2 | StreamResampler = (
            _Decimator2(sample_rate_hz)
            if sample_rate_hz == 2 * rate
            else StreamResampler(sample_rate_hz, rate)
        )
        self._frame_len = int(round(options.frame_ms * rate / 1000))
        self._frame_hop = max(1, int(round(options.frame_hop_ms * rate / 1000)))
        self.analyzer = FrameAnalyzer(
            sample_rate_hz=rate,
            frame_length=self._frame_len,
            hop_length=self._frame_hop,
            fmin_hz=options.fmin_hz,
            fmax_hz=options.fmax_hz,
            voicing_threshold=options.voicing_threshold,
            silence_dbfs=options.silence_dbfs,
        )
        self._window_frames = max(1, int(round(options.window_ms / options.frame_hop_ms)))
        self._min_voiced_frames = max(
            1, int(math.ceil(options.min_voiced_ms / options.frame_hop_ms))
        )
        # audio at the analysis rate not yet fully consumed; _buf[0] is absolute sample _buf_start
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0
        self._n_analysis = 0  # analysis-rate samples received in total
        self._next_frame = 0  # index of the next frame to analyse
        self._frames: list[FrameArrays] = []  # recent frames, oldest first
        self._frames_first = 0  # absolute index of the first kept frame
        self._next_emit_ms = options.hop_ms
        self._last_emit_ms = 0
        self._level_ref_db = math.nan
        self._level_n = 0
        self._bad_samples = 0
        self._finished = False

    # -- public -------------------------------------------------------------------------

    def feed(self, samples: np.ndarray) -> list[ProsodyFrame]:
        """Add samples (float32 at ``sample_rate_hz``, shape ``(n,)``); return frames now due.

        NaN/inf samples count as silence and values are clipped to [-1, 1].
        """
        if self._finished:
            raise RuntimeError("ProsodyTracker.feed() after finish()")
        x, bad = sanitize(np.asarray(samples, dtype=np.float32).reshape(-1))
        if bad:
            if not self._bad_samples:
                self._log.warning("replaced %d non-finite samples by silence", bad)
            self._bad_samples += bad
        self._append(self._resampler.feed(x))
        return self._emit_due(final=False)

    def finish(self) -> list[ProsodyFrame]:
        """Flush: frames for whatever audio is left (a last, shorter hop included)."""
        if self._finished:
            return []
        self._append(self._resampler.finish())
        self._finished = True
        return self._emit_due(final=True)

    @property
    def media_ms(self) -> int:
        """Media time of the audio analysed so far, ms."""
        return int(self._n_analysis * 1000 // self._rate)

    # -- internals ----------------------------------------------------------------------

    def _append(self, y: np.ndarray) -> None:
        if y.size:
            self._buf = np.concatenate([self._buf, y.astype(np.float32, copy=False)])
            self._n_analysis += int(y.size)

    def _frames_ending_by(self, t_ms: int) -> int:
        """Number of frames (from the start of the leg) whose last sample is before ``t_ms``."""
        end_sample = t_ms * self._rate // 1000
        return self.analyzer.n_frames(int(end_sample))

    def _analyze_up_to(self, n_frames: int) -> None:
        if n_frames <= self._next_frame:
            return
        start = self._next_frame * self._frame_hop - self._buf_start
        stop = (n_frames - 1) * self._frame_hop + self._frame_len - self._buf_start
        arrays = self.analyzer.analyze(self._buf[start:stop])
        self._frames.append(arrays)
        self._next_frame += arrays.n_frames
        # keep only what the next frames need
        drop = self._next_frame * self._frame_hop - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        # keep only the frames the next windows need
        keep_from = self._next_frame - self._window_frames
        while self._frames and self._frames_first + self._frames[0].n_frames <= keep_from:
            self._frames_first += self._frames[0].n_frames
            self._frames.pop(0)

    def _emit_due(self, *, final: bool) -> list[ProsodyFrame]:
        out: list[ProsodyFrame] = []
        media_ms = self.media_ms
        while self._next_emit_ms <= media_ms:
            out.extend(self._emit_at(self._next_emit_ms))
            self._next_emit_ms += self.options.hop_ms
        if final and media_ms - self._last_emit_ms >= self.options.hop_ms // 2:
            out.extend(self._emit_at(media_ms))
        return out

    def _emit_at(self, t_ms: int) -> list[ProsodyFrame]:
        n_end = self._frames_ending_by(t_ms)
        self._analyze_up_to(n_end)
        self._last_emit_ms = t_ms
        if not self._frames:
            return []
        recent = FrameArrays.concat(self._frames) if len(self._frames) > 1 else self._frames[0]
        stop = n_end - self._frames_first
        start = max(0, stop - self._window_frames)
        window = recent.slice(start, stop)
        if window.n_frames == 0:
            return []
        feats = window_features(
            window,
            frame_hop_s=self.options.frame_hop_ms / 1000.0,
            active_range_db=self.options.active_range_db,
            silence_dbfs=self.options.silence_dbfs,
        )
        voiced = int(np.count_nonzero(window.voiced)) >= self._min_voiced_frames
        if not voiced:  # too little voicing for pitch and voice quality to mean anything
            for key in VOICED_ONLY:
                feats[key] = math.nan
        level = feats["rms_dbfs"]
        if voiced and math.isfinite(level):
            self._update_level(level)
        feats["loudness_db"] = (
            level - self._level_ref_db
            if math.isfinite(level) and math.isfinite(self._level_ref_db)
            else math.nan
        )
        return [
            ProsodyFrame(
                call_id=self.call_id,
                t_ms=int(t_ms),
                channel=self.channel,
                features=feats,
                voiced=voiced,
            )
        ]

    def _update_level(self, level_db: float) -> None:
        """Running voiced level of the leg: a mean at first, then a slow EMA."""
        self._level_n += 1
        tau_windows = max(1.0, self.options.leg_level_time_constant_s * 1000 / self.options.hop_ms)
        alpha = max(1.0 / self._level_n, 1.0 / tau_windows)
        if not math.isfinite(self._level_ref_db):
            self._level_ref_db = level_db
        else:
            self._level_ref_db += alpha * (level_db - self._level_ref_db)
