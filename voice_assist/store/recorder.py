"""CallRecorder: the runtime's non-blocking handle for storing one call as it happens."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from voice_assist import events as ev
from voice_assist.store.queue import AudioItem, CloseCall, EventItem

if TYPE_CHECKING:
    from voice_assist.store.writer import StoreWriter

log = logging.getLogger(__name__)

_ESSENTIAL = (
    ev.DistressEpisode,
    ev.Prompt,
    ev.PromptClear,
    ev.PromptAck,
    ev.EmpathyScore,
    ev.CallStarted,
    ev.CallEnded,
    ev.PipelineError,
    ev.Alert,
)


def is_essential(event: ev.Event) -> bool:
    """Events the store keeps even when its queue is over the soft bound."""
    if isinstance(event, ev.TranscriptEvent):
        return event.is_final
    return isinstance(event, _ESSENTIAL)


class CallRecorder:
    """Stores one call: events and both legs' audio, written by the store's writer thread.

    ``on_event``/``on_audio``/``close`` never block (unless made with ``backpressure``)
    and never raise for a full queue: what the queue refuses is counted
    (:attr:`dropped_items`, :attr:`dropped_audio_samples`), logged, and written on the
    call's row at close; audio that was refused is archived as silence so both legs stay
    aligned.  Use from one thread (the call's task).
    """

    def __init__(
        self,
        writer: StoreWriter,
        call_id: str,
        *,
        backpressure: bool = False,
        archive_audio: bool = True,
        on_close: Callable[[str], None] | None = None,
    ) -> None:
        self._writer = writer
        self.call_id = call_id
        self.backpressure = backpressure
        self._archive_audio = archive_audio
        self._on_close = on_close
        self.dropped_items = 0
        self.dropped_audio_samples = 0
        self._gap = {"customer": 0, "agent": 0}
        self._seq = 0
        self._closed = False
        self._warned = False

    @property
    def closed(self) -> bool:
        return self._closed

    def on_event(self, event: ev.Event) -> None:
        """Record ``event`` (any pipeline event of this call; others are ignored)."""
        if self._closed or event.call_id != self.call_id:
            return
        self._seq += 1
        item = EventItem(self.call_id, self._seq, event)
        if not self._writer.put(item, essential=is_essential(event), block=self.backpressure):
            self.dropped_items += 1
            self._warn()

    def on_audio(self, channel: str, samples: np.ndarray) -> None:
        """Archive ``samples`` (16 kHz float32, mono) of ``channel`` ("customer"/"agent").

        The array is copied, so the caller may reuse its buffer.
        """
        if self._closed or not self._archive_audio:
            return
        if channel not in self._gap:
            raise ValueError(f"channel must be 'customer' or 'agent', not {channel!r}")
        x = np.array(samples, dtype=np.float32, copy=True).reshape(-1)
        if not len(x):
            return
        item = AudioItem(self.call_id, channel, x, self._gap[channel])
        if self._writer.put(item, essential=False, block=self.backpressure):
            self._gap[channel] = 0
        else:
            self._gap[channel] += len(x)
            self.dropped_audio_samples += len(x)
            self._warn()

    def close(self, reason: str = "ended") -> None:
        """End the call (status ``ended``); idempotent.  ``store.flush()`` waits for it."""
        if self._closed:
            return
        self._closed = True
        item = CloseCall(
            self.call_id, reason, "ended", self.dropped_items, self.dropped_audio_samples
        )
        if not self._writer.put(item, essential=True):
            log.error(
                "store: could not queue the end of call %s (writer stuck?); it will be "
                "marked interrupted",
                self.call_id,
            )
        if self._on_close is not None:
            self._on_close(self.call_id)

    def _warn(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "store: write queue full; call %s is losing low-priority rows and audio "
                "(counted; see calls.dropped_items / dropped_audio_ms)",
                self.call_id,
            )
