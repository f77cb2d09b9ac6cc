"""The Redis streams adapter against a real redis-server started (and stopped) here."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from voice_assist import events as ev
from voice_assist.cluster.redis_bus import RedisRelay, RedisStreams, publish_soon
from voice_assist.runtime.bus import EventBus


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("redis-server")
    assert exe, "redis-server missing: run scripts/system-deps.sh"
    port = _free_port()
    root: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def test_worker_events_reach_a_gateway_bus_in_order_and_junk_is_ignored(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[list[str], int]:
        client = aioredis.from_url(redis_url)
        streams = RedisStreams(client, prefix="t1")
        gateway = EventBus()
        relay = RedisRelay(streams, gateway, start_id=await streams.position())
        sub = gateway.subscribe(agent_id="a1")
        publish_soon(
            streams,
            ev.CallStarted(call_id="c1", t_ms=0, agent_id="a1", source="test"),
            agent_id="a1",
            worker_id="w1",
        )
        await asyncio.sleep(0.05)
        await client.xadd(streams.supervisor_stream, {"kind": "someone-else", "x": "1"})
        await client.xadd(streams.supervisor_stream, {"kind": "voice_assist/1", "event": "{"})
        publish_soon(
            streams,
            ev.CallEnded(call_id="c1", t_ms=5, reason="stop", duration_ms=5),
            agent_id="a1",
            worker_id="w1",
        )
        await asyncio.sleep(0.05)
        while await relay.step(block_ms=100):
            pass
        sub.close()
        got = [type(e).__name__ async for e in sub]
        await client.aclose()
        return got, relay.ignored

    with caplog.at_level(logging.WARNING):
        got, ignored = asyncio.run(main())
    assert got == ["CallStarted", "CallEnded"]
    assert ignored == 2
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
