"""One websocket's outgoing messages: a bounded queue drained by a single writer task.

Policy (every queue is bounded, with a stated policy): producers never wait.
:meth:`Outbox.put` either queues the message or, when ``maxsize`` messages are
already waiting, marks the connection *too slow* and schedules a close; a send that
does not complete within ``send_timeout_s`` (a client that stopped reading, so the
TCP window is shut) ends the writer the same way.  A slow client is dropped; the
call and every other connection go on at full speed.

One writer also keeps messages in the order they were queued, which protocols with
sequence numbers (AudioHook ``seq``, feed ``seq``) rely on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from voice_assist.server.ingress import CLOSE_TOO_SLOW, close_reason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _CloseItem:
    code: int
    reason: str


class Outbox:
    """Bounded, ordered, non-blocking send side of one websocket (see module docstring)."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        maxsize: int = 256,
        send_timeout_s: float = 5.0,
        label: str = "",
    ) -> None:
        self.websocket = websocket
        self.maxsize = maxsize
        self.send_timeout_s = send_timeout_s
        self.label = label
        self._queue: asyncio.Queue[str | _CloseItem] = asyncio.Queue()
        self.too_slow = False
        self.closing = False
        self.closed = asyncio.Event()
        self.sent = 0
        self.close_code: int | None = None

    def put(self, message: Mapping[str, Any] | str) -> bool:
        """Queue one JSON message; ``False`` when the connection is closing or too slow."""
        if self.closing:
            return False
        if self._queue.qsize() >= self.maxsize:
            self.too_slow = True
            log.warning("%s: client %d messages behind: dropping it", self.label, self.maxsize)
            self.close(CLOSE_TOO_SLOW, "client too slow")
            return False
        text = (
            message
            if isinstance(message, str)
            else json.dumps(message, separators=(",", ":"), allow_nan=False)
        )
        self._queue.put_nowait(text)
        return True

    def close(self, code: int, reason: str) -> None:
        """Queue a close after what is already queued (or at once for a slow client)."""
        if self.closing:
            return
        self.closing = True
        if self.too_slow:  # nothing more will be read: skip the backlog
            while not self._queue.empty():
                self._queue.get_nowait()
        self._queue.put_nowait(_CloseItem(code, close_reason(reason)))

    async def run(self) -> None:
        """The writer: send queued messages in order until a close or a failure."""
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, _CloseItem):
                    self.close_code = item.code
                    await self._close(item.code, item.reason)
                    return
                try:
                    await asyncio.wait_for(self.websocket.send_text(item), self.send_timeout_s)
                except TimeoutError:
                    self.too_slow = True
                    log.warning(
                        "%s: send blocked %.1f s: dropping client", self.label, self.send_timeout_s
                    )
                    self.closing = True
                    self.close_code = CLOSE_TOO_SLOW
                    return
                self.sent += 1
        except Exception as exc:  # client vanished mid-send: nothing left to tell it
            log.debug("%s: send failed: %s", self.label, exc)
            self.closing = True
        finally:
            self.closed.set()

    async def _close(self, code: int, reason: str) -> None:
        if self.websocket.application_state == WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code, reason), self.send_timeout_s)

    async def finish(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for the writer to send what is queued and the close."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), timeout_s)
