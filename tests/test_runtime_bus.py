from __future__ import annotations

import asyncio

from voice_assist import events as ev
from voice_assist.runtime.bus import EventBus


def started(call_id: str, agent: str) -> ev.CallStarted:
    return ev.CallStarted(call_id=call_id, t_ms=0, agent_id=agent, source="test")


def test_agent_subscription_sees_only_its_calls() -> None:
    async def main() -> list[str]:
        bus = EventBus()
        sub = bus.subscribe(agent_id="a1")
        bus.publish(started("c1", "a1"), agent_id="a1")
        bus.publish(started("c2", "a2"), agent_id="a2")
        bus.publish(ev.CallEnded(call_id="c1", t_ms=5, reason="x", duration_ms=5), agent_id="a1")
        sub.close()
        return [e.call_id async for e in sub]

    assert asyncio.run(main()) == ["c1", "c1"]


def test_a_slow_subscriber_is_dropped_and_never_blocks_publishing() -> None:
    async def main() -> tuple[bool, int, int, bool]:
        bus = EventBus()
        slow = bus.subscribe(maxsize=10)
        fast = bus.subscribe(maxsize=10_000)
        bus.publish(started("c1", "a1"), agent_id="a1")
        for i in range(1000):
            bus.publish(
                ev.VoiceActivity(call_id="c1", t_ms=i, channel="agent", speaking=True),
                agent_id="a1",
            )
        n = 0
        async for _ in slow:
            n += 1
        return slow.dropped, n, bus.subscriber_count, fast.dropped

    dropped, delivered, remaining, fast_dropped = asyncio.run(main())
    assert dropped and delivered <= 10
    assert remaining == 1 and not fast_dropped


def test_live_call_registry_tracks_distress_and_ends() -> None:
    bus = EventBus()
    bus.publish(started("c1", "a1"), agent_id="a1")
    bus.publish(
        ev.DistressUpdate(
            call_id="c1",
            t_ms=250,
            channel="customer",
            score=0.7,
            level="elevated",
            provisional=False,
            features={},
        ),
        agent_id="a1",
    )
    (live,) = bus.live_calls()
    assert live.level == "elevated" and live.distress == 0.7 and live.media_ms == 250
    bus.publish(ev.CallEnded(call_id="c1", t_ms=300, reason="x", duration_ms=300), agent_id="a1")
    assert bus.live_calls() == []


def test_partials_are_watched_by_the_agents_overlay_or_a_wall_board_focused_on_the_call() -> None:
    bus = EventBus()
    assert not bus.partials_watched("c1", "alice")
    board = bus.subscribe(maxsize=10)  # a wall board sees finals of every call
    assert not bus.partials_watched("c1", "alice")
    board.shows_call_partials = "c1"  # ... and partials of the call it focuses on
    assert bus.partials_watched("c1", "alice") and not bus.partials_watched("c2", "bob")
    overlay = bus.subscribe(agent_id="bob", maxsize=10)
    overlay.shows_agent_partials = True
    assert bus.partials_watched("c2", "bob") and not bus.partials_watched("c3", "carol")
    # the overlay shows the customer's words live; the agent hears their own
    assert bus.partials_watched("c2", "bob", "customer")
    assert not bus.partials_watched("c2", "bob", "agent")
    assert bus.partials_watched("c1", "alice", "agent")  # the focused wall board: both legs
    overlay.close()
    board.close()
    assert not bus.partials_watched("c1", "alice") and not bus.partials_watched("c2", "bob")
