"""The asyncio side of audio ingress: run one sans-I/O adapter on one websocket.

:func:`run_ingress` reads the websocket, feeds the adapter, and carries out its
actions: open the call on the engine, push each leg's 16 kHz audio, send replies
through an :class:`~voice_assist.server.outbox.Outbox`, end the call, close.  Whatever
happens to the connection (protocol error, idle client, vanished client, a bug), the
call is ended exactly once with a reason, so it is flushed and stored, and no other
call notices.

Limits enforced here (``[server]``): a connection that has not started a call within
``start_timeout_s`` is closed (4408 ``start_timeout``), one silent for ``idle_timeout_s``
too (4408 ``idle_timeout``); a call past ``max_call_s`` of media is ended (1008
``max_duration``); a text message longer than ``max_message_bytes`` is refused (1009);
a key that came in-band (Twilio ``customParameters``) counts against
``max_connections_per_key`` like a header key (4429 ``too_many_connections``); a call the
engine refuses (:class:`~voice_assist.errors.OverloadError`: ``max_calls`` or the
decoder's admission rule) gets the protocol's refusal with the reason (native: ``error``
``overloaded`` + close 1013; Twilio: close 1013; AudioHook: ``disconnect`` ``error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from voice_assist.errors import AuthError, OverloadError, ProtocolError
from voice_assist.server.ingress import (
    Action,
    Audio,
    Close,
    EndCall,
    IngressProtocol,
    Send,
    StartCall,
)
from voice_assist.server.outbox import Outbox

if TYPE_CHECKING:
    from voice_assist.runtime.session import CallSession
    from voice_assist.server.context import ServerContext

log = logging.getLogger(__name__)


class _Stop(Exception):
    """The adapter asked to close: stop reading."""


class IngressConnection:
    """One ingress websocket and (after start) its call."""

    def __init__(
        self,
        websocket: WebSocket,
        protocol: IngressProtocol,
        ctx: ServerContext,
        *,
        key_fingerprint: str | None,
    ) -> None:
        self.ws = websocket
        self.protocol = protocol
        self.ctx = ctx
        self.key_fingerprint = key_fingerprint
        opts = ctx.settings.server
        self.outbox = Outbox(
            websocket,
            maxsize=opts.send_queue_max,
            send_timeout_s=opts.send_timeout_s,
            label=f"{protocol.source} ingress",
        )
        self.session: CallSession | None = None
        self.end_reason = "client_gone"
        self._events_task: asyncio.Task[None] | None = None
        self._max_media_ms = opts.max_call_s * 1000

    async def run(self) -> None:
        opts = self.ctx.settings.server
        writer = asyncio.create_task(self.outbox.run())
        if self.key_fingerprint is not None:
            self.ctx.connections_per_key[self.key_fingerprint] += 1
        self.ctx.ingest_connections += 1
        start_deadline = time.monotonic() + opts.start_timeout_s
        try:
            while True:
                timeout_s = opts.idle_timeout_s
                if self.session is None:  # not started (or refused): bounded too
                    timeout_s = max(0.0, min(timeout_s, start_deadline - time.monotonic()))
                try:
                    message = await asyncio.wait_for(self.ws.receive(), timeout_s)
                except TimeoutError:
                    if self.session is None and time.monotonic() >= start_deadline:
                        error = _start_error(opts.start_timeout_s)
                    else:
                        error = _idle_error(opts.idle_timeout_s)
                    await self._apply(self.protocol.fail(error))
                    break
                if message["type"] == "websocket.disconnect":
                    await self._apply(self.protocol.connection_lost())
                    break
                if self.outbox.closing:  # the writer gave up on this client
                    self.end_reason = "client_too_slow"
                    break
                await self._apply(self._feed(message))
        except _Stop:
            pass
        except Exception:
            log.exception("%s ingress failed", self.protocol.source)
            self.end_reason = "server_error"
            with contextlib.suppress(_Stop, Exception):
                await self._apply(
                    self.protocol.fail(
                        ProtocolError("internal server error", code="internal_error")
                    )
                )
        finally:
            await self._end_call(self.end_reason)
            if self._events_task is not None:
                self._events_task.cancel()
            if not self.outbox.closing:
                self.outbox.close(1000, "done")
            await self.outbox.finish()
            writer.cancel()
            self.ctx.ingest_connections -= 1
            if self.key_fingerprint is not None:
                self.ctx.connections_per_key[self.key_fingerprint] -= 1
                if self.ctx.connections_per_key[self.key_fingerprint] <= 0:
                    del self.ctx.connections_per_key[self.key_fingerprint]

    # -- input ---------------------------------------------------------------------------
    def _feed(self, message: Mapping[str, Any]) -> list[Action]:
        limit = self.ctx.settings.server.max_message_bytes
        try:
            text, data = message.get("text"), message.get("bytes")
            if isinstance(text, str):
                if len(text) > limit:
                    raise ProtocolError(
                        f"text message of {len(text)} chars exceeds {limit}", code="message_too_big"
                    )
                return self.protocol.receive_text(text)
            if isinstance(data, bytes):
                if len(data) > limit:
                    raise ProtocolError(
                        f"binary message of {len(data)} bytes exceeds {limit}",
                        code="message_too_big",
                    )
                return self.protocol.receive_bytes(data)
            return []
        except ProtocolError as exc:
            log.info("%s ingress: protocol error %s: %s", self.protocol.source, exc.code, exc)
            return self.protocol.fail(exc)

    # -- actions -------------------------------------------------------------------------
    async def _apply(self, actions: list[Action]) -> None:
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if isinstance(action, Audio):
                more = await self._push(action)
                if more:
                    pending = more
            elif isinstance(action, Send):
                self.outbox.put(action.message)
            elif isinstance(action, StartCall):
                pending = self._start(action) + pending
            elif isinstance(action, EndCall):
                await self._end_call(action.reason)
            elif isinstance(action, Close):
                self.outbox.close(action.code, action.reason)
                raise _Stop

    async def _push(self, action: Audio) -> list[Action]:
        session = self.session
        if session is None:
            return self.protocol.fail(
                ProtocolError("audio before the call started", code="bad_message")
            )
        try:
            for channel, samples in action.legs.items():
                if samples.size:
                    await session.push_audio(channel, samples)
        except ProtocolError as exc:
            return self.protocol.fail(exc)
        if session.media_ms > self._max_media_ms:
            self.end_reason = "max_duration"
            return self.protocol.fail(
                ProtocolError(
                    f"call longer than server.max_call_s={self._max_media_ms // 1000}",
                    code="max_duration",
                )
            )
        return []

    def _start(self, action: StartCall) -> list[Action]:
        ctx = self.ctx
        if self.key_fingerprint is None:  # the key came in-band (Twilio customParameters)
            try:
                fingerprint = ctx.keys.match(action.api_key)
            except AuthError as exc:
                log.warning("%s ingress refused: %s", self.protocol.source, exc)
                return self.protocol.call_refused(ProtocolError(str(exc), code="unauthorized"))
            limit = ctx.settings.server.max_connections_per_key
            if ctx.connections_per_key[fingerprint] >= limit:
                log.warning(
                    "%s ingress refused: key %s at server.max_connections_per_key=%d",
                    self.protocol.source,
                    fingerprint,
                    limit,
                )
                return self.protocol.call_refused(
                    ProtocolError(
                        "too many connections for this API key", code="too_many_connections"
                    )
                )
            self.key_fingerprint = fingerprint
            ctx.connections_per_key[fingerprint] += 1
        engine = ctx.engine
        if engine is None or not engine.ready:
            return self.protocol.call_refused(
                ProtocolError("server is starting: model not ready", code="not_ready")
            )
        try:
            session = engine.open_call(
                agent_id=action.agent_id,
                source=self.protocol.source,
                meta=dict(action.meta),
            )
        except OverloadError as exc:
            log.warning("%s ingress refused: %s", self.protocol.source, exc)
            return self.protocol.call_refused(ProtocolError(str(exc), code="overloaded"))
        self.session = session
        log.info(
            "[call_id=%s] %s ingress started (agent_id=%s key=%s media=%s)",
            session.call_id,
            self.protocol.source,
            action.agent_id,
            self.key_fingerprint,
            action.media.describe(),
        )
        if self.protocol.wants_events:
            self._events_task = asyncio.create_task(self._forward_events(session.call_id))
        return self.protocol.call_opened(session.call_id)

    async def _end_call(self, reason: str) -> None:
        session = self.session
        if session is None or session.ended:
            return
        self.end_reason = reason
        try:
            await session.end(reason)
        except Exception:
            log.exception("[call_id=%s] ending the call failed", session.call_id)

    async def _forward_events(self, call_id: str) -> None:
        """Events of this call back to the client (AudioHook transcripts, suggestions)."""
        engine = self.ctx.engine
        assert engine is not None
        sub = engine.bus.subscribe(call_id=call_id, maxsize=self.ctx.settings.server.send_queue_max)
        try:
            async for event in sub:
                for action in self.protocol.on_event(event):
                    if isinstance(action, Send):
                        self.outbox.put(action.message)
        finally:
            sub.close()


def _idle_error(idle_s: float) -> ProtocolError:
    return ProtocolError(f"no message for {idle_s:.0f} s", code="idle_timeout")


def _start_error(start_s: float) -> ProtocolError:
    return ProtocolError(f"no call started within {start_s:g} s", code="start_timeout")
