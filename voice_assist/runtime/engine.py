"""Process-wide services: the one Whisper model, the decode pool, the bus, the store.

::

    engine = await Engine.start(settings)
    session = engine.open_call(agent_id="a42", source="native")
    await session.push_audio("customer", samples)
    await session.end("hangup")
    await engine.close()
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from voice_assist import events as ev
from voice_assist.asr.admission import Admission
from voice_assist.asr.decoder import Decoder, Hypothesis
from voice_assist.asr.model import load_model
from voice_assist.asr.pool import DecodePool
from voice_assist.asr.stream import DecodeRequest
from voice_assist.config import Settings
from voice_assist.errors import OverloadError
from voice_assist.prosody.tracker import ProsodyTracker
from voice_assist.runtime.bus import EventBus
from voice_assist.runtime.cpuload import CpuLoad, usable_cpus
from voice_assist.runtime.looplag import LoopLag, watch_loop
from voice_assist.runtime.session import CallSession, Decoded, Sink
from voice_assist.runtime.stages import SharedData, Stages

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from voice_assist.store import Store

log = logging.getLogger(__name__)


def new_call_id() -> str:
    """Sortable, unguessable, path-safe: ``20261122-091500-3fa9c1d2e4b7``.

    48 random bits per second: two of a site's workers minting the same id in one second
    is a 1 in 10^14 event per pair of calls, and the store refuses a collision loudly.
    """
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(6)


class Engine:
    def __init__(
        self, settings: Settings, model: WhisperModel, *, store: Store | None = None
    ) -> None:
        self.settings = settings
        self.model = model
        self.decoder = Decoder(model, settings.asr)
        asr = settings.asr
        self.pool = DecodePool.for_decoder(
            self.decoder,
            workers=settings.model.workers,
            max_queue_s=asr.max_queue_s,
            admit_max_utilization=asr.admit_max_utilization,
            admit_max_final_wait_s=asr.admit_max_final_wait_ms / 1000,
            admit_window_s=asr.admit_window_s,
            partial_yield_final_wait_s=asr.partial_yield_final_wait_ms / 1000,
            partial_yield_s=asr.partial_yield_ms / 1000,
        )
        self.pool.on_shed = self._on_shed
        self.bus = EventBus()
        self.store = store
        self.shared = SharedData(settings)
        self.sessions: dict[str, CallSession] = {}
        self.ready = False
        self.calls_refused = 0
        self.loop_lag = LoopLag(window_s=asr.admit_window_s)
        self.cpu = CpuLoad()
        self.cpu_count = usable_cpus()
        self._loop_watch: asyncio.Task[None] | None = None
        self.remote_watch: Callable[[str], bool] | None = None
        """A cluster worker's view of which calls' partials a gateway shows."""

    @classmethod
    async def start(
        cls, settings: Settings, *, store: Store | None = None, model: WhisperModel | None = None
    ) -> Engine:
        """Load (in a thread: it takes seconds) and warm the model, start the pool."""
        if model is None:
            model = await asyncio.to_thread(load_model, settings)
        engine = cls(settings, model, store=store)
        engine.pool.start()
        engine._loop_watch = asyncio.create_task(
            watch_loop(engine.loop_lag, cpu=engine.cpu), name="loop-lag"
        )
        await engine.warm()
        engine.pool.load.reset()  # the warm-up decode is nobody's call: measure from here
        engine.ready = True
        return engine

    async def warm(self) -> None:
        """One final-style decode so the first real utterance pays no start-up cost."""
        rng = np.random.default_rng(0)
        audio = (0.05 * rng.standard_normal(16000)).astype(np.float32)
        request = DecodeRequest(
            call_id="warmup",
            channel="customer",
            utterance_id="w0",
            utterance_index=0,
            kind="final",
            audio=audio,
            start_sample=0,
            end_sample=audio.size,
        )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def finished(_r: DecodeRequest, _h: Hypothesis | None, err: BaseException | None) -> None:
            if not done.done():
                done.set_result(None)
            if err is not None:
                log.warning("warm-up decode failed: %s", err)

        self.pool.submit(request, finished)
        # the first prosody tracker pays librosa's import and JIT costs: not the first call
        warm = ProsodyTracker(call_id="warmup", channel="customer", options=self.settings.prosody)
        warm.feed(audio)
        await done

    def open_call(
        self,
        *,
        agent_id: str,
        source: str,
        call_id: str | None = None,
        meta: Mapping[str, str] | None = None,
        sink: Sink | None = None,
    ) -> CallSession:
        """Start a call.  Raises :class:`OverloadError` when the server sheds load.

        Admission, in order: ``server.max_calls`` (a fixed cap, 0 = none), the decode
        pool's measured rule (:meth:`DecodePool.admission`): the decoder is behind, the
        running calls wait too long for their finals, or one more call would push the
        decoder past ``asr.admit_max_utilization``; then the event loop's lag past
        ``server.admit_max_loop_lag_ms`` (everything but the decodes runs on the loop);
        then the process's CPU, scaled to one more call, past
        ``server.admit_max_cpu_share`` of the machine's cores.
        The error says which.
        """
        verdict = self.admission()
        if not verdict.admit:
            self.calls_refused += 1
            log.warning("new call refused: %s", verdict.reason)
            raise OverloadError(f"not taking new calls: {verdict.reason}")
        call_id = call_id or new_call_id()
        if call_id in self.sessions:
            raise OverloadError(f"call {call_id} is already live")
        sinks: list[Sink] = []
        on_audio = on_close = None
        if self.store is not None:
            recorder = self.store.recorder(
                call_id,
                agent_id=agent_id,
                source=source,
                meta=dict(meta or {}),
                backpressure=source == "file",  # a recording may wait; a live call never does
            )
            sinks.append(recorder.on_event)
            on_audio, on_close = recorder.on_audio, recorder.close
        if sink is not None:
            sinks.append(sink)
        sinks.append(self._watch_finals)
        stages = Stages(
            call_id=call_id,
            settings=self.settings,
            shared=self.shared,
            on_audio=on_audio,
            on_close=on_close,
            mixed_leg=(meta or {}).get("legs") == "mixed",
        )
        session = CallSession(
            self,
            call_id=call_id,
            agent_id=agent_id,
            source=source,
            meta=dict(meta or {}),
            stages=stages,
            sinks=sinks,
        )
        self.sessions[call_id] = session
        self.pool.calls_changed(len(self.sessions))
        log.info("[call_id=%s] call opened (agent_id=%s source=%s)", call_id, agent_id, source)
        return session

    def admission(self) -> Admission:
        """Would a new call be admitted now, and the figures behind the answer."""
        live = len(self.sessions)
        limit = self.settings.server.max_calls
        max_lag_ms = self.settings.server.admit_max_loop_lag_ms
        lag = self.loop_lag.p90_s()
        verdict = replace(self.pool.admission(live), loop_lag_p90_s=lag)
        if limit and live >= limit and verdict.admit:
            verdict = replace(
                verdict, admit=False, reason=f"{live} live calls (server.max_calls={limit})"
            )
        if (
            verdict.admit
            and max_lag_ms > 0
            and live > 0
            and lag is not None
            and lag * 1000 > max_lag_ms
        ):
            verdict = replace(
                verdict,
                admit=False,
                reason=f"the event loop runs {lag * 1000:.0f} ms late (p90), over "
                f"server.admit_max_loop_lag_ms={max_lag_ms} ({live} live calls)",
            )
        return self._cpu_rule(verdict, live)

    def _cpu_rule(self, verdict: Admission, live: int) -> Admission:
        cores = self.cpu.cores()
        verdict = replace(verdict, cpu_cores=cores)
        share = self.settings.server.admit_max_cpu_share
        if not verdict.admit or share <= 0 or live == 0 or cores is None:
            return verdict
        projected = cores * (live + 1) / live
        if projected <= share * self.cpu_count:
            return verdict
        return replace(
            verdict,
            admit=False,
            reason=f"one more call would take the server to {projected:.2f} of "
            f"{self.cpu_count} CPU cores, over server.admit_max_cpu_share={share:.0%} "
            f"({live} live calls)",
        )

    def session(self, call_id: str) -> CallSession | None:
        return self.sessions.get(call_id)

    def ack_prompt(self, call_id: str, agent_id: str, prompt_id: str, action: str) -> bool:
        """An agent's ack of a prompt; False when ``call_id`` is not that agent's live call."""
        session = self.sessions.get(call_id)
        if session is None or session.agent_id != agent_id:
            return False
        session.ack(prompt_id, action)
        return True

    # -- the CallHost seam (what a CallSession may use) ----------------------------------

    def submit(self, request: DecodeRequest, done: Decoded) -> None:
        self.pool.submit(request, done)

    def withdraw(self, request: DecodeRequest) -> None:
        self.pool.withdraw(request)

    def drop_call(self, call_id: str) -> None:
        self.pool.drop_call(call_id)

    def publish(self, event: ev.Event, *, agent_id: str) -> None:
        self.bus.publish(event, agent_id=agent_id)

    def partials_watched(self, call_id: str, agent_id: str, channel: ev.Channel) -> bool:
        if self.remote_watch is not None and self.remote_watch(call_id):
            return True
        return self.bus.partials_watched(call_id, agent_id, channel)

    def closed(self, session: CallSession) -> None:
        self.sessions.pop(session.call_id, None)
        self.pool.calls_changed(len(self.sessions))
        log.info("[call_id=%s] call closed", session.call_id)

    def _watch_finals(self, event: ev.Event) -> None:
        """Each published final: how long after its speech ended (media time), for the
        admission rule (:meth:`DecodePool.admission`).

        The speech ends at the final's ``end_ms`` less the end pad: within 40-70 ms of
        where it audibly stops, the reference of the latency budget.  ``end_ms`` itself
        lies ``speech_pad_ms`` later and made the rule that much looser than the budget.
        (A final cut at ``max_utterance_ms`` or at the end of the call has no pad: its
        wait reads the pad too long, on the strict side.)
        """
        if isinstance(event, ev.TranscriptEvent) and event.is_final:
            session = self.sessions.get(event.call_id)
            if session is not None:
                speech_end_ms = event.end_ms - self.settings.asr.speech_pad_ms
                self.pool.record_final_wait(max(0, session.media_ms - speech_end_ms) / 1000)

    def _on_shed(self, request: DecodeRequest, backlog_s: float) -> None:
        session = self.sessions.get(request.call_id)
        if session is not None:
            session.overload(request, backlog_s)

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await session.end("server_shutdown", flush_timeout_s=10.0)
        if self._loop_watch is not None:
            self._loop_watch.cancel()
            await asyncio.gather(self._loop_watch, return_exceptions=True)
        await self.pool.close()
        if self.store is not None and hasattr(self.store, "close"):
            self.store.close()
