"""What every endpoint of one server process shares: settings, credentials, the engine."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from voice_assist.config import Settings
from voice_assist.server.auth import IngestKeys
from voice_assist.server.revocation import RevocationCache

if TYPE_CHECKING:
    from voice_assist.runtime.bus import EventBus
    from voice_assist.runtime.engine import Engine
    from voice_assist.server.feeds import TranscriptTail
    from voice_assist.store import Store

log = logging.getLogger(__name__)


class CallHub(Protocol):
    """What the feeds need of the calls they show: the engine of a one-process server,
    or a cluster gateway (:class:`voice_assist.cluster.gateway.Gateway`) that relays
    every worker's events into a local bus and sends acks to the owning worker."""

    @property
    def bus(self) -> EventBus: ...

    @property
    def ready(self) -> bool: ...

    def ack_prompt(self, call_id: str, agent_id: str, prompt_id: str, action: str) -> bool:
        """Pass an agent's prompt ack to the call; False when it is not that agent's call."""
        ...


@dataclass(slots=True)
class ServerContext:
    settings: Settings
    secret: str
    """Token signing secret (from config, or generated for this process)."""
    keys: IngestKeys
    engine: Engine | None = None
    """Set once the model is loaded and warmed; ``None`` while starting."""
    store: Store | None = None
    tail: TranscriptTail | None = None
    started_wall_s: float = field(default_factory=time.time)
    connections_per_key: collections.Counter[str] = field(default_factory=collections.Counter)
    ingest_connections: int = 0
    feed_connections: int = 0
    start_error: str | None = None
    revoked: RevocationCache = field(default_factory=RevocationCache)
    """Revoked token ids (from the store when there is one)."""
    feed_connected: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the first overlay or wall board connects (the demo waits for it)."""

    role: str = "single"
    """``single``, ``worker`` or ``gateway`` (``serve --role``)."""
    gateway: CallHub | None = None
    """Set in the gateway role (no engine: the calls live on workers)."""

    @property
    def hub(self) -> CallHub | None:
        return self.engine if self.engine is not None else self.gateway

    @property
    def ready(self) -> bool:
        hub = self.hub
        return hub is not None and bool(hub.ready)
