"""Per-leg audio conversion at the edge: telephony payloads -> 16 kHz float32 per channel.

A :class:`LegDecoder` is built once per connection from the negotiated
:class:`MediaFormat`; each payload of interleaved samples becomes
``{channel: samples_16k_float32}``.  One :class:`~voice_assist.audio.resample.StreamResampler`
per leg keeps the filter state between payloads, so chunk boundaries leave no artefacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voice_assist.audio import pcm
from voice_assist.audio.resample import PIPELINE_RATE_HZ, StreamResampler
from voice_assist.errors import ProtocolError, UnsupportedAudioError
from voice_assist.events import CHANNELS, Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaFormat:
    """What one connection sends: encoding, rate, interleaved channels and their legs."""

    encoding: str
    sample_rate_hz: int
    channels: int
    channel_map: tuple[Channel, ...]

    def __post_init__(self) -> None:
        if self.encoding not in pcm.ENCODINGS:
            raise UnsupportedAudioError(
                f"unsupported encoding {self.encoding!r}; use one of {list(pcm.ENCODINGS)}"
            )
        if self.sample_rate_hz not in pcm.SAMPLE_RATES_HZ:
            raise UnsupportedAudioError(
                f"unsupported sample rate {self.sample_rate_hz!r}; use one of "
                f"{list(pcm.SAMPLE_RATES_HZ)}"
            )
        if self.channels not in (1, 2):
            raise UnsupportedAudioError(f"channels must be 1 or 2, not {self.channels!r}")
        if len(self.channel_map) != self.channels:
            raise UnsupportedAudioError(
                f"channel_map names {len(self.channel_map)} legs for {self.channels} channel(s)"
            )
        if any(c not in CHANNELS for c in self.channel_map):
            raise UnsupportedAudioError(f"channel_map entries must be one of {list(CHANNELS)}")
        if len(set(self.channel_map)) != len(self.channel_map):
            raise UnsupportedAudioError("channel_map names the same leg twice")

    @property
    def frame_bytes(self) -> int:
        """Bytes of one interleaved sample frame (all channels)."""
        return pcm.bytes_per_sample(self.encoding) * self.channels

    def describe(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "sample_rate": self.sample_rate_hz,
            "channels": self.channels,
            "channel_map": list(self.channel_map),
        }


def parse_channel_map(value: object, channels: int) -> tuple[Channel, ...]:
    """Validate a client-supplied channel map (default: customer, agent)."""
    if value is None:
        return tuple(CHANNELS[:channels])
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise UnsupportedAudioError("channel_map must be a list of leg names")
    out: list[Channel] = []
    for item in value:
        if item not in CHANNELS:
            raise UnsupportedAudioError(f"channel_map entries must be one of {list(CHANNELS)}")
        out.append(item)
    return tuple(out)


class LegDecoder:
    """Turn payloads of one :class:`MediaFormat` into 16 kHz float32 per leg.

    ``decode(payload)`` returns ``{channel: samples}`` (shape ``(n,)`` float32 at
    16 kHz; ``n`` may be 0 while the resampler fills); ``finish()`` flushes the
    resampler tails.  ``samples_in`` counts input sample frames (per leg), the
    basis of the connection's media position.
    """

    def __init__(self, media: MediaFormat, *, max_payload_bytes: int = 1 << 20) -> None:
        self.media = media
        self.max_payload_bytes = max_payload_bytes
        self.samples_in = 0
        self.bad_samples = 0
        self._resamplers = {ch: StreamResampler(media.sample_rate_hz) for ch in media.channel_map}

    @property
    def position_ms(self) -> int:
        return self.samples_in * 1000 // self.media.sample_rate_hz

    def decode(self, payload: bytes) -> dict[Channel, np.ndarray]:
        """Decode one payload of interleaved frames.

        Raises
        ------
        ProtocolError
            ``bad_frame_size`` when the payload is empty, too large, or not a whole
            number of sample frames.
        """
        size = len(payload)
        if size == 0:
            raise ProtocolError("empty audio payload", code="bad_frame_size")
        if size > self.max_payload_bytes:
            raise ProtocolError(
                f"audio payload of {size} bytes exceeds {self.max_payload_bytes}",
                code="bad_frame_size",
            )
        if size % self.media.frame_bytes:
            raise ProtocolError(
                f"audio payload of {size} bytes is not a whole number of "
                f"{self.media.frame_bytes}-byte frames ({self.media.encoding}, "
                f"{self.media.channels} channel(s))",
                code="bad_frame_size",
            )
        samples, bad = pcm.sanitize(pcm.decode(payload, self.media.encoding))
        self.bad_samples += bad
        planes = pcm.deinterleave(samples, self.media.channels)
        self.samples_in += planes.shape[1]
        return {
            ch: self._resamplers[ch].feed(planes[i]) for i, ch in enumerate(self.media.channel_map)
        }

    def silence(self, frames: int) -> dict[Channel, np.ndarray]:
        """``frames`` input frames of silence on every leg (gap filling, e.g. Twilio timestamps)."""
        if frames <= 0:
            return {}
        self.samples_in += frames
        zeros = np.zeros(frames, dtype=np.float32)
        return {ch: rs.feed(zeros) for ch, rs in self._resamplers.items()}

    def finish(self) -> dict[Channel, np.ndarray]:
        return {ch: rs.finish() for ch, rs in self._resamplers.items()}


__all__ = ["PIPELINE_RATE_HZ", "LegDecoder", "MediaFormat", "parse_channel_map"]
