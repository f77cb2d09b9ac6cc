"""The Redis streams adapter against a real redis-server started (and stopped) here."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from voice_assist import events as ev
from voice_assist.cluster.codec import BusEntry
from voice_assist.cluster.gateway import Gateway
from voice_assist.cluster.redis_bus import RedisRelay, RedisStreams
from voice_assist.cluster.site import RedisServer
from voice_assist.config import ClusterOptions
from voice_assist.runtime.bus import EventBus


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    assert shutil.which("redis-server"), "redis-server missing: run scripts/system-deps.sh"
    with RedisServer() as server:
        yield server.url


def entry(event: ev.Event, seq: int, *, agent: str = "a1", worker: str = "w1") -> BusEntry:
    return BusEntry(event=event, agent_id=agent, worker_id=worker, seq=seq)


def started(call_id: str, agent: str = "a1") -> ev.CallStarted:
    return ev.CallStarted(call_id=call_id, t_ms=0, agent_id=agent, source="test")


def test_worker_events_reach_a_gateway_bus_in_order_and_junk_is_ignored(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[list[str], int]:
        client = aioredis.from_url(redis_url)
        streams = RedisStreams(client, prefix="t1")
        gateway = EventBus()
        relay = RedisRelay(streams, gateway, start_id=await streams.position())
        sub = gateway.subscribe(agent_id="a1")
        await streams.publish(entry(started("c1"), 1))
        await client.xadd(streams.supervisor_stream, {"kind": "someone-else", "x": "1"})
        await client.xadd(streams.supervisor_stream, {"kind": "voice_assist/1", "event": "{"})
        end = ev.CallEnded(call_id="c1", t_ms=5, reason="stop", duration_ms=5)
        await streams.publish(entry(end, 2))
        await streams.publish(entry(end, 2))  # a batch re-sent after a lost reply
        while await relay.step(block_ms=100):
            pass
        sub.close()
        got = [type(e).__name__ async for e in sub]
        await client.aclose()
        return got, relay.ignored, relay.duplicates

    with caplog.at_level(logging.WARNING):
        got, ignored, duplicates = asyncio.run(main())
    assert got == ["CallStarted", "CallEnded"]
    assert ignored == 2 and duplicates == 1
    assert "foreign" in caplog.text and "malformed" in caplog.text


def test_liveness_keys_expire(redis_url: str) -> None:
    async def main() -> tuple[set[str], set[str]]:
        client = aioredis.from_url(redis_url)
        streams = RedisStreams(client, prefix="t2")
        await streams.heartbeat("w1", {"live_calls": 1.0}, ttl_ms=200)
        before = set(await streams.alive_workers())
        await asyncio.sleep(0.4)
        after = set(await streams.alive_workers())
        await client.aclose()
        return before, after

    before, after = asyncio.run(main())
    assert before == {"w1"} and after == set()


OPTS = ClusterOptions(heartbeat_interval_ms=100, liveness_ttl_ms=300)


async def _wait(pred: object, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not pred():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def test_gateway_snapshot_health_and_one_claim_per_lost_call(redis_url: str) -> None:
    """A call listed before the gateway starts is in its snapshot; the health says who
    admits; a worker whose key expires loses its calls, ended once on the stream although
    two gateways watch, and the lost-call hook gets each id once."""

    async def main() -> dict[str, object]:
        client = aioredis.from_url(redis_url)
        streams = RedisStreams(client, prefix="t3")
        # a worker with one call already running, as it would have written them
        await streams.heartbeat("w1", {"admit": True, "live_calls": 1}, ttl_ms=60_000)
        await streams.heartbeat("w2", {"admit": False, "live_calls": 0}, ttl_ms=60_000)
        await streams.publish(entry(started("c1"), 1))
        row = {"agent_id": "a1", "source": "test", "worker_id": "w1", "started_wall_s": 1.0}
        await client.hset(streams.live_hash, "c1", json.dumps(row))
        await client.hset(streams.live_hash, "junk", "{")
        lost: list[list[str]] = []
        gateways = [
            Gateway(
                RedisStreams(aioredis.from_url(redis_url), prefix="t3"), OPTS, on_lost=lost.append
            )
            for _ in range(2)
        ]
        for g in gateways:
            await g.start()
        snapshot = [c.call_id for c in gateways[0].bus.live_calls()]
        code_ok, body_ok = gateways[0].health()
        await client.delete(streams.alive_key("w1"))  # as if its key expired
        await client.delete(streams.alive_key("w2"))
        await _wait(lambda: all(not g.bus.live_calls() for g in gateways))
        code_none, body_none = gateways[0].health()
        ends = [
            e
            for _id, e in await client.xrange(streams.supervisor_stream)
            if b"call_ended" in e[b"event"]
        ]
        for g in gateways:
            await g.close()
        await client.aclose()
        return {
            "snapshot": snapshot, "code_ok": code_ok, "admitting": body_ok["workers_admitting"],
            "code_none": code_none, "status_none": body_none["status"], "ends": ends,
            "lost": lost, "reason": json.loads(ends[0][b"event"])["reason"] if ends else None,
        }  # fmt: skip

    got = asyncio.run(main())
    assert got["snapshot"] == ["c1"]
    assert got["code_ok"] == 200 and got["admitting"] == 1
    assert got["code_none"] == 503 and got["status_none"] == "no_workers"
    assert len(got["ends"]) == 1 and got["reason"] == "worker_lost"  # type: ignore[arg-type]
    assert got["lost"] == [["c1"]]


def test_gateway_says_full_when_no_worker_admits(redis_url: str) -> None:
    async def main() -> tuple[int, str]:
        client = aioredis.from_url(redis_url)
        streams = RedisStreams(client, prefix="t4")
        await streams.heartbeat("w1", {"admit": False, "reason": "decoder busy"}, ttl_ms=60_000)
        g = Gateway(streams, OPTS)
        await g.start()
        code, body = g.health()
        await g.close()
        await client.aclose()
        return code, str(body["status"])

    assert asyncio.run(main()) == (503, "full")


def test_an_ack_goes_to_the_owning_workers_control_stream_only(redis_url: str) -> None:
    async def main() -> tuple[bool, bool, list[dict[bytes, bytes]]]:
        client = aioredis.from_url(redis_url)
        streams = RedisStreams(client, prefix="t5")
        await streams.heartbeat("w7", {"admit": True}, ttl_ms=60_000)
        g = Gateway(streams, OPTS)
        await g.start()
        await streams.publish(entry(started("c9", agent="a9"), 1, agent="a9", worker="w7"))
        await _wait(lambda: g.bus.live_call("c9") is not None)
        wrong_agent = g.ack_prompt("c9", "someone-else", "p1", "shown")
        right = g.ack_prompt("c9", "a9", "p1", "shown")
        await asyncio.sleep(0.2)
        sent = [fields for _id, fields in await client.xrange(streams.control_stream("w7"))]
        await g.close()
        await client.aclose()
        return wrong_agent, right, sent

    wrong_agent, right, sent = asyncio.run(main())
    assert not wrong_agent and right
    assert len(sent) == 1 and sent[0][b"call_id"] == b"c9" and sent[0][b"agent_id"] == b"a9"
