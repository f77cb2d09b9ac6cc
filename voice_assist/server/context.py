"""What every endpoint of one server process shares: settings, credentials, the engine."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voice_assist.config import Settings
from voice_assist.server.auth import IngestKeys
from voice_assist.server.revocation import RevocationCache

if TYPE_CHECKING:
    from voice_assist.runtime.engine import Engine
    from voice_assist.server.feeds import TranscriptTail
    from voice_assist.store import Store

log = logging.getLogger(__name__)


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

    @property
    def ready(self) -> bool:
        return self.engine is not None and bool(self.engine.ready)
