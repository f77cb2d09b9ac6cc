"""A small client of the native ``/v1/ingest`` protocol: stream a two-leg call at real time.

Used by ``voice-assist demo``, the live benchmark and the end-to-end tests; also a
readable example of the protocol for integrators.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice_assist.audio import pcm

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEMO_CALL_WAV = DATA_DIR / "demo_call.wav"
DEMO_CALL_JSON = DATA_DIR / "demo_call.json"


@dataclass(slots=True)
class DemoCall:
    """The bundled demo call: ``audio`` is ``(n, 2)`` float32 (customer, agent) at ``rate_hz``."""

    audio: np.ndarray
    rate_hz: int
    utterances: list[dict[str, Any]]

    @property
    def duration_ms(self) -> int:
        return self.audio.shape[0] * 1000 // self.rate_hz

    def cut(self, max_ms: int) -> DemoCall:
        n = max_ms * self.rate_hz // 1000
        kept = [u for u in self.utterances if u["start_ms"] < max_ms]
        return DemoCall(self.audio[:n], self.rate_hz, kept)


def load_demo_call(path: Path = DEMO_CALL_WAV) -> DemoCall:
    import soundfile as sf

    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    meta_path = path.with_suffix(".json")
    utterances = json.loads(meta_path.read_text())["utterances"] if meta_path.exists() else []
    return DemoCall(np.ascontiguousarray(audio[:, :2]), int(rate), utterances)


@dataclass(slots=True)
class StreamResult:
    call_id: str | None = None
    started_wall_s: float = 0.0
    """``time.time()`` when the first audio frame was sent (media time 0)."""
    sent_ms: int = 0
    stopped: bool = False
    close_code: int | None = None
    close_reason: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    late_ms_max: float = 0.0
    """How far the sender fell behind real time at worst (backpressure or a busy machine)."""


async def stream_call(
    url: str,
    *,
    api_key: str,
    agent_id: str,
    audio: np.ndarray,
    rate_hz: int,
    encoding: str = "pcm_s16le",
    frame_ms: int = 20,
    speed: float = 1.0,
    custom: dict[str, str] | None = None,
    on_started: Callable[[str, float], None] | None = None,
    stop: bool = True,
) -> StreamResult:
    """Stream ``audio`` (``(n, channels)`` float32, customer first) as one call.

    Frames are paced by the wall clock at ``speed`` x real time (``speed <= 0``: as fast
    as the server takes them).  Returns when the server answered ``stopped`` (or closed).
    """
    from websockets.asyncio.client import connect

    channels = audio.shape[1]
    result = StreamResult()
    start_msg = {
        "type": "start",
        "media": {
            "encoding": encoding,
            "sample_rate": rate_hz,
            "channels": channels,
            "channel_map": ["customer", "agent"][:channels],
        },
        "agent_id": agent_id,
        "custom": custom or {},
    }
    encode = pcm.mulaw_encode if encoding == "mulaw" else pcm.pcm16_encode
    frame = max(1, rate_hz * frame_ms // 1000)
    async with connect(
        url,
        additional_headers={"Authorization": f"Bearer {api_key}"},
        max_size=None,
        open_timeout=30,
    ) as ws:
        await ws.send(json.dumps(start_msg))
        started = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if started.get("type") != "started":
            result.errors.append(started)
            return result
        result.call_id = started["call_id"]
        done = asyncio.Event()

        async def reader() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "error":
                    result.errors.append(msg)
                elif msg.get("type") == "stopped":
                    result.stopped = True
                    done.set()
                    return

        read_task = asyncio.create_task(reader())
        t0 = time.time()
        result.started_wall_s = t0
        if on_started is not None:
            on_started(result.call_id, t0)
        try:
            for i in range(0, audio.shape[0], frame):
                chunk = audio[i : i + frame]
                await ws.send(encode(chunk.reshape(-1)))
                result.sent_ms = (i + chunk.shape[0]) * 1000 // rate_hz
                if speed > 0:
                    due = t0 + result.sent_ms / 1000 / speed
                    delay = due - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    else:
                        result.late_ms_max = max(result.late_ms_max, -delay * 1000)
            if stop:
                await ws.send(json.dumps({"type": "stop"}))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 120)
        finally:
            read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await read_task
        result.close_code = ws.close_code
        result.close_reason = ws.close_reason or ""
    return result
