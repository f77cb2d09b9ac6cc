"""Stream a recorded call through a live :class:`CallSession`, as fast as possible or at 1x."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from voice_assist.events import Channel
from voice_assist.runtime.session import CallSession

Progress = Callable[[float], None]


async def feed_legs(
    session: CallSession,
    legs: dict[Channel, np.ndarray],
    *,
    chunk_ms: int = 100,
    realtime: bool = False,
    progress: Progress | None = None,
    end_reason: str = "end_of_file",
) -> None:
    """Push both legs chunk by chunk (interleaved, as a live call would), then end the call.

    With ``realtime`` the chunks are paced by the wall clock at 1x.  Otherwise audio
    goes in as fast as the decoder keeps up: after each chunk the session settles
    (its pending finals are decoded), so every stage sees events in media-time order,
    exactly as in a live call.
    """
    step = 16 * chunk_ms
    total = max((x.size for x in legs.values()), default=0)
    t0 = time.monotonic()
    for pos in range(0, total, step):
        for channel, x in legs.items():
            piece = x[pos : pos + step]
            if piece.size:
                await session.push_audio(channel, piece)
        if progress is not None:
            progress(min(pos + step, total) / 16000)
        if realtime:
            due = t0 + (pos + step) / 16000
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await session.settle()
            await asyncio.sleep(0)
    await session.end(end_reason)
