"""The store's bounded write queue and the items that travel through it.

Policy (the queue is the one thread boundary of the store): producers never wait
unless they ask to (``block=True``, for file analysis).  Above ``max_items`` queued
items, non-essential items (audio, prosody, distress updates, partial transcripts,
metrics) are refused and the caller counts them; essential items (finals, episodes,
prompts, acks, empathy, call open/close) are still taken up to twice that bound, so a
slow disk costs timeline resolution and audio before it costs what the agent said or
was told.  Past twice the bound the writer is presumed stuck and everything is refused.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice_assist.events import Event


@dataclass(slots=True)
class OpenCall:
    call_id: str
    agent_id: str
    source: str
    meta: dict[str, Any]
    started_at_ms: int


@dataclass(slots=True)
class EventItem:
    call_id: str
    seq: int
    event: Event


@dataclass(slots=True)
class AudioItem:
    call_id: str
    channel: str
    samples: np.ndarray
    gap_samples: int


@dataclass(slots=True)
class CloseCall:
    call_id: str
    reason: str
    status: str
    dropped_items: int
    dropped_audio_samples: int


@dataclass(slots=True)
class RepairAudio:
    call_id: str


@dataclass(slots=True)
class Barrier:
    done: threading.Event = field(default_factory=threading.Event)


Item = OpenCall | EventItem | AudioItem | CloseCall | RepairAudio | Barrier


class WriteQueue:
    """A bounded FIFO with a soft bound for non-essential items (see the module docstring)."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max(1, max_items)
        self._items: deque[Item] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(
        self, item: Item, *, essential: bool, block: bool = False, timeout_s: float | None = None
    ) -> bool:
        """Queue ``item``; False when refused (full, or the queue is closed)."""
        limit = 2 * self.max_items if essential else self.max_items
        with self._cond:
            if block:
                deadline = None if timeout_s is None else time.monotonic() + timeout_s
                while len(self._items) >= self.max_items and not self._closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
            if self._closed or len(self._items) >= limit:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get_batch(self, max_items: int, timeout_s: float) -> list[Item] | None:
        """Up to ``max_items`` items, waiting up to ``timeout_s`` for the first one.

        Returns an empty list on timeout, None once closed and drained.
        """
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout_s)
            if not self._items:
                return None if self._closed else []
            n = min(max_items, len(self._items))
            batch = [self._items.popleft() for _ in range(n)]
            self._cond.notify_all()
            return batch

    def close(self) -> None:
        """Refuse new items; the consumer drains what is queued, then gets None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
