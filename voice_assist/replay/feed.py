"""Tone replay: a stored call's events streamed back over the overlay protocol.

:func:`replay_feed` is an async iterator of wire messages.  Each stored message is
rebuilt into its event with :func:`~voice_assist.wire.from_wire` and serialized again
with :func:`~voice_assist.wire.to_wire` (fresh ``seq`` numbers, so a client sees the same
shapes as live), paced on the media clock at ``speed`` x real time.  Store reads run in
a worker thread, a page at a time.  A :class:`ReplayControl` lets a client pause,
resume or change speed while it plays.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from voice_assist.store.reader import StoreReader
from voice_assist.wire import WIRE_VERSION, from_wire, to_wire

log = logging.getLogger(__name__)

MIN_SPEED = 1.0
MAX_SPEED = 64.0
OVERLAY_TYPES: tuple[str, ...] = (
    "call_started",
    "transcript",
    "distress",
    "episode",
    "prompt",
    "prompt_ack",
    "prompt_clear",
    "empathy",
    "alert",
    "call_ended",
)
"""What the agent's overlay showed (plus episode markers and acks, for a trainer)."""
PAGE_ROWS = 1000


def check_speed(speed: float) -> float:
    """``speed`` if it is in [1, 64] or infinite (as fast as possible); else ValueError."""
    speed = float(speed)
    if math.isinf(speed) and speed > 0:
        return speed
    if not (MIN_SPEED <= speed <= MAX_SPEED):
        raise ValueError(f"speed must be between {MIN_SPEED:g} and {MAX_SPEED:g}, not {speed:g}")
    return speed


class ReplayControl:
    """Pause, resume and speed of a running replay (used from the event loop only)."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = check_speed(speed)
        self._running = asyncio.Event()
        self._running.set()
        self.changed = asyncio.Event()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()
        self.changed.set()

    def resume(self) -> None:
        self._running.set()
        self.changed.set()

    def set_speed(self, speed: float) -> None:
        self.speed = check_speed(speed)
        self.changed.set()

    async def wait_running(self) -> None:
        await self._running.wait()


async def replay_feed(
    store: StoreReader,
    call_id: str,
    *,
    speed: float = 1.0,
    start_ms: int = 0,
    types: Sequence[str] | None = OVERLAY_TYPES,
    control: ReplayControl | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> AsyncIterator[dict[str, Any]]:
    """Yield the stored call's messages (``to_wire`` dicts) paced at ``speed`` x.

    Parameters
    ----------
    speed
        1 to 64, or ``math.inf`` for no pacing.  Ignored when ``control`` is given
        (its ``speed`` is used and may change while playing).
    start_ms
        Skip events before this media time; pacing starts there.
    types
        Wire types to send (default: the overlay's); None sends every stored event.
    clock, sleep
        Time source and sleeper (seconds); tests pass a virtual clock.

    Raises
    ------
    CallNotFoundError
        Before the first message, for an unknown call.
    ValueError
        A speed out of range.
    """
    control = control or ReplayControl(speed)
    await asyncio.to_thread(store.get_call, call_id)
    anchor_media = float(start_ms)
    anchor_wall = clock()
    anchor_speed = control.speed
    after = 0
    seq = 0
    while True:
        page = await asyncio.to_thread(
            store.events_page,
            call_id,
            after_seq=after,
            start_ms=start_ms,
            types=types,
            limit=PAGE_ROWS,
        )
        for message in page.messages:
            try:
                event = from_wire(message)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("replay %s: stored event seq %s unusable: %s", call_id,
                            message.get("seq"), exc)  # fmt: skip
                continue
            while True:
                if control.paused:
                    # media position where we stopped: anchor it there for the resume
                    anchor_media = _media_now(anchor_media, anchor_wall, anchor_speed, clock)
                    await control.wait_running()
                    anchor_wall = clock()
                if control.speed != anchor_speed:
                    anchor_media = _media_now(anchor_media, anchor_wall, anchor_speed, clock)
                    anchor_wall = clock()
                    anchor_speed = control.speed
                control.changed.clear()
                if math.isinf(anchor_speed):
                    break
                due = anchor_wall + (event.t_ms - anchor_media) / 1000.0 / anchor_speed
                delay = due - clock()
                if delay <= 0:
                    break
                await _sleep_or_change(sleep, delay, control)
                if not control.changed.is_set() and clock() >= due:
                    break
            seq += 1
            yield to_wire(event, seq=seq)
        after = page.last_seq
        if not page.more:
            break


def _media_now(
    anchor_media: float, anchor_wall: float, speed: float, clock: Callable[[], float]
) -> float:
    if math.isinf(speed):
        return anchor_media
    return anchor_media + (clock() - anchor_wall) * 1000.0 * speed


async def _sleep_or_change(
    sleep: Callable[[float], Awaitable[Any]], delay: float, control: ReplayControl
) -> None:
    """Sleep ``delay`` seconds, or less if the control changes meanwhile."""
    sleeper = asyncio.ensure_future(sleep(delay))
    changed = asyncio.ensure_future(control.changed.wait())
    try:
        await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, changed):
            if not task.done():
                task.cancel()
        await asyncio.gather(sleeper, changed, return_exceptions=True)


def replay_end_message(call_id: str, *, seq: int, t_ms: int) -> dict[str, Any]:
    """The message a replay websocket sends after the last event."""
    return {"type": "replay_end", "v": WIRE_VERSION, "call_id": call_id, "seq": seq, "t_ms": t_ms}
