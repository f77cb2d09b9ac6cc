"""Telephony sample codecs: G.711 mu-law and 16-bit linear PCM, to float32 in [-1, 1].

Pure numpy, table driven; no I/O.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from voice_assist.errors import CorruptAudioError, UnsupportedAudioError

Encoding = Literal["pcm_s16le", "mulaw"]
ENCODINGS: tuple[Encoding, ...] = ("pcm_s16le", "mulaw")
SAMPLE_RATES_HZ = (8000, 16000)


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    linear = np.where(sign != 0, -magnitude, magnitude)
    return (linear / 32768.0).astype(np.float32)


MULAW_TO_FLOAT: np.ndarray = _mulaw_table()
"""G.711 mu-law byte -> float32 sample (ITU-T G.711, 14-bit magnitude)."""


def mulaw_decode(data: bytes) -> np.ndarray:
    """Decode mu-law bytes to float32 samples, shape ``(len(data),)``."""
    return MULAW_TO_FLOAT[np.frombuffer(data, dtype=np.uint8)]


def mulaw_encode(samples: np.ndarray) -> bytes:
    """Encode float32 samples in [-1, 1] to mu-law bytes (for tests, demo and --telephone)."""
    x = np.clip(np.nan_to_num(samples), -1.0, 1.0)
    pcm = np.round(x * 32767.0).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0x00)
    mag = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8).tobytes()


def pcm16_decode(data: bytes) -> np.ndarray:
    """Decode little-endian signed 16-bit PCM to float32; odd byte counts are an error."""
    if len(data) % 2:
        raise CorruptAudioError(f"pcm_s16le payload of {len(data)} bytes is not a whole sample")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def pcm16_encode(samples: np.ndarray) -> bytes:
    x = np.clip(np.nan_to_num(samples), -1.0, 1.0)
    return np.round(x * 32767.0).astype("<i2").tobytes()


def decode(data: bytes, encoding: str) -> np.ndarray:
    """Decode one payload of ``encoding`` to float32 samples (still interleaved)."""
    if encoding == "mulaw":
        return mulaw_decode(data)
    if encoding == "pcm_s16le":
        return pcm16_decode(data)
    raise UnsupportedAudioError(f"unsupported encoding {encoding!r}; use one of {list(ENCODINGS)}")


def bytes_per_sample(encoding: str) -> int:
    if encoding not in ENCODINGS:
        raise UnsupportedAudioError(
            f"unsupported encoding {encoding!r}; use one of {list(ENCODINGS)}"
        )
    return 2 if encoding == "pcm_s16le" else 1


def deinterleave(samples: np.ndarray, channels: int) -> np.ndarray:
    """Interleaved ``(n * channels,)`` -> ``(channels, n)``; a partial frame is an error."""
    if channels < 1:
        raise UnsupportedAudioError(f"channels must be >= 1, not {channels}")
    if samples.size % channels:
        raise CorruptAudioError(
            f"{samples.size} samples do not split into whole frames of {channels} channels"
        )
    return samples.reshape(-1, channels).T


def sanitize(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace NaN/inf by 0 and clip to [-1, 1]; returns the array and how many were bad."""
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False), bad
