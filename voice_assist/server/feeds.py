"""Live feeds for people: the agent overlay (``/v1/agent``) and the wall board (``/v1/supervisor``).

Both are websockets carrying :func:`voice_assist.wire.to_wire` messages, with ``seq``
counting this connection's messages (a gap means: ask for a ``snapshot``).

``/v1/agent`` (agent token): on connect ``hello`` then ``snapshot`` of the agent's live
calls, then every event of those calls except the dense ``prosody`` frames.  The client
sends ``{"type": "prompt_ack", "prompt_id": ..., "action": "shown"|"dismissed"|"followed",
"call_id": ...}``; an agent can only ever touch its own calls.

``/v1/supervisor`` (supervisor token): ``hello``; the client sends
``{"type": "subscribe", "calls": "*" | [call_id, ...]}`` and gets a ``snapshot`` then
deltas: ``call_started``, ``call_ended``, ``metrics``, ``alert``, final ``transcript``,
``prompt``, ``prompt_clear``, ``empathy``, ``episode``, ``overload``, ``error``.
``{"type": "focus", "call_id": ...}`` adds that call's partial transcripts, ``distress``
and ``vad`` and answers with ``call_detail`` (its recent transcript);
``{"type": "snapshot"}`` asks for a fresh snapshot; ``ping`` -> ``pong``.

Slow consumers: the bus subscription and the :class:`~voice_assist.server.outbox.Outbox`
are both bounded; a client that falls behind either is closed with 4409 "client too
slow".  A token that expires during a connection closes it with 4401.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from voice_assist import events as ev
from voice_assist.server.auth import TokenClaims
from voice_assist.server.ingress import CLOSE_TOO_SLOW, CLOSE_UNAUTHORIZED, unstorable_text
from voice_assist.server.outbox import Outbox
from voice_assist.wire import WIRE_VERSION, to_wire

if TYPE_CHECKING:
    from voice_assist.runtime.bus import EventBus, LiveCall, Subscription
    from voice_assist.server.context import ServerContext

log = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE_CHARS = 4096
MAX_BAD_CLIENT_MESSAGES = 20
TAIL_FINALS = 50
SNAPSHOT_TAIL_FINALS = 3
ACK_ACTIONS = ("shown", "dismissed", "followed")

_SUPERVISOR_ALWAYS = (
    ev.CallStarted,
    ev.CallEnded,
    ev.CallMetrics,
    ev.Alert,
    ev.Prompt,
    ev.PromptClear,
    ev.EmpathyScore,
    ev.DistressEpisode,
    ev.Overload,
    ev.PipelineError,
)
_SUPERVISOR_FOCUSED = (ev.DistressUpdate, ev.VoiceActivity)


class TranscriptTail:
    """Recent final transcripts per live call, for snapshots and click-through.

    The bus keeps everything else a snapshot needs (:class:`LiveCall`); this adds the
    last :data:`TAIL_FINALS` finals of each call.  One internal subscriber with a large
    queue; if it is ever dropped it subscribes again (and says so in the log).
    """

    def __init__(self, bus: EventBus, *, maxsize: int = 10_000) -> None:
        self.bus = bus
        self.maxsize = maxsize
        self.finals: dict[str, collections.deque[ev.TranscriptEvent]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def get(self, call_id: str, limit: int = TAIL_FINALS) -> list[ev.TranscriptEvent]:
        tail = self.finals.get(call_id)
        return list(tail)[-limit:] if tail else []

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.TranscriptEvent) and event.is_final and event.text.strip():
            self.finals.setdefault(event.call_id, collections.deque(maxlen=TAIL_FINALS)).append(
                event
            )
        elif isinstance(event, ev.CallEnded):
            self.finals.pop(event.call_id, None)

    async def _run(self) -> None:
        while True:
            sub = self.bus.subscribe(maxsize=self.maxsize)
            try:
                async for event in sub:
                    self.on_event(event)
            finally:
                sub.close()
            log.warning("transcript tail fell behind the bus: subscribing again")


def call_view(live: LiveCall, tail: TranscriptTail | None, *, transcript: int) -> dict[str, Any]:
    """One live call as the feeds describe it in a snapshot."""
    return {
        "call_id": live.call_id,
        "agent_id": live.agent_id,
        "source": live.source,
        "started_wall_s": round(live.started_wall_s, 3),
        "media_ms": live.media_ms,
        "distress": _round(live.distress),
        "level": live.level,
        "provisional": live.provisional,
        "distress_history": [_round(x) for x in live.distress_history],
        "metrics": _wire(live.metrics),
        "alerts": [to_wire(a) for a in live.alerts],
        "empathy": _wire(live.empathy),
        "open_prompt": _wire(live.open_prompt),
        "transcript": [to_wire(t) for t in tail.get(live.call_id, transcript)] if tail else [],
    }


def _wire(event: ev.Event | None) -> dict[str, Any] | None:
    return None if event is None else to_wire(event)


def _round(x: float) -> float | None:
    return round(float(x), 4) if x == x else None


class FeedConnection:
    """Shared plumbing of one feed websocket: seq, outbox, client messages, expiry."""

    kind = "feed"

    def __init__(self, websocket: WebSocket, ctx: ServerContext, claims: TokenClaims) -> None:
        self.ws = websocket
        self.ctx = ctx
        self.claims = claims
        opts = ctx.settings.server
        self.outbox = Outbox(
            websocket,
            maxsize=opts.send_queue_max,
            send_timeout_s=opts.send_timeout_s,
            label=f"{self.kind} feed",
        )
        self.seq = 0
        self.bad_messages = 0
        hub = ctx.hub
        assert hub is not None
        self.hub = hub
        self.sub: Subscription = self.subscribe()

    # -- to override ---------------------------------------------------------------------
    def subscribe(self) -> Subscription:
        raise NotImplementedError

    def on_connect(self) -> None:
        pass

    def wants(self, event: ev.Event) -> bool:
        raise NotImplementedError

    def on_message(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- plumbing ------------------------------------------------------------------------
    def send(self, body: dict[str, Any]) -> None:
        self.seq += 1
        body["seq"] = self.seq
        self.outbox.put(body)

    def send_event(self, event: ev.Event) -> None:
        self.seq += 1
        self.outbox.put(to_wire(event, seq=self.seq))

    def send_error(self, code: str, message: str) -> None:
        self.send(
            {"type": "error", "v": WIRE_VERSION, "code": code, "message": message, "fatal": False}
        )

    async def run(self) -> None:
        self.ctx.feed_connections += 1
        self.ctx.feed_connected.set()
        writer = asyncio.create_task(self.outbox.run())
        tasks = {
            writer,
            asyncio.create_task(self._read()),
            asyncio.create_task(self._pump()),
            asyncio.create_task(self._expire()),
        }
        try:
            self.send(
                {
                    "type": "hello",
                    "v": WIRE_VERSION,
                    "role": self.claims.role,
                    "agent_id": self.claims.agent_id,
                    "expires_at_s": self.claims.expires_at_s,
                    "server_time_s": round(time.time(), 3),
                }
            )
            self.on_connect()
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if writer not in done:
                if not self.outbox.closing:
                    self.outbox.close(1000, "bye")
                await self.outbox.finish()
        finally:
            self.sub.close()
            for task in tasks:
                task.cancel()
            self.ctx.feed_connections -= 1

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if not isinstance(text, str):
                self._bad("binary messages are not accepted here")
                continue
            if len(text) > MAX_CLIENT_MESSAGE_CHARS:
                self._bad("message too long")
                continue
            try:
                body = json.loads(text)
            except ValueError:
                self._bad("message is not valid JSON")
                continue
            if not isinstance(body, dict):
                self._bad("message must be a JSON object")
                continue
            problem = unstorable_text(text, body)
            if problem:
                self._bad(f"message {problem}")
                continue
            if body.get("type") == "ping":
                self.send({"type": "pong", "v": WIRE_VERSION, "id": str(body.get("id", ""))[:64]})
                continue
            self.on_message(body)

    def _bad(self, why: str) -> None:
        self.bad_messages += 1
        self.send_error("bad_message", why)
        if self.bad_messages >= MAX_BAD_CLIENT_MESSAGES:
            self.outbox.close(1008, "too many bad messages")

    async def _pump(self) -> None:
        async for event in self.sub:
            if self.wants(event):
                self.send_event(event)
            if self.outbox.closing:
                return
        if self.sub.dropped:
            self.outbox.close(CLOSE_TOO_SLOW, "client too slow")

    async def _expire(self) -> None:
        await asyncio.sleep(max(0.0, self.claims.expires_at_s - time.time()))
        self.outbox.close(CLOSE_UNAUTHORIZED, "token expired")
        await asyncio.Event().wait()  # the writer finishing ends the connection

    def snapshot(self, calls: list[LiveCall], *, transcript: int) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "v": WIRE_VERSION,
            "server_time_s": round(time.time(), 3),
            "calls": [call_view(c, self.ctx.tail, transcript=transcript) for c in calls],
        }


class AgentFeed(FeedConnection):
    """``/v1/agent``: one agent's calls, for the overlay."""

    kind = "agent"

    def subscribe(self) -> Subscription:
        sub = self.hub.bus.subscribe(
            agent_id=self.claims.agent_id, maxsize=self.ctx.settings.server.send_queue_max
        )
        sub.shows_agent_partials = True
        return sub

    def on_connect(self) -> None:
        self.send(self.snapshot(self._my_calls(), transcript=20))

    def _my_calls(self) -> list[LiveCall]:
        return [c for c in self.hub.bus.live_calls() if c.agent_id == self.claims.agent_id]

    def wants(self, event: ev.Event) -> bool:
        return not isinstance(event, ev.ProsodyFrame)

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "snapshot":
            self.send(self.snapshot(self._my_calls(), transcript=20))
            return
        if kind != "prompt_ack":
            self.send_error("unknown_type", f"unknown message type {str(kind)[:40]!r}")
            return
        prompt_id, action, call_id = (
            message.get("prompt_id"),
            message.get("action"),
            message.get("call_id"),
        )
        if not isinstance(prompt_id, str) or not prompt_id or len(prompt_id) > 128:
            self.send_error("bad_message", "prompt_ack needs a prompt_id")
            return
        if action not in ACK_ACTIONS:
            self.send_error("bad_message", f"action must be one of {list(ACK_ACTIONS)}")
            return
        if not isinstance(call_id, str):  # find the agent's call showing this prompt
            call_id = next(
                (
                    live.call_id
                    for live in self._my_calls()
                    if live.open_prompt is not None and live.open_prompt.prompt_id == prompt_id
                ),
                None,
            )
        if call_id is None or not self.hub.ack_prompt(
            call_id, self.claims.agent_id or "", prompt_id, str(action)
        ):
            self.send_error("unknown_call", "no live call of yours with that prompt")


class SupervisorFeed(FeedConnection):
    """``/v1/supervisor``: every call (or a chosen few), for the wall board."""

    kind = "supervisor"

    def __init__(self, websocket: WebSocket, ctx: ServerContext, claims: TokenClaims) -> None:
        self.calls: set[str] | None = None  # None: all calls
        self.subscribed = False
        self.focus: str | None = None
        super().__init__(websocket, ctx, claims)

    def subscribe(self) -> Subscription:
        return self.hub.bus.subscribe(maxsize=self.ctx.settings.server.send_queue_max)

    def _selected(self) -> list[LiveCall]:
        return [
            c for c in self.hub.bus.live_calls() if self.calls is None or c.call_id in self.calls
        ]

    def wants(self, event: ev.Event) -> bool:
        if not self.subscribed:
            return False
        if self.calls is not None and event.call_id not in self.calls:
            return False
        if isinstance(event, _SUPERVISOR_ALWAYS):
            return True
        focused = event.call_id == self.focus
        if isinstance(event, ev.TranscriptEvent):
            return event.is_final or focused
        return focused and isinstance(event, _SUPERVISOR_FOCUSED)

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            calls = message.get("calls", "*")
            if calls == "*":
                self.calls = None
            elif (
                isinstance(calls, list)
                and all(isinstance(c, str) for c in calls)
                and len(calls) <= 1000
            ):
                self.calls = set(calls)
            else:
                self.send_error("bad_message", 'calls must be "*" or a list of call ids')
                return
            self.subscribed = True
            self.send(self.snapshot(self._selected(), transcript=SNAPSHOT_TAIL_FINALS))
        elif kind == "snapshot":
            self.send(self.snapshot(self._selected(), transcript=SNAPSHOT_TAIL_FINALS))
        elif kind == "focus":
            call_id = message.get("call_id")
            if call_id is not None and not isinstance(call_id, str):
                self.send_error("bad_message", "focus needs a call_id (or null)")
                return
            self.focus = call_id
            self.sub.shows_call_partials = call_id
            if call_id is not None:
                live = self.hub.bus.live_call(call_id)
                self.send(
                    {
                        "type": "call_detail",
                        "v": WIRE_VERSION,
                        "call_id": call_id,
                        "live": live is not None,
                        "call": call_view(live, self.ctx.tail, transcript=TAIL_FINALS)
                        if live is not None
                        else None,
                    }
                )
        else:
            self.send_error("unknown_type", f"unknown message type {str(kind)[:40]!r}")
