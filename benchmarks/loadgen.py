"""Loopback load generator: callers for every ingress, overlay and wall-board watchers,
and a sampler of the server process (for ``voice-assist bench load``).

Callers stream real speech at real time (or ``speed`` x) in 20 ms frames:

- native ``/v1/ingest``: ``start``, interleaved PCM16 frames at the clip's rate, ``stop``;
- Twilio ``/v1/twilio``: ``connected``, ``start`` (key and agent in
  ``customParameters``), one base64 mu-law ``media`` message per track per 20 ms, ``stop``;
- AudioHook ``/v1/audiohook`` (``X-API-KEY``): ``open``, stereo PCMU frames, a ``ping``
  every 5 s, ``close``.

Each call's agent has its own overlay (``/v1/agent``), which timestamps what arrives;
latencies are taken against the caller's sending clock (media time ``t_ms`` of an event
sent at ``t0 + t_ms``).  Everything here talks to 127.0.0.1 only, and every wait is
bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.speech_ends import call_ends_ms, end_within
from voice_assist.audio import pcm

FRAME_MS = 20
SOURCES = ("native", "twilio", "audiohook")
PING_EVERY_S = 5.0
CONNECT_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0


# -- audio ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class Clip:
    """A two-leg recording: ``audio`` is ``(n, 2)`` float32 (customer, agent) at ``rate_hz``."""

    name: str
    audio: np.ndarray
    rate_hz: int
    has_episode: bool
    """The clip contains a distress episode (a prompt is expected)."""
    speech_ends_ms: dict[str, list[int]] = field(default_factory=dict)
    """Per leg, where its speech audibly stops: the reference of the final lag."""

    def __post_init__(self) -> None:
        if not self.speech_ends_ms:
            self.speech_ends_ms = call_ends_ms(self.audio, rate_hz=self.rate_hz)

    def cut(self, seconds: float) -> Clip:
        n = int(seconds * self.rate_hz) if seconds > 0 else self.audio.shape[0]
        return Clip(self.name, self.audio[:n], self.rate_hz, self.has_episode)

    def at_8k(self) -> np.ndarray:
        if self.rate_hz == 8000:
            return self.audio
        from voice_assist.audio.resample import resample

        legs = [resample(self.audio[:, i], self.rate_hz, 8000) for i in range(2)]
        n = min(len(x) for x in legs)
        return np.stack([x[:n] for x in legs], axis=1).astype(np.float32)


def load_clips(project_root: Path) -> list[Clip]:
    """The bundled demo call (8 kHz, with a distress episode) and the benchmark call (16 kHz)."""
    import soundfile as sf

    out = []
    for path, has_episode in (
        (project_root / "voice_assist" / "data" / "demo_call.wav", True),
        (project_root / "benchmarks" / "data" / "bench_call_en.flac", False),
    ):
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        out.append(Clip(path.stem, np.ascontiguousarray(audio[:, :2]), int(rate), has_episode))
    return out


@dataclass(slots=True)
class Prepared:
    """Frames of one clip for one ingress, encoded once and shared by every call."""

    source: str
    clip: Clip
    frames: list[Any]
    frame_s: float = FRAME_MS / 1000


def prepare(source: str, clip: Clip) -> Prepared:
    if source == "native":
        step = clip.rate_hz * FRAME_MS // 1000
        native = [
            pcm.pcm16_encode(clip.audio[i : i + step].reshape(-1))
            for i in range(0, clip.audio.shape[0] - step + 1, step)
        ]
        return Prepared(source, clip, native)
    audio = clip.at_8k()
    step = 8000 * FRAME_MS // 1000
    frames: list[Any] = []
    for k, i in enumerate(range(0, audio.shape[0] - step + 1, step)):
        chunk = audio[i : i + step]
        if source == "audiohook":
            frames.append(pcm.mulaw_encode(chunk.reshape(-1)))
        else:  # twilio: one media message per track
            msgs = []
            for track, col in (("inbound", 0), ("outbound", 1)):
                payload = base64.b64encode(pcm.mulaw_encode(chunk[:, col])).decode()
                msgs.append(
                    json.dumps(
                        {
                            "event": "media",
                            "sequenceNumber": str(2 * k + 2),
                            "streamSid": "MZbench",
                            "media": {
                                "track": track,
                                "chunk": str(k + 1),
                                "timestamp": str(k * FRAME_MS),
                                "payload": payload,
                            },
                        }
                    )
                )
            frames.append(msgs)
    return Prepared(source, clip, frames)


# -- traces --------------------------------------------------------------------------------------
@dataclass(slots=True)
class CallTrace:
    """What one caller and its agent's overlay saw."""

    index: int
    source: str
    clip: str
    agent_id: str
    expects_prompt: bool
    call_id: str | None = None
    t0: float = 0.0
    """Wall time of the first audio frame (media time 0)."""
    accepted: bool = False
    refused: str | None = None
    """Why the server refused the call (protocol error, close reason, disconnect info)."""
    close_code: int | None = None
    speech_ends_ms: dict[str, list[int]] = field(default_factory=dict)
    """The clip's :attr:`Clip.speech_ends_ms` (empty: finals are timed from ``end_ms``)."""
    finals: list[tuple[float, int]] = field(default_factory=list)
    """(arrival wall time, media ms where the utterance's speech ended) of each final."""
    partials: list[tuple[float, str]] = field(default_factory=list)
    distress: list[tuple[float, int]] = field(default_factory=list)
    episode: tuple[float, int] | None = None
    prompt: float | None = None
    overloads: int = 0
    late_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    ended: bool = False

    def speech_end_ms(self, final: dict[str, Any]) -> int:
        """Where a final transcript's speech audibly stopped in the clip.

        The message's ``end_ms`` lies after the voice activity detector's hang-over and
        the end pad, so timing from it would understate the lag; it is the fallback.
        """
        end = int(final["end_ms"])
        ends = self.speech_ends_ms.get(str(final.get("channel")), [])
        audible = end_within(ends, int(final.get("start_ms", 0)), end)
        return audible if audible is not None else end

    def final_lags_ms(self) -> list[float]:
        return [1000 * (wall - self.t0) - end for wall, end in self.finals if self.t0]

    def distress_lags_ms(self) -> list[float]:
        return [1000 * (wall - self.t0) - t for wall, t in self.distress if self.t0]

    def prompt_ms(self) -> float | None:
        if self.episode is None or self.prompt is None or not self.t0:
            return None
        return 1000 * (self.prompt - self.t0) - self.episode[1]

    def partial_gaps_ms(self) -> list[float]:
        gaps: list[float] = []
        last: dict[str, float] = {}
        for wall, utt in self.partials:
            if utt in last:
                gaps.append(1000 * (wall - last[utt]))
            last[utt] = wall
        return gaps


# -- callers -------------------------------------------------------------------------------------
async def run_call(
    base: str, prepared: Prepared, trace: CallTrace, *, key: str, speed: float = 1.0
) -> None:
    """Stream one call; never raises (failures land in ``trace``)."""
    runner = {"native": _native, "twilio": _twilio, "audiohook": _audiohook}[prepared.source]
    try:
        await runner(base, prepared, trace, key, speed)
    except Exception as exc:  # a failed call is a result, not a crash of the bench
        trace.errors.append(f"{type(exc).__name__}: {exc}"[:300])


async def _pace(trace: CallTrace, k: int, frame_s: float, speed: float) -> None:
    due = trace.t0 + (k + 1) * frame_s / speed
    delay = due - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    else:
        trace.late_s = max(trace.late_s, -delay)


async def _native(base: str, prep: Prepared, trace: CallTrace, key: str, speed: float) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    start = {
        "type": "start",
        "media": {
            "encoding": "pcm_s16le",
            "sample_rate": prep.clip.rate_hz,
            "channels": 2,
            "channel_map": ["customer", "agent"],
        },
        "agent_id": trace.agent_id,
        "custom": {"bench": "load"},
    }
    async with connect(
        f"{base}/v1/ingest",
        additional_headers={"Authorization": f"Bearer {key}"},
        open_timeout=CONNECT_TIMEOUT_S,
        max_size=None,
    ) as ws:
        await ws.send(json.dumps(start))
        reply = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_S))
        if reply.get("type") != "started":
            trace.refused = f"{reply.get('code')}: {reply.get('message')}"
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.wait_closed(), 5)
            trace.close_code = ws.close_code
            return
        trace.accepted = True
        trace.call_id = reply["call_id"]
        stopped = asyncio.Event()

        async def reader() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg.get("type") == "stopped":
                        stopped.set()
                    elif msg.get("type") == "error":
                        trace.errors.append(f"{msg.get('code')}: {msg.get('message')}")

        task = asyncio.create_task(reader())
        trace.t0 = time.time()
        try:
            for k, frame in enumerate(prep.frames):
                await ws.send(frame)
                await _pace(trace, k, prep.frame_s, speed)
            await ws.send(json.dumps({"type": "stop"}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), STOP_TIMEOUT_S)
            trace.ended = stopped.is_set()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _twilio(base: str, prep: Prepared, trace: CallTrace, key: str, speed: float) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZbench",
        "start": {
            "streamSid": "MZbench",
            "callSid": f"CAbench{trace.index}",
            "tracks": ["inbound", "outbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"agent_id": trace.agent_id, "api_key": key},
        },
    }
    async with connect(f"{base}/v1/twilio", open_timeout=CONNECT_TIMEOUT_S, max_size=None) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps(start))
        # Twilio hears nothing back: a refused stream is closed at once, so give it a moment
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), 0.5)
        if ws.close_code is not None:
            trace.close_code = ws.close_code
            trace.refused = f"close {ws.close_code}: {ws.close_reason}"
            return
        trace.accepted = True
        trace.t0 = time.time()
        try:
            for k, messages in enumerate(prep.frames):
                for text in messages:
                    await ws.send(text)
                await _pace(trace, k, prep.frame_s, speed)
            await ws.send(json.dumps({"event": "stop", "sequenceNumber": "0", "stop": {}}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), STOP_TIMEOUT_S)
            trace.ended = ws.close_code == 1000
        except ConnectionClosed:
            trace.close_code = ws.close_code
            trace.errors.append(f"closed {ws.close_code}: {ws.close_reason}")


async def _audiohook(base: str, prep: Prepared, trace: CallTrace, key: str, speed: float) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from voice_assist.server.audiohook import format_duration

    session = f"00000000-0000-4000-8000-{trace.index:012d}"
    state = {"seq": 0, "serverseq": 0}
    opened, closed = asyncio.Event(), asyncio.Event()

    def message(kind: str, position_ms: int, **params: Any) -> str:
        state["seq"] += 1
        return json.dumps(
            {
                "version": "2",
                "id": session,
                "type": kind,
                "seq": state["seq"],
                "serverseq": state["serverseq"],
                "position": format_duration(position_ms),
                "parameters": params,
            }
        )

    async with connect(
        f"{base}/v1/audiohook",
        additional_headers={"X-API-KEY": key},
        open_timeout=CONNECT_TIMEOUT_S,
        max_size=None,
    ) as ws:

        async def reader() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    msg = json.loads(raw)
                    state["serverseq"] = int(msg.get("seq", state["serverseq"]))
                    kind = msg.get("type")
                    if kind == "opened":
                        opened.set()
                    elif kind == "disconnect":
                        trace.refused = f"disconnect {msg['parameters'].get('info', '')}"
                        opened.set()
                        closed.set()
                    elif kind == "closed":
                        closed.set()

        task = asyncio.create_task(reader())
        try:
            offer = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                     "rate": 8000}  # fmt: skip
            await ws.send(
                message(
                    "open",
                    0,
                    organizationId="bench",
                    conversationId=session,
                    participant={"id": "p", "ani": "+1", "aniName": "", "dnis": "+2"},
                    media=[offer],
                    customConfig={"agent_id": trace.agent_id},
                    language="en-US",
                )
            )
            await asyncio.wait_for(opened.wait(), CONNECT_TIMEOUT_S)
            if trace.refused is not None:
                await ws.send(message("close", 0, reason="error"))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.wait_closed(), 5)
                trace.close_code = ws.close_code
                return
            trace.accepted = True
            trace.t0 = time.time()
            next_ping = PING_EVERY_S
            for k, frame in enumerate(prep.frames):
                await ws.send(frame)
                position_s = (k + 1) * prep.frame_s
                if position_s >= next_ping:
                    next_ping += PING_EVERY_S
                    await ws.send(message("ping", int(position_s * 1000)))
                await _pace(trace, k, prep.frame_s, speed)
            await ws.send(message("close", int(len(prep.frames) * FRAME_MS), reason="end"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), STOP_TIMEOUT_S)
            trace.ended = closed.is_set()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# -- watchers ------------------------------------------------------------------------------------
async def watch_overlay(url: str, trace: CallTrace, ready: asyncio.Event) -> None:
    """The agent's overlay: timestamps finals, partials, distress, the episode and prompt."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    try:
        async with connect(url, max_size=None, open_timeout=CONNECT_TIMEOUT_S) as ws:
            ready.set()
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    now = time.time()
                    msg = json.loads(raw)
                    kind = msg.get("type")
                    if kind == "transcript":
                        if msg.get("is_final"):
                            trace.finals.append((now, trace.speech_end_ms(msg)))
                        else:
                            trace.partials.append((now, str(msg.get("utterance_id"))))
                    elif kind == "distress" and msg.get("channel") == "customer":
                        trace.distress.append((now, int(msg["t_ms"])))
                    elif kind == "episode" and msg.get("state") == "start":
                        if trace.episode is None:
                            trace.episode = (now, int(msg["t_ms"]))
                    elif (
                        kind == "prompt"
                        and msg.get("kind") == "pause_and_acknowledge"
                        and trace.episode is not None
                        and trace.prompt is None
                    ):
                        trace.prompt = now
                    elif kind == "call_started" and trace.call_id is None:
                        trace.call_id = msg.get("call_id")
                    elif kind == "overload":
                        trace.overloads += 1
    except Exception as exc:
        ready.set()
        trace.errors.append(f"overlay: {type(exc).__name__}: {exc}"[:200])


@dataclass(slots=True)
class SupervisorTrace:
    messages: int = 0
    dropped: bool = False
    close_code: int | None = None
    errors: list[str] = field(default_factory=list)


async def watch_supervisor(url: str, trace: SupervisorTrace, ready: asyncio.Event) -> None:
    """A wall board subscribed to every call, focusing on each new call in turn."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    try:
        async with connect(url, max_size=None, open_timeout=CONNECT_TIMEOUT_S) as ws:
            await ws.send(json.dumps({"type": "subscribe", "calls": "*"}))
            ready.set()
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    trace.messages += 1
                    msg = json.loads(raw)
                    if msg.get("type") == "call_started":
                        await ws.send(json.dumps({"type": "focus", "call_id": msg["call_id"]}))
            trace.close_code = ws.close_code
            trace.dropped = ws.close_code == 4409
    except Exception as exc:
        ready.set()
        trace.errors.append(f"{type(exc).__name__}: {exc}"[:200])


# -- the server process --------------------------------------------------------------------------
@dataclass(slots=True)
class ProcSample:
    wall_s: float
    cpu_s: float
    rss_mb: float
    threads: int
    fds: int


def sample_process(pid: int) -> ProcSample:
    """CPU seconds, RSS, threads and open descriptors of a process, from ``/proc``."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    rss_kb, threads = 0, 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return ProcSample(time.time(), cpu_s, rss_kb / 1024, threads, fds)


class Monitor:
    """Samples the server process and its ``/healthz`` every ``interval_s`` while running."""

    def __init__(self, pid: int, health_url: str, interval_s: float = 1.0) -> None:
        self.pid = pid
        self.health_url = health_url
        self.interval_s = interval_s
        self.procs: list[ProcSample] = []
        self.health: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def snapshot(self) -> tuple[ProcSample, dict[str, Any]]:
        import httpx

        proc = sample_process(self.pid)
        health: dict[str, Any] = {}
        with contextlib.suppress(httpx.HTTPError, ValueError):
            async with httpx.AsyncClient() as http:
                health = (await http.get(self.health_url, timeout=5)).json()
        return proc, health

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            proc, health = await self.snapshot()
            self.procs.append(proc)
            if health:
                self.health.append(health)
            await asyncio.sleep(self.interval_s)


def stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    a = np.asarray(values, dtype=float)
    return {
        "n": int(a.size),
        "p50": round(float(np.percentile(a, 50))),
        "p95": round(float(np.percentile(a, 95))),
        "max": round(float(a.max())),
    }


def slope_per_100(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ``ys`` against ``xs``, per 100 units of ``x``."""
    if len(xs) < 3 or max(xs) == min(xs):
        return None
    return round(float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0]) * 100, 3)
