"""Frame-level prosody features and their aggregation over a sliding window.

Two layers, both pure numpy (plus ``librosa.yin`` for F0):

* :class:`FrameAnalyzer` turns a stretch of band-limited audio into per-frame arrays
  (short frames, ``frame_ms`` long every ``frame_hop_ms``): level, F0 with a voicing
  decision, periodicity, and the spectral shape (centroid, flux, alpha ratio, Hammarberg
  index, a few MFCCs).  It keeps the one frame of state that flux needs, so a stream can
  be analysed in pieces.
* :func:`window_features` summarises the frames of one window (about 1 s) into the named
  features a :class:`~voice_assist.events.ProsodyFrame` carries.

Everything is computed on audio at ``analysis_rate_hz`` (8 kHz by default): the tracker
band-limits wideband input first, so a telephone leg and a wideband leg of the same voice
give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.fft
import scipy.signal

POWER_FLOOR = 1e-10
"""Frame power floor (-100 dBFS): digital silence never produces ``-inf``."""
SPECTRAL_FLOOR = 1e-8
"""Spectral power floor relative to the frame's mean bin power (-80 dB)."""
SPECTRUM_EPS = 1e-20
"""Absolute spectral floor (only digital silence reaches it)."""
SYLLABLE_DIP_DB = 3.0
"""Level dip that separates two syllable nuclei."""
F0_REF_HZ = 55.0
"""Semitone reference: ``12 * log2(f0 / 55 Hz)``."""

FEATURE_NAMES: tuple[str, ...] = (
    "rms_dbfs",
    "loudness_db",
    "loudness_range_db",
    "f0_st",
    "f0_std_st",
    "f0_range_st",
    "voiced_ratio",
    "periodicity",
    "jitter",
    "shimmer_db",
    "centroid_hz",
    "flux",
    "alpha_ratio_db",
    "hammarberg_db",
    "mfcc1",
    "mfcc2",
    "mfcc3",
    "mfcc4",
    "pause_ratio",
    "syllable_rate_hz",
)
"""Keys of :attr:`ProsodyFrame.features`, in a stable order.

``rms_dbfs``          mean power of the voiced frames (else of the active frames), dBFS
``loudness_db``       ``rms_dbfs`` relative to the leg's own running voiced level, dB
``loudness_range_db`` 90th minus 10th percentile of active-frame levels, dB
``f0_st``             median F0 of voiced frames, semitones re 55 Hz (NaN if unvoiced)
``f0_std_st``         standard deviation of voiced F0, semitones
``f0_range_st``       90th minus 10th percentile of voiced F0, semitones
``voiced_ratio``      voiced frames / all frames of the window
``periodicity``       mean normalised autocorrelation at the pitch period (voiced), 0..1
``jitter``            mean relative change of the period between adjacent voiced frames
``shimmer_db``        mean absolute level change between adjacent voiced frames, dB
``centroid_hz``       mean spectral centroid of active frames, Hz
``flux``              mean spectral flux (L2 change of the L1-normalised magnitude spectrum)
``alpha_ratio_db``    energy 1-4 kHz over 50 Hz-1 kHz of voiced frames, dB
``hammarberg_db``     peak level 0-2 kHz minus peak level 2-4 kHz of voiced frames, dB
``mfcc1..4``          mean MFCCs 1-4 of active frames (c0 left out: it is the level)
``pause_ratio``       frames that are not active (pauses, silence), 0..1
``syllable_rate_hz``  voiced level peaks per second (an acoustic speaking-rate proxy)
"""


@dataclass(frozen=True, slots=True)
class FrameArrays:
    """Per-frame features of a stretch of audio, each of shape ``(n_frames,)``.

    ``mfcc`` has shape ``(n_frames, n_mfcc)``.  ``f0_hz`` is NaN where not voiced.
    ``flux`` of the first frame of a stream is 0.
    """

    rms_db: np.ndarray
    f0_hz: np.ndarray
    periodicity: np.ndarray
    voiced: np.ndarray
    centroid_hz: np.ndarray
    flux: np.ndarray
    alpha_ratio_db: np.ndarray
    hammarberg_db: np.ndarray
    mfcc: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.rms_db.shape[0])

    def slice(self, start: int, stop: int) -> FrameArrays:
        return FrameArrays(
            rms_db=self.rms_db[start:stop],
            f0_hz=self.f0_hz[start:stop],
            periodicity=self.periodicity[start:stop],
            voiced=self.voiced[start:stop],
            centroid_hz=self.centroid_hz[start:stop],
            flux=self.flux[start:stop],
            alpha_ratio_db=self.alpha_ratio_db[start:stop],
            hammarberg_db=self.hammarberg_db[start:stop],
            mfcc=self.mfcc[start:stop],
        )

    @staticmethod
    def concat(parts: list[FrameArrays]) -> FrameArrays:
        return FrameArrays(
            rms_db=np.concatenate([p.rms_db for p in parts]),
            f0_hz=np.concatenate([p.f0_hz for p in parts]),
            periodicity=np.concatenate([p.periodicity for p in parts]),
            voiced=np.concatenate([p.voiced for p in parts]),
            centroid_hz=np.concatenate([p.centroid_hz for p in parts]),
            flux=np.concatenate([p.flux for p in parts]),
            alpha_ratio_db=np.concatenate([p.alpha_ratio_db for p in parts]),
            hammarberg_db=np.concatenate([p.hammarberg_db for p in parts]),
            mfcc=np.concatenate([p.mfcc for p in parts]),
        )


class FrameAnalyzer:
    """Per-frame analysis at one sample rate.

    Parameters
    ----------
    sample_rate_hz : int
        Rate of the audio given to :meth:`analyze` (8000 for the tracker).
    frame_length : int
        Frame length in samples (F0 and spectrum share it).
    hop_length : int
        Frame hop in samples.
    fmin_hz, fmax_hz : float
        F0 search range.
    voicing_threshold : float
        Minimum normalised autocorrelation at the pitch period for a voiced frame.
    silence_dbfs : float
        Frames quieter than this are never voiced.
    n_mfcc : int
        MFCCs kept (1..n_mfcc).
    """

    def __init__(
        self,
        *,
        sample_rate_hz: int,
        frame_length: int,
        hop_length: int,
        fmin_hz: float,
        fmax_hz: float,
        voicing_threshold: float,
        silence_dbfs: float,
        n_mfcc: int = 4,
    ) -> None:
        if frame_length < 2 * math.ceil(sample_rate_hz / fmin_hz):
            raise ValueError(
                f"frame_length={frame_length} holds less than two periods of fmin={fmin_hz} Hz "
                f"at {sample_rate_hz} Hz"
            )
        self.sample_rate_hz = sample_rate_hz
        self.frame_length = frame_length
        self.hop_length = hop_length
        self.fmin_hz = fmin_hz
        self.fmax_hz = min(fmax_hz, sample_rate_hz / 4)
        self.voicing_threshold = voicing_threshold
        self.silence_dbfs = silence_dbfs
        self.n_mfcc = n_mfcc
        self._window = np.hanning(frame_length).astype(np.float64)
        freqs = np.fft.rfftfreq(frame_length, 1.0 / sample_rate_hz)
        nyq = sample_rate_hz / 2
        self._freqs = freqs
        self._band = (freqs >= 50.0) & (freqs <= nyq)
        self._lo = (freqs >= 50.0) & (freqs < 1000.0)
        self._hi = (freqs >= 1000.0) & (freqs <= min(5000.0, nyq))
        self._h_lo = freqs < 2000.0
        self._h_hi = (freqs >= 2000.0) & (freqs <= min(5000.0, nyq))
        self._mel = librosa.filters.mel(
            sr=sample_rate_hz, n_fft=frame_length, n_mels=26, fmin=50.0, fmax=nyq
        ).astype(np.float64)
        self._acf_n = int(2 ** math.ceil(math.log2(2 * frame_length)))
        self._prev_mag: np.ndarray | None = None
        # librosa loads (and numba-compiles) submodules lazily: do it now, not on the first frame
        _ = (librosa.yin, librosa.util.frame)

    def reset(self) -> None:
        self._prev_mag = None

    def n_frames(self, n_samples: int) -> int:
        """Frames that fit in ``n_samples`` (no padding)."""
        if n_samples < self.frame_length:
            return 0
        return 1 + (n_samples - self.frame_length) // self.hop_length

    def analyze(self, y: np.ndarray) -> FrameArrays:
        """Analyse every whole frame of ``y`` (shape ``(n,)``, float, finite).

        Frame ``i`` covers samples ``[i * hop, i * hop + frame_length)``.
        """
        n = self.n_frames(int(y.shape[0]))
        if n == 0:
            return _empty(self.n_mfcc)
        y = np.ascontiguousarray(y[: (n - 1) * self.hop_length + self.frame_length])
        frames = librosa.util.frame(y, frame_length=self.frame_length, hop_length=self.hop_length)
        frames64 = frames.T.astype(np.float64)  # (n, L)

        power = np.mean(frames64**2, axis=1)
        rms_db = 10.0 * np.log10(power + POWER_FLOOR)

        f0 = librosa.yin(
            y.astype(np.float32),
            fmin=self.fmin_hz,
            fmax=self.fmax_hz,
            sr=self.sample_rate_hz,
            frame_length=self.frame_length,
            hop_length=self.hop_length,
            center=False,
        )[:n]
        periodicity = self._periodicity(frames64, f0)
        voiced = (periodicity >= self.voicing_threshold) & (rms_db > self.silence_dbfs)
        f0 = np.where(voiced, f0, np.nan)

        spec = np.fft.rfft(frames64 * self._window, axis=1)
        pw = spec.real**2 + spec.imag**2
        # floor 80 dB below the frame's mean bin power: log-spectral shape does not depend on gain
        pw += SPECTRAL_FLOOR * np.mean(pw, axis=1, keepdims=True) + SPECTRUM_EPS
        band = pw[:, self._band]
        centroid = (band @ self._freqs[self._band]) / np.sum(band, axis=1)
        alpha = 10.0 * np.log10(np.sum(pw[:, self._hi], axis=1) / np.sum(pw[:, self._lo], axis=1))
        hamm = 10.0 * np.log10(
            np.max(pw[:, self._h_lo], axis=1) / np.max(pw[:, self._h_hi], axis=1)
        )
        mag = np.sqrt(pw)
        mag /= np.sum(mag, axis=1, keepdims=True)
        prev = mag[:1] if self._prev_mag is None else self._prev_mag[None, :]
        flux = np.sqrt(np.sum(np.diff(np.vstack([prev, mag]), axis=0) ** 2, axis=1))
        self._prev_mag = mag[-1].copy()
        logmel = np.log(pw @ self._mel.T + SPECTRUM_EPS)
        mfcc = scipy.fft.dct(logmel, type=2, norm="ortho", axis=1)[:, 1 : 1 + self.n_mfcc]

        return FrameArrays(
            rms_db=rms_db,
            f0_hz=f0,
            periodicity=periodicity,
            voiced=voiced,
            centroid_hz=centroid,
            flux=flux,
            alpha_ratio_db=alpha,
            hammarberg_db=hamm,
            mfcc=mfcc,
        )

    def _periodicity(self, frames: np.ndarray, f0: np.ndarray) -> np.ndarray:
        """Normalised autocorrelation at the YIN period (best of period +-1 sample)."""
        L = self.frame_length
        x = frames - np.mean(frames, axis=1, keepdims=True)
        spec = np.fft.rfft(x, n=self._acf_n, axis=1)
        acf = np.fft.irfft(spec.real**2 + spec.imag**2, n=self._acf_n, axis=1)[:, :L]
        r0 = acf[:, 0] + POWER_FLOOR
        period = np.where(np.isfinite(f0) & (f0 > 0), self.sample_rate_hz / np.maximum(f0, 1.0), 0)
        lag = np.clip(np.rint(period).astype(np.int64), 1, L // 2)
        best = np.full(frames.shape[0], -1.0)
        rows = np.arange(frames.shape[0])
        for d in (-1, 0, 1):
            k = np.clip(lag + d, 1, L - 1)
            # unbiased: a perfectly periodic frame scores 1 at its period
            r = acf[rows, k] / r0 * (L / (L - k))
            best = np.maximum(best, r)
        return np.clip(best, 0.0, 1.0)


def _empty(n_mfcc: int) -> FrameArrays:
    z = np.zeros(0)
    return FrameArrays(
        rms_db=z,
        f0_hz=z,
        periodicity=z,
        voiced=np.zeros(0, dtype=bool),
        centroid_hz=z,
        flux=z,
        alpha_ratio_db=z,
        hammarberg_db=z,
        mfcc=np.zeros((0, n_mfcc)),
    )


def hz_to_semitones(f0_hz: np.ndarray | float) -> np.ndarray:
    """F0 in semitones re 55 Hz (NaN stays NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 12.0 * np.log2(np.asarray(f0_hz, dtype=np.float64) / F0_REF_HZ)


def window_features(
    fr: FrameArrays,
    *,
    frame_hop_s: float,
    active_range_db: float,
    silence_dbfs: float,
) -> dict[str, float]:
    """Summarise the frames of one window into the named features (see :data:`FEATURE_NAMES`).

    ``loudness_db`` is left NaN here; the tracker fills it in from the leg's running level.
    Features that need voiced frames are NaN when there are fewer than two.

    Parameters
    ----------
    fr : FrameArrays
        The window's frames.
    frame_hop_s : float
        Frame hop in seconds (for rates).
    active_range_db : float
        Frames within this many dB of the window's loudest frame (and above ``silence_dbfs``)
        count as active (speech or loud noise); the rest are pauses.
    silence_dbfs : float
        Absolute floor for an active frame.
    """
    n = fr.n_frames
    out = dict.fromkeys(FEATURE_NAMES, math.nan)
    if n == 0:
        return out
    db = fr.rms_db
    top = float(np.max(db))
    active = db > max(silence_dbfs, top - active_range_db)
    voiced = fr.voiced & active
    n_active = int(np.count_nonzero(active))
    n_voiced = int(np.count_nonzero(voiced))
    out["voiced_ratio"] = n_voiced / n
    out["pause_ratio"] = 1.0 - n_active / n
    if n_active == 0:
        out["syllable_rate_hz"] = 0.0
        return out
    level_sel = voiced if n_voiced else active
    out["rms_dbfs"] = float(10.0 * np.log10(np.mean(10.0 ** (db[level_sel] / 10.0))))
    act_db = db[active]
    p10, p90 = np.percentile(act_db, [10.0, 90.0])
    out["loudness_range_db"] = float(p90 - p10)
    out["centroid_hz"] = float(np.mean(fr.centroid_hz[active]))
    out["flux"] = float(np.mean(fr.flux[active]))
    mf = np.mean(fr.mfcc[active], axis=0)
    for i in range(min(4, mf.shape[0])):
        out[f"mfcc{i + 1}"] = float(mf[i])
    out["syllable_rate_hz"] = _syllable_rate(db, voiced, frame_hop_s)
    if n_voiced >= 2:
        st = hz_to_semitones(fr.f0_hz[voiced])
        out["f0_st"] = float(np.median(st))
        out["f0_std_st"] = float(np.std(st))
        q10, q90 = np.percentile(st, [10.0, 90.0])
        out["f0_range_st"] = float(q90 - q10)
        out["periodicity"] = float(np.mean(fr.periodicity[voiced]))
        out["alpha_ratio_db"] = float(np.mean(fr.alpha_ratio_db[voiced]))
        out["hammarberg_db"] = float(np.mean(fr.hammarberg_db[voiced]))
        pair = voiced[1:] & voiced[:-1]
        if np.any(pair):
            period = 1.0 / fr.f0_hz
            dp = np.abs(np.diff(period))[pair]
            mp = 0.5 * (period[1:] + period[:-1])[pair]
            out["jitter"] = float(np.mean(dp / mp))
            out["shimmer_db"] = float(np.mean(np.abs(np.diff(db))[pair]))
    return out


def _syllable_rate(db: np.ndarray, voiced: np.ndarray, frame_hop_s: float) -> float:
    """Voiced level peaks (syllable nuclei) per second of window.

    Peaks of the smoothed voiced level envelope count as separate nuclei only when the
    level dips at least :data:`SYLLABLE_DIP_DB` between them.
    """
    if not np.any(voiced):
        return 0.0
    env = np.where(voiced, db, np.min(db))
    k = 5
    if env.size >= k:
        env = np.convolve(np.pad(env, k // 2, mode="edge"), np.ones(k) / k, mode="valid")
    min_gap = max(1, int(round(0.08 / frame_hop_s)))
    peaks, _ = scipy.signal.find_peaks(env, distance=min_gap)
    count = 0
    last = -1
    for p in peaks:
        if not voiced[p]:
            continue
        if last < 0:
            count, last = 1, int(p)
            continue
        valley = float(np.min(env[last : p + 1]))
        if min(env[last], env[p]) - valley >= SYLLABLE_DIP_DB:
            count += 1
            last = int(p)
        elif env[p] > env[last]:
            last = int(p)  # the same nucleus, a higher point of it
    return float(count / (db.size * frame_hop_s))
