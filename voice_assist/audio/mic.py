"""Microphone capture with sounddevice (PortAudio), imported lazily.

A machine without PortAudio runs everything else; only ``voice-assist listen``
needs it, and it says how to install it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from voice_assist.errors import AudioError

INSTALL_HINT = (
    "the microphone needs PortAudio: on Debian/Ubuntu run `sudo apt-get install libportaudio2` "
    "(and `pip install sounddevice` outside the project's environment)"
)


def import_sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
        raise AudioError(f"cannot use the microphone: {exc}; {INSTALL_HINT}") from exc
    return sounddevice


async def microphone_chunks(
    *, sample_rate_hz: int = 16000, chunk_ms: int = 100, device: str | int | None = None
) -> AsyncIterator[np.ndarray]:
    """Yield mono float32 chunks from the default (or given) input device until cancelled.

    PortAudio calls back on its own thread; chunks cross to the event loop through
    ``call_soon_threadsafe`` into a bounded queue (an overflow is reported, not hidden).
    """
    sd = import_sounddevice()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[np.ndarray] = asyncio.Queue(maxsize=100)
    overflow = {"n": 0}

    def put(chunk: np.ndarray) -> None:
        if queue.full():
            overflow["n"] += 1
            return
        queue.put_nowait(chunk)

    def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        loop.call_soon_threadsafe(put, indata[:, 0].copy())

    try:
        stream = sd.InputStream(
            samplerate=sample_rate_hz,
            channels=1,
            dtype="float32",
            blocksize=int(sample_rate_hz * chunk_ms / 1000),
            device=device,
            callback=callback,
        )
    except Exception as exc:  # PortAudioError and friends
        raise AudioError(f"cannot open the microphone: {exc}") from exc
    with stream:
        while True:
            chunk = await queue.get()
            if overflow["n"]:
                raise AudioError(
                    f"microphone overflow: {overflow['n']} chunks lost; machine too slow"
                )
            yield chunk
