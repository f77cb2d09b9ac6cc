"""One live call: wires the synchronous cores together and routes their events.

Audio for a leg goes to that leg's transcriber (decodes run in the shared pool) and
prosody tracker; customer prosody and final transcripts go to the distress
estimator; everything the coach cares about goes to the coach; every event goes to
the bus (live feeds) and to the call's lossless sinks (store recorder, analyze).
All of it on the event loop, except the decodes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol, cast

import numpy as np

from voice_assist import events as ev
from voice_assist.asr.context import ConversationContext
from voice_assist.asr.decoder import Hypothesis
from voice_assist.asr.stream import DecodeRequest, FeedResult, LegTranscriber, samples_to_ms
from voice_assist.audio.pcm import sanitize
from voice_assist.errors import ProtocolError
from voice_assist.logutil import call_logger
from voice_assist.runtime.stages import Stages

if TYPE_CHECKING:
    from voice_assist.config import Settings

log = logging.getLogger(__name__)

Sink = Callable[[ev.Event], None]
_MAX_PENDING_FINALS = 8
_OVERLOAD_EVENT_GAP_MS = 5000
AckAction = Literal["shown", "dismissed", "followed"]


Decoded = Callable[[DecodeRequest, Hypothesis | None, BaseException | None], None]


class CallHost(Protocol):
    """What a call needs of the process that carries it (the :class:`Engine`): the
    settings, the shared decoder, the live feeds, and word when it is over.  Nothing
    else of the engine is reached through; this is the seam a multi-process host
    implements too."""

    settings: Settings

    def submit(self, request: DecodeRequest, done: Decoded) -> None: ...

    def withdraw(self, request: DecodeRequest) -> None: ...

    def drop_call(self, call_id: str) -> None: ...

    def publish(self, event: ev.Event, *, agent_id: str) -> None: ...

    def partials_watched(self, call_id: str, agent_id: str, channel: ev.Channel) -> bool: ...

    def closed(self, session: CallSession) -> None: ...


class CallSession:
    """A call in progress.  Create with :meth:`Engine.open_call`."""

    def __init__(
        self,
        engine: CallHost,
        *,
        call_id: str,
        agent_id: str,
        source: str,
        meta: dict[str, str],
        stages: Stages,
        sinks: list[Sink],
    ) -> None:
        self.engine = engine
        self.call_id = call_id
        self.agent_id = agent_id
        self.source = source
        self._stages = stages
        self._sinks = sinks
        self._log = call_logger(__name__, call_id)
        opts = engine.settings.asr
        context = ConversationContext(opts.context_max_words)  # both legs: one conversation
        self.legs = {
            ch: LegTranscriber(
                call_id=call_id,
                channel=ch,
                options=opts,
                context=context,
                watched=functools.partial(engine.partials_watched, call_id, agent_id, ch),
            )
            for ch in ev.CHANNELS
        }
        self.ended = False
        self._ending = False
        self._drained = asyncio.Event()
        self._drained.set()
        self._final_done = asyncio.Event()
        self._last_overload_ms = -_OVERLOAD_EVENT_GAP_MS
        self._bad_sample_reported = False
        self._emit(
            ev.CallStarted(call_id=call_id, t_ms=0, agent_id=agent_id, source=source, meta=meta)
        )

    # ------------------------------------------------------------------ clock
    @property
    def media_ms(self) -> int:
        return max(samples_to_ms(leg.received_samples) for leg in self.legs.values())

    # ------------------------------------------------------------------ input
    async def push_audio(self, channel: ev.Channel, samples: np.ndarray) -> None:
        """Append 16 kHz mono float32 audio to one leg.

        Waits (never drops) while this call has too many finals waiting for the
        decoder, which pushes back on a client that sends faster than real time.
        """
        if self.ended or self._ending:
            raise ProtocolError("audio after the call ended", code="call_ended")
        if channel not in self.legs:
            raise ProtocolError(f"unknown channel {channel!r}", code="bad_channel")
        clean, bad = sanitize(np.asarray(samples, dtype=np.float32).reshape(-1))
        if bad and not self._bad_sample_reported:
            self._bad_sample_reported = True
            self._emit(
                ev.PipelineError(
                    call_id=self.call_id,
                    t_ms=self.media_ms,
                    channel=channel,
                    code="bad_samples",
                    message=f"{bad} NaN/inf samples replaced by silence",
                )
            )
        self._stages.on_audio(channel, clean)
        self._handle_feed(self.legs[channel].feed(clean))
        self._settle(channel)
        for frame in self._stages.prosody(channel, clean):
            self._route(frame)
        for event in self._stages.tick(self.media_ms):
            self._route(event)
        while self._pending_finals() > _MAX_PENDING_FINALS and not self.ended:
            self._drained.clear()
            await self._drained.wait()

    def ack(self, prompt_id: str, action: str) -> None:
        """The agent reacted to a prompt on the overlay (``shown``/``dismissed``/``followed``)."""
        if action not in ("shown", "dismissed", "followed") or self.ended:
            return
        ack = ev.PromptAck(
            call_id=self.call_id,
            t_ms=self.media_ms,
            prompt_id=prompt_id,
            action=cast(AckAction, action),
        )
        self._route(ack)

    # ------------------------------------------------------------------ end
    async def end(self, reason: str, *, flush_timeout_s: float = 60.0) -> None:
        """Flush the legs, wait for their finals, emit the last events.  Idempotent."""
        if self._ending:
            await self._final_done.wait()
            return
        self._ending = True
        try:
            for leg in self.legs.values():
                self._handle_feed(leg.finish())
            for ch in ev.CHANNELS:
                for frame in self._stages.prosody_finish(ch):
                    self._route(frame)
            self.engine.drop_call(self.call_id)
            try:
                await asyncio.wait_for(self._wait_finals(), flush_timeout_s)
            except TimeoutError:
                self._log.warning(
                    "finals still pending after %.0f s; ending anyway", flush_timeout_s
                )
            for ch in ev.CHANNELS:  # held-back finals out, all audio settled
                self._settle(ch, final=True)
            t_ms = self.media_ms
            for event in self._stages.finish_distress(t_ms):
                self._route(event)
            for event in self._stages.finish_coach(t_ms):
                self._route(event)
            self._emit(
                ev.CallEnded(call_id=self.call_id, t_ms=t_ms, reason=reason, duration_ms=t_ms)
            )
        finally:
            self.ended = True
            self._drained.set()
            self._final_done.set()
            self._stages.close(reason)
            self.engine.closed(self)

    async def settle(self) -> None:
        """Wait until every final requested so far is decoded and routed.

        File analysis calls this after each chunk so that transcripts reach the
        distress estimator and the coach at the same media time as in a live call,
        however fast the audio is pushed.
        """
        await self._wait_finals()

    async def _wait_finals(self) -> None:
        while self._pending_finals():
            self._drained.clear()
            await self._drained.wait()

    # ------------------------------------------------------------------ plumbing
    def _pending_finals(self) -> int:
        return sum(leg.pending_finals for leg in self.legs.values())

    def _handle_feed(self, result: FeedResult) -> None:
        for event in result.events:
            self._route(event)
        for request in result.withdrawn:
            self.engine.withdraw(request)
        for request in result.requests:
            self.engine.submit(request, self._on_decoded)

    def _on_decoded(
        self, request: DecodeRequest, hyp: Hypothesis | None, error: BaseException | None
    ) -> None:
        leg = self.legs[request.channel]
        if error is not None:
            self._emit(
                ev.PipelineError(
                    call_id=self.call_id,
                    t_ms=request.end_sample * 1000 // 16000,
                    channel=request.channel,
                    code="decode_failed",
                    message=f"utterance {request.utterance_id} could not be transcribed: {error}",
                )
            )
        if not self.ended:
            for event in leg.on_result(request, hyp if error is None else None):
                self._route(event)
            self._settle(request.channel)
        if self._pending_finals() <= _MAX_PENDING_FINALS:
            self._drained.set()

    def overload(self, request: DecodeRequest, backlog_s: float) -> None:
        """The pool shed one of this call's partials."""
        t_ms = self.media_ms
        if t_ms - self._last_overload_ms < _OVERLOAD_EVENT_GAP_MS:
            return
        self._last_overload_ms = t_ms
        self._emit(
            ev.Overload(
                call_id=self.call_id,
                t_ms=t_ms,
                channel=request.channel,
                backlog_s=round(backlog_s, 2),
                detail="decoder behind: partial transcripts shed, finals kept",
            )
        )

    def _route(self, event: ev.Event) -> None:
        """Redact (transcripts), publish, and feed to the stages that consume it (and so on)."""
        for out in self._stages.redact(event):
            self._deliver(out)

    def _deliver(self, event: ev.Event) -> None:
        self._emit(event)
        for follow_up in self._stages.consume(event):
            self._route(follow_up)

    def _settle(self, channel: ev.Channel, *, final: bool = False) -> None:
        """Tell redaction where a leg stands: releases held-back finals and archive audio."""
        leg = self.legs[channel]
        idle = not leg.speaking and not leg.pending_finals
        received_ms = samples_to_ms(leg.received_samples)
        for event in self._stages.settle(channel, received_ms=received_ms, idle=idle, final=final):
            self._deliver(event)

    def _emit(self, event: ev.Event) -> None:
        for sink in self._sinks:
            try:
                sink(event)
            except Exception:
                self._log.exception("event sink failed")
        self.engine.publish(event, agent_id=self.agent_id)
