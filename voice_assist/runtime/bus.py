"""The in-process event bus: fan-out of call events to feeds, with a live-call registry.

Subscribers get a bounded queue.  A subscriber that falls ``maxsize`` events behind
is *dropped* (its iterator ends and ``dropped`` is true): a slow overlay or wall
board never slows a call down or grows memory.  Lossless consumers (the call store,
``analyze --json``) attach to a call directly instead (``sink`` of ``open_call``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from voice_assist import events as ev

log = logging.getLogger(__name__)

_CLOSED = object()


@dataclass(slots=True)
class LiveCall:
    """What a supervisor snapshot shows of one live call."""

    call_id: str
    agent_id: str
    source: str
    started_wall_s: float
    media_ms: int = 0
    distress: float = 0.0
    level: ev.DistressLevel = "calm"
    provisional: bool = True
    metrics: ev.CallMetrics | None = None
    distress_history: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=120)
    )
    alerts: collections.deque[ev.Alert] = field(
        default_factory=lambda: collections.deque(maxlen=20)
    )
    empathy: ev.EmpathyScore | None = None
    open_prompt: ev.Prompt | None = None


class Subscription:
    """An async iterator of events for one subscriber (see module docstring)."""

    def __init__(
        self, bus: EventBus, *, call_id: str | None, agent_id: str | None, maxsize: int
    ) -> None:
        self._bus = bus
        self.call_id = call_id
        self.agent_id = agent_id
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=maxsize + 1)
        self._maxsize = maxsize
        self.dropped = False
        self.closed = False
        self.shows_agent_partials = False
        """Shows the customer leg's partial transcripts of its agent's calls (an agent's
        overlay: the agent hears their own words, and their own leg's partials would cost
        decodes that nobody needs; the agent's finals still come)."""
        self.shows_call_partials: str | None = None
        """The call whose partials it shows (a wall board's focused call)."""

    def shows_partials(self, call_id: str, agent_id: str, channel: ev.Channel) -> bool:
        if self.closed:
            return False
        if self.shows_call_partials == call_id:
            return True
        return self.shows_agent_partials and self.agent_id == agent_id and channel == "customer"

    def wants(self, event: ev.Event, agent_id: str) -> bool:
        if self.call_id is not None and event.call_id != self.call_id:
            return False
        return self.agent_id is None or self.agent_id == agent_id

    def offer(self, event: ev.Event) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= self._maxsize:
            self.dropped = True
            log.warning(
                "subscriber (call_id=%s agent_id=%s) fell %d events behind: dropped",
                self.call_id,
                self.agent_id,
                self._maxsize,
            )
            self.close()
            return
        self._queue.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus._remove(self)
            self._queue.put_nowait(_CLOSED)

    def __aiter__(self) -> AsyncIterator[ev.Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ev.Event]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            assert isinstance(item, ev.Event)
            yield item

    async def get(self, timeout_s: float | None = None) -> ev.Event | None:
        """Next event, or ``None`` when closed (or on timeout)."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout_s)
        except TimeoutError:
            return None
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)
            return None
        assert isinstance(item, ev.Event)
        return item


class EventBus:
    """Publish call events; subscribe by call and/or agent; see live calls."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._live: dict[str, LiveCall] = {}
        self.taps: list[Callable[[ev.Event, str], None]] = []
        """Called with every published event and its agent id, after the registry is
        updated (a cluster worker's publisher to Redis); a tap must not block."""

    def subscribe(
        self, *, call_id: str | None = None, agent_id: str | None = None, maxsize: int = 256
    ) -> Subscription:
        sub = Subscription(self, call_id=call_id, agent_id=agent_id, maxsize=maxsize)
        self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def partials_watched(
        self, call_id: str, agent_id: str, channel: ev.Channel | None = None
    ) -> bool:
        """Whether any subscriber shows this call's partial transcripts of ``channel``
        (of either leg when None)."""
        channels = ev.CHANNELS if channel is None else (channel,)
        return any(
            sub.shows_partials(call_id, agent_id, ch) for sub in self._subs for ch in channels
        )

    def live_calls(self) -> list[LiveCall]:
        return list(self._live.values())

    def live_call(self, call_id: str) -> LiveCall | None:
        return self._live.get(call_id)

    def publish(self, event: ev.Event, *, agent_id: str) -> None:
        self._track(event, agent_id)
        for sub in list(self._subs):
            if sub.wants(event, agent_id):
                sub.offer(event)
        for tap in self.taps:
            tap(event, agent_id)

    def seed(self, call: LiveCall) -> None:
        """Register a call already live elsewhere (a gateway's start-up snapshot); its
        events then update it as usual.  Nothing is sent to subscribers."""
        self._live.setdefault(call.call_id, call)

    def _track(self, event: ev.Event, agent_id: str) -> None:
        if isinstance(event, ev.CallStarted):
            self._live[event.call_id] = LiveCall(
                event.call_id, event.agent_id, event.source, time.time()
            )
            return
        live = self._live.get(event.call_id)
        if live is None:
            return
        live.media_ms = max(live.media_ms, event.t_ms)
        if isinstance(event, ev.DistressUpdate):
            live.distress, live.level, live.provisional = (
                event.score,
                event.level,
                event.provisional,
            )
            live.distress_history.append(event.score)
        elif isinstance(event, ev.CallMetrics):
            live.metrics = event
        elif isinstance(event, ev.Alert):
            live.alerts.append(event)
        elif isinstance(event, ev.EmpathyScore):
            live.empathy = event
        elif isinstance(event, ev.Prompt):
            live.open_prompt = event
        elif isinstance(event, ev.PromptClear):
            if live.open_prompt is not None and live.open_prompt.prompt_id == event.prompt_id:
                live.open_prompt = None
        elif isinstance(event, ev.CallEnded):
            del self._live[event.call_id]
