"""Audio files to per-leg 16 kHz mono float32.

wav/flac/ogg are read with soundfile; anything else (mp3, m4a, ...) with PyAV
(bundled with faster-whisper).  Mono is the customer leg; stereo channel 0 and 1 map
to the legs named in ``channel_map`` (default customer, agent).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import soundfile as sf

from voice_assist.audio.pcm import sanitize
from voice_assist.audio.resample import PIPELINE_RATE_HZ, resample
from voice_assist.errors import CorruptAudioError, UnsupportedAudioError
from voice_assist.events import CHANNELS, Channel


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a file as float32 ``(frames, channels)`` and its sample rate.

    Raises
    ------
    CorruptAudioError
        Missing, empty, truncated or undecodable file.
    UnsupportedAudioError
        A container or codec neither soundfile nor PyAV can read.
    """
    p = Path(path)
    if not p.is_file():
        raise CorruptAudioError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise CorruptAudioError(f"{p}: file is empty")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as sf_exc:
        data, rate = _read_with_av(p, sf_exc)
    if data.shape[0] == 0:
        raise CorruptAudioError(f"{p}: no audio samples in file")
    return data, int(rate)


def _read_with_av(p: Path, first_error: Exception) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(p)) as container:
            if not container.streams.audio:
                raise UnsupportedAudioError(f"{p}: no audio stream in file")
            stream = container.streams.audio[0]
            rate = stream.rate or stream.codec_context.sample_rate
            channels = stream.codec_context.channels or 1
            resampler = av.AudioResampler(format="flt", layout="stereo" if channels > 1 else "mono")
            pieces = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
    except UnsupportedAudioError:
        raise
    except (av.error.InvalidDataError, av.error.FFmpegError, ValueError, OSError) as exc:
        raise UnsupportedAudioError(
            f"{p}: cannot decode audio ({first_error}; {exc}); use wav, flac, ogg or mp3"
        ) from exc
    if not pieces:
        raise CorruptAudioError(f"{p}: no decodable audio frames (truncated?)")
    flat = np.concatenate(pieces).astype(np.float32)
    nch = 2 if channels > 1 else 1
    flat = flat[: flat.size - flat.size % nch]
    return flat.reshape(-1, nch), int(rate)


def load_legs(
    path: str | Path, *, channel_map: Sequence[str] = CHANNELS
) -> dict[Channel, np.ndarray]:
    """Decode a call recording into ``{channel: 16 kHz mono float32}``.

    A mono file becomes the customer leg; a stereo file's channels map by
    ``channel_map``; extra channels are ignored.
    """
    for name in channel_map:
        if name not in CHANNELS:
            raise UnsupportedAudioError(f"channel map names {name!r}; use customer and agent")
    data, rate = read_audio(path)
    legs: dict[Channel, np.ndarray] = {}
    if data.shape[1] == 1:
        legs["customer"] = data[:, 0]
    else:
        for index, name in enumerate(channel_map[:2]):
            legs[cast(Channel, name)] = data[:, index]
    out: dict[Channel, np.ndarray] = {}
    for ch, x in legs.items():
        clean, _ = sanitize(np.ascontiguousarray(x))
        out[ch] = resample(clean, rate, PIPELINE_RATE_HZ)
    return out
