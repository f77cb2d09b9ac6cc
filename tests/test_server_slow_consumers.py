"""Slow consumers: bounded send queues drop a client that stops reading; calls never wait.

The websocket here is a stand-in transport whose sends never complete (a client that
stopped reading, so its TCP window is shut); the outbox, the feed and the event bus
under test are the real ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocketState

from voice_assist import events as ev
from voice_assist.config import load_settings
from voice_assist.runtime.bus import EventBus
from voice_assist.server import auth
from voice_assist.server.context import ServerContext
from voice_assist.server.feeds import AgentFeed, SupervisorFeed
from voice_assist.server.outbox import Outbox


class StalledSocket:
    """Accepts a few messages, then every send blocks forever; the client never writes."""

    def __init__(self, accept: int = 0) -> None:
        self.accept = accept
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.application_state = WebSocketState.CONNECTED

    async def send_text(self, text: str) -> None:
        if len(self.sent) >= self.accept:
            await asyncio.Event().wait()
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_outbox_drops_a_client_that_falls_behind() -> None:
    async def scenario() -> None:
        ws = StalledSocket(accept=2)
        box = Outbox(ws, maxsize=5, send_timeout_s=30.0)  # type: ignore[arg-type]
        writer = asyncio.create_task(box.run())
        accepted = [box.put({"n": i}) for i in range(20)]  # never waits
        assert accepted[:5] == [True] * 5
        assert False in accepted
        assert box.too_slow and box.closing
        assert box.put({"n": 99}) is False
        writer.cancel()

    asyncio.run(scenario())


def test_outbox_send_timeout_ends_the_writer() -> None:
    async def scenario() -> None:
        ws = StalledSocket(accept=1)
        box = Outbox(ws, maxsize=100, send_timeout_s=0.2)  # type: ignore[arg-type]
        writer = asyncio.create_task(box.run())
        box.put({"n": 1})
        box.put({"n": 2})
        await asyncio.wait_for(box.closed.wait(), 5)
        assert box.too_slow and box.close_code == 4409
        assert len(ws.sent) == 1
        await writer

    asyncio.run(scenario())


def test_outbox_keeps_order_and_closes_after_backlog() -> None:
    async def scenario() -> None:
        ws = StalledSocket(accept=100)
        box = Outbox(ws, maxsize=100)  # type: ignore[arg-type]
        writer = asyncio.create_task(box.run())
        for i in range(10):
            box.put({"n": i})
        box.close(1000, "bye")
        await asyncio.wait_for(writer, 5)
        assert ws.sent == [f'{{"n":{i}}}' for i in range(10)]
        assert ws.closed == (1000, "bye")

    asyncio.run(scenario())


class _Engine:
    """Just enough engine for a feed: the real EventBus and no calls."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.ready = True

    def session(self, call_id: str) -> None:
        return None


def _ctx(send_queue_max: int) -> ServerContext:
    settings = load_settings(
        env={}, overrides={"server": {"send_queue_max": send_queue_max, "send_timeout_s": 30.0}}
    )
    return ServerContext(
        settings=settings,
        secret="s",
        keys=auth.IngestKeys([]),
        engine=_Engine(),  # type: ignore[arg-type]
    )


def _publish_call(bus: EventBus, call_id: str, agent_id: str, n: int) -> None:
    bus.publish(
        ev.CallStarted(call_id=call_id, t_ms=0, agent_id=agent_id, source="native"),
        agent_id=agent_id,
    )
    for i in range(n):
        bus.publish(
            ev.DistressUpdate(
                call_id=call_id,
                t_ms=250 * i,
                channel="customer",
                score=0.2,
                level="calm",
                provisional=False,
                features={},
            ),
            agent_id=agent_id,
        )


def test_stalled_overlay_is_dropped_and_others_get_everything() -> None:
    async def scenario() -> None:
        ctx = _ctx(send_queue_max=16)
        bus = ctx.engine.bus  # type: ignore[union-attr]
        claims = auth.TokenClaims(role="agent", agent_id="a1", issued_at_s=0, expires_at_s=2**40)
        stalled = StalledSocket(accept=3)
        feed = AgentFeed(stalled, ctx, claims)  # type: ignore[arg-type]
        healthy = bus.subscribe(agent_id="a1", maxsize=10_000)
        run = asyncio.create_task(feed.run())
        for burst in range(50):  # the call keeps publishing; publish never waits
            _publish_call(bus, f"c{burst}", "a1", 20)
            await asyncio.sleep(0)
        await asyncio.wait_for(run, 10)  # the stalled feed ended by itself
        assert feed.outbox.too_slow
        assert stalled.closed is None or stalled.closed[0] == 4409
        assert ctx.feed_connections == 0
        assert feed.sub.closed  # no longer subscribed: costs the bus nothing
        received = 0
        while (await healthy.get(timeout_s=0.1)) is not None:
            received += 1
        assert received == 50 * 21

    asyncio.run(scenario())


def test_supervisor_feed_filters_dense_events() -> None:
    async def scenario() -> None:
        ctx = _ctx(send_queue_max=1000)
        bus = ctx.engine.bus  # type: ignore[union-attr]
        claims = auth.TokenClaims(
            role="supervisor", agent_id=None, issued_at_s=0, expires_at_s=2**40
        )
        sock = StalledSocket(accept=10_000)
        feed = SupervisorFeed(sock, ctx, claims)  # type: ignore[arg-type]
        feed.on_message({"type": "subscribe", "calls": "*"})
        _publish_call(bus, "c1", "a1", 8)
        bus.publish(
            ev.ProsodyFrame(call_id="c1", t_ms=0, channel="customer", features={}, voiced=True),
            agent_id="a1",
        )
        got = [await feed.sub.get(0.1) for _ in range(10)]
        wanted = [e for e in got if e is not None and feed.wants(e)]
        assert [type(e).__name__ for e in wanted] == ["CallStarted"]
        feed.on_message({"type": "focus", "call_id": "c1"})
        update = ev.DistressUpdate(
            call_id="c1",
            t_ms=0,
            channel="customer",
            score=0.1,
            level="calm",
            provisional=True,
            features={},
        )
        assert feed.wants(update)
        feed.sub.close()

    asyncio.run(scenario())
