"""The revoked token ids, cached in memory so a token check costs one set lookup.

The set is reloaded from the store (one small ``SELECT`` of ``revoked_tokens``) when it
is older than :data:`REFRESH_S`, by the next check that needs it, so a token revoked by
another process (``voice-assist token revoke``) is refused within that time.  When the
store cannot be read, the last set is kept and the failure logged; without a store
nothing is revoked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from voice_assist.errors import StoreError

log = logging.getLogger(__name__)

REFRESH_S = 5.0
"""How old the cached set may get before a check reloads it (seconds)."""


class RevocationCache:
    """``is_revoked(token_id)`` against a set reloaded every ``refresh_s`` from ``load``."""

    def __init__(
        self,
        load: Callable[[], frozenset[str]] | None = None,
        *,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.refresh_s = refresh_s
        self._clock = clock
        self._ids: frozenset[str] = frozenset()
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def is_revoked(self, token_id: str) -> bool:
        if self._load is None:
            return False
        loaded_at = self._loaded_at
        if loaded_at is None or self._clock() - loaded_at >= self.refresh_s:
            self.refresh()
        return token_id in self._ids

    def refresh(self) -> None:
        """Reload the set now (the store's failure keeps the last set)."""
        if self._load is None:
            return
        with self._lock:
            try:
                self._ids = self._load()
            except StoreError as exc:
                log.warning("cannot reload revoked tokens, keeping the last list: %s", exc)
            self._loaded_at = self._clock()
