"""Per-call audio archive: one stereo FLAC (customer, agent) at 16 kHz, written as it comes.

The two legs arrive separately and not always in step.  :class:`ArchiveWriter` writes a
frame only when both legs have it, so the file's two channels stay aligned on the media
clock; a leg that falls more than ``max_skew_s`` behind (or is absent, as in a mono
source) is padded with silence, and the same number of its late samples is discarded
when they do arrive, which keeps the alignment.  At the end the shorter leg is padded.

Alongside it computes waveform peaks (max |x| per ``WAVE_HOP_MS`` per leg, as uint8) for
the replay page, handed out in chunks of ``WAVE_CHUNK_HOPS`` hops to be stored in the
database.

A process killed mid-call leaves a FLAC whose header does not know its length;
:func:`repair_flac` rewrites such a file from the frames that made it to disk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from voice_assist.errors import StoreError
from voice_assist.events import CHANNELS

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
WAVE_HOP_MS = 50
WAVE_HOP = SAMPLE_RATE_HZ * WAVE_HOP_MS // 1000
WAVE_CHUNK_HOPS = 200
"""Peaks per stored waveform row (10 s of audio)."""
_UNKNOWN_FRAMES = 1 << 62


class AudioArchiveError(StoreError):
    """A call's audio archive is missing, still being written, or damaged.

    ``code``: ``audio_missing`` (none was archived), ``audio_live`` (the call is still
    being recorded) or ``audio_damaged`` (the file cannot be read).
    """

    def __init__(self, message: str, *, code: str = "audio_damaged") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class WaveChunk:
    """Waveform peaks of one stretch of audio: ``uint8`` arrays, one value per hop."""

    chunk_no: int
    customer: bytes
    agent: bytes


class ArchiveWriter:
    """Aligned stereo FLAC writer for one call (not thread-safe: the store writer owns it).

    Parameters
    ----------
    path
        Destination ``.flac``; created on the first samples.
    max_skew_s
        How far one leg may run ahead of the other before the lagging leg is padded.
    """

    def __init__(self, path: Path, *, max_skew_s: float = 10.0) -> None:
        self.path = path
        self._max_skew = int(max_skew_s * SAMPLE_RATE_HZ)
        self._pending: dict[str, list[np.ndarray]] = {ch: [] for ch in CHANNELS}
        self._buffered: dict[str, int] = dict.fromkeys(CHANNELS, 0)
        self._discard: dict[str, int] = dict.fromkeys(CHANNELS, 0)
        self._file: sf.SoundFile | None = None
        self.frames_written = 0
        self.padded_samples: dict[str, int] = dict.fromkeys(CHANNELS, 0)
        self._wave_rest = np.zeros((0, 2), np.float32)
        self._wave_peaks: list[np.ndarray] = []
        self._wave_count = 0
        self._wave_chunks_out = 0
        self.closed = False

    # -- writing -----------------------------------------------------------------------------

    def add(self, channel: str, samples: np.ndarray, *, gap_samples: int = 0) -> None:
        """Append ``samples`` (float32, 16 kHz) of ``channel``, after ``gap_samples`` of silence."""
        if self.closed:
            raise AudioArchiveError(f"{self.path.name}: archive already closed")
        x = np.nan_to_num(np.asarray(samples, dtype=np.float32).reshape(-1), copy=False)
        if gap_samples > 0:
            x = np.concatenate([np.zeros(gap_samples, np.float32), x])
        drop = min(self._discard[channel], len(x))
        if drop:
            self._discard[channel] -= drop
            x = x[drop:]
        if len(x):
            self._pending[channel].append(x)
            self._buffered[channel] += len(x)
        self._write_aligned()
        self._limit_skew()

    def _take(self, channel: str, n: int) -> np.ndarray:
        chunks = self._pending[channel]
        joined = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        head, rest = joined[:n], joined[n:]
        self._pending[channel] = [rest] if len(rest) else []
        self._buffered[channel] -= n
        return head

    def _write_aligned(self) -> None:
        n = min(self._buffered.values())
        if n > 0:
            self._write(self._take("customer", n), self._take("agent", n))

    def _limit_skew(self) -> None:
        for lead, lag in (("customer", "agent"), ("agent", "customer")):
            excess = self._buffered[lead] - self._max_skew
            if excess > 0 and self._buffered[lag] == 0:
                pad = np.zeros(excess, np.float32)
                head = self._take(lead, excess)
                if lead == "customer":
                    self._write(head, pad)
                else:
                    self._write(pad, head)
                self._discard[lag] += excess
                self.padded_samples[lag] += excess

    def _write(self, customer: np.ndarray, agent: np.ndarray) -> None:
        frames = np.clip(np.stack([customer, agent], axis=1), -1.0, 1.0)
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = sf.SoundFile(
                self.path,
                "w",
                samplerate=SAMPLE_RATE_HZ,
                channels=2,
                format="FLAC",
                subtype="PCM_16",
            )
        self._file.write(frames)
        self.frames_written += len(frames)
        self._add_peaks(frames)

    def _add_peaks(self, frames: np.ndarray) -> None:
        data = np.concatenate([self._wave_rest, frames]) if len(self._wave_rest) else frames
        full = len(data) // WAVE_HOP * WAVE_HOP
        if full:
            peaks = np.abs(data[:full]).reshape(-1, WAVE_HOP, 2).max(axis=1)
            self._wave_peaks.append(peaks)
            self._wave_count += len(peaks)
        self._wave_rest = data[full:].copy()

    def flush(self) -> None:
        """Push encoded frames to the file (called about once a second)."""
        if self._file is not None:
            self._file.flush()

    def take_wave_chunks(self, *, final: bool = False) -> list[WaveChunk]:
        """Completed waveform chunks since the last call (with ``final``: the tail too)."""
        if final and len(self._wave_rest):
            self._wave_peaks.append(np.abs(self._wave_rest).max(axis=0, keepdims=True))
            self._wave_count += 1
            self._wave_rest = np.zeros((0, 2), np.float32)
        if not self._wave_peaks:
            return []
        peaks = np.concatenate(self._wave_peaks)
        n_chunks = len(peaks) // WAVE_CHUNK_HOPS
        if final and len(peaks) % WAVE_CHUNK_HOPS:
            n_chunks += 1
        out: list[WaveChunk] = []
        for i in range(n_chunks):
            part = peaks[i * WAVE_CHUNK_HOPS : (i + 1) * WAVE_CHUNK_HOPS]
            q = np.round(np.clip(part, 0.0, 1.0) * 255).astype(np.uint8)
            out.append(WaveChunk(self._wave_chunks_out, q[:, 0].tobytes(), q[:, 1].tobytes()))
            self._wave_chunks_out += 1
        rest = peaks[n_chunks * WAVE_CHUNK_HOPS :]
        self._wave_peaks = [rest] if len(rest) else []
        return out

    def finish(self) -> int:
        """Pad the shorter leg, close the file; return the frames written."""
        if self.closed:
            return self.frames_written
        n = max(self._buffered.values())
        if n:
            parts = []
            for ch in CHANNELS:
                x = self._take(ch, self._buffered[ch]) if self._buffered[ch] else np.zeros(0)
                self.padded_samples[ch] += n - len(x)
                parts.append(np.pad(x.astype(np.float32), (0, n - len(x))))
            self._write(parts[0], parts[1])
        if self._file is not None:
            self._file.close()
        self.closed = True
        return self.frames_written


# -- reading and repair ------------------------------------------------------------------------


def audio_info(path: Path) -> tuple[int, int]:
    """``(frames, channels)`` of a finished archive.

    Raises
    ------
    AudioArchiveError
        Missing, unreadable, or with an unknown length (not finalized: see :func:`repair_flac`).
    """
    try:
        info = sf.info(str(path))
    except (OSError, RuntimeError) as exc:  # sf.LibsndfileError is a RuntimeError
        raise AudioArchiveError(f"audio archive {path.name} cannot be read: {exc}") from exc
    if info.frames >= _UNKNOWN_FRAMES:
        raise AudioArchiveError(f"audio archive {path.name} was not finalized (needs repair)")
    if info.channels != 2 or info.samplerate != SAMPLE_RATE_HZ:
        raise AudioArchiveError(
            f"audio archive {path.name} is {info.channels} ch at {info.samplerate} Hz, "
            f"expected 2 ch at {SAMPLE_RATE_HZ} Hz"
        )
    return int(info.frames), int(info.channels)


def repair_flac(path: Path) -> int:
    """Rewrite an unfinalized FLAC (left by a killed process) from its readable frames.

    A finalized file is left alone.  Returns the number of frames in the result.

    Raises
    ------
    AudioArchiveError
        Nothing could be recovered.
    """
    try:
        return audio_info(path)[0]
    except AudioArchiveError:
        pass
    tmp = path.with_name(path.name + ".repair")
    frames = 0
    try:
        src = sf.SoundFile(str(path))
    except (OSError, RuntimeError) as exc:
        raise AudioArchiveError(f"audio archive {path.name} cannot be recovered: {exc}") from exc
    try:
        with sf.SoundFile(
            str(tmp),
            "w",
            samplerate=src.samplerate,
            channels=src.channels,
            format="FLAC",
            subtype="PCM_16",
        ) as dst:
            for block in _read_unbounded(src):
                dst.write(block)
                frames += len(block)
    finally:
        src.close()
    if frames == 0:
        tmp.unlink(missing_ok=True)
        raise AudioArchiveError(f"audio archive {path.name} holds no readable audio")
    os.replace(tmp, path)
    log.info("repaired audio archive %s: %d frames", path.name, frames)
    return frames


def wave_chunks_from_file(path: Path) -> list[WaveChunk]:
    """Waveform chunks computed from a finished archive (to rebuild them after a crash)."""
    audio_info(path)
    out: list[WaveChunk] = []
    frames_per_chunk = WAVE_HOP * WAVE_CHUNK_HOPS
    try:
        blocks = sf.blocks(str(path), blocksize=frames_per_chunk, dtype="float32", always_2d=True)
        for i, block in enumerate(blocks):
            n = len(block) // WAVE_HOP * WAVE_HOP
            peaks = np.abs(block[:n]).reshape(-1, WAVE_HOP, 2).max(axis=1)
            if len(block) > n:
                peaks = np.concatenate([peaks, np.abs(block[n:]).max(axis=0, keepdims=True)])
            q = np.round(np.clip(peaks, 0.0, 1.0) * 255).astype(np.uint8)
            out.append(WaveChunk(i, q[:, 0].tobytes(), q[:, 1].tobytes()))
    except (OSError, RuntimeError, ValueError) as exc:
        raise AudioArchiveError(f"audio archive {path.name} is damaged: {exc}") from exc
    return out


def _read_unbounded(src: sf.SoundFile, block: int = 1 << 16) -> Iterator[np.ndarray]:
    """Read a stream whose length is unknown, frame block by block, until it runs out.

    ``SoundFile.read`` seeks after every read, which libsndfile refuses on a FLAC stream
    with no total length, so this calls libsndfile's ``sf_readf_float`` directly.
    """
    snd = getattr(sf, "_snd", None)
    ffi = getattr(sf, "_ffi", None)
    handle = getattr(src, "_file", None)
    if snd is None or ffi is None or handle is None:
        raise AudioArchiveError("this soundfile version cannot read unfinalized FLAC files")
    buf = np.empty((block, src.channels), np.float32)
    while True:
        n = int(snd.sf_readf_float(handle, ffi.cast("float *", buf.ctypes.data), block))
        if n <= 0:
            return
        yield buf[:n]
