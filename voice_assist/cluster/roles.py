"""Start-up of the two cluster roles inside a server process (``serve --role``).

``single`` (the default) needs none of this: one process, the in-memory bus.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import Any, Literal

from voice_assist.cluster.gateway import Gateway
from voice_assist.cluster.redis_bus import RedisStreams
from voice_assist.cluster.worker import WorkerLink
from voice_assist.config import Settings
from voice_assist.errors import ConfigError

log = logging.getLogger(__name__)

Role = Literal["single", "worker", "gateway"]
ROLES: tuple[Role, ...] = ("single", "worker", "gateway")


def default_worker_id() -> str:
    """Unique per process, readable in logs: ``host-pid`` (a restarted worker is a new one)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def redis_clients(settings: Settings) -> tuple[Any, Any]:
    """Two clients on ``cluster.redis_url``: one for commands, one for blocking reads."""
    import redis.asyncio as aioredis

    url = settings.cluster.redis_url
    if not url:
        raise ConfigError(
            "this role needs cluster.redis_url (VOICE_ASSIST_REDIS_URL), e.g. redis://host:6379/0"
        )
    try:
        return (
            aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=2),
            aioredis.from_url(url, socket_timeout=10, socket_connect_timeout=2),
        )
    except ValueError as exc:
        raise ConfigError(f"cluster.redis_url is not a Redis URL: {exc}") from exc


def streams_for(settings: Settings, client: Any) -> RedisStreams:
    opts = settings.cluster
    return RedisStreams(client, prefix=opts.prefix, maxlen=opts.stream_maxlen)


async def start_worker_link(
    engine: Any, settings: Settings, *, worker_id: str, media_url: str = ""
) -> WorkerLink:
    client, reader = redis_clients(settings)
    link = WorkerLink(
        engine,
        streams_for(settings, client),
        settings.cluster,
        worker_id=worker_id,
        media_url=media_url,
        reader=reader,
    )
    await link.start()
    return link


async def start_gateway(
    settings: Settings, *, on_lost: Callable[[list[str]], Any] | None = None
) -> Gateway:
    """Connect and take the snapshot; while Redis is unreachable, retry (logged)."""
    client, reader = redis_clients(settings)
    gateway = Gateway(
        streams_for(settings, client), settings.cluster, reader=reader, on_lost=on_lost
    )
    delay_s = 0.2
    while True:
        try:
            await gateway.start()
            return gateway
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("gateway cannot reach Redis yet (%s); retrying in %.1f s", exc, delay_s)
            await asyncio.sleep(delay_s)
            delay_s = min(5.0, delay_s * 2)
