"""The runtime with the real model: a call through Engine/CallSession, faults, overload."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

from voice_assist import events as ev
from voice_assist.asr.decoder import Hypothesis
from voice_assist.asr.pool import DecodePool
from voice_assist.asr.stream import DecodeRequest
from voice_assist.audio.files import load_legs
from voice_assist.config import Settings
from voice_assist.errors import OverloadError, ProtocolError
from voice_assist.runtime.engine import Engine
from voice_assist.runtime.filefeed import feed_legs

pytestmark = pytest.mark.model


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def start(settings: Settings, whisper_model) -> Engine:  # type: ignore[no-untyped-def]
    return await Engine.start(settings, model=whisper_model)


def test_stereo_call_gives_finals_on_both_legs_in_order(settings: Settings, whisper_model) -> None:  # type: ignore[no-untyped-def]
    async def main() -> list[ev.Event]:
        engine = await start(settings, whisper_model)
        got: list[ev.Event] = []
        session = engine.open_call(agent_id="a1", source="file", sink=got.append)
        await feed_legs(session, load_legs(DATA / "call_stereo_en.flac"))
        await engine.close()
        return got

    got = run(main())
    assert isinstance(got[0], ev.CallStarted) and isinstance(got[-1], ev.CallEnded)
    finals = [e for e in got if isinstance(e, ev.TranscriptEvent) and e.is_final]
    assert [f.channel for f in finals] == ["agent", "customer"]
    assert "help" in finals[0].text.lower()
    assert "waiting" in finals[1].text.lower()
    assert all(f.words for f in finals)
    # media clock: events never claim a time beyond the call
    assert max(e.t_ms for e in got) <= got[-1].t_ms
    kinds = {type(e) for e in got}
    assert {ev.DistressUpdate, ev.CallMetrics, ev.EmpathyScore, ev.VoiceActivity} <= kinds


def test_nan_audio_is_reported_and_the_call_goes_on(settings: Settings, whisper_model) -> None:  # type: ignore[no-untyped-def]
    async def main() -> list[ev.Event]:
        engine = await start(settings, whisper_model)
        got: list[ev.Event] = []
        session = engine.open_call(agent_id="a1", source="test", sink=got.append)
        bad = np.full(1600, np.nan, dtype=np.float32)
        await session.push_audio("customer", bad)
        legs = load_legs(DATA / "utterance_en.flac")
        await feed_legs(session, legs)
        with pytest.raises(ProtocolError):
            await session.push_audio("customer", bad)
        await engine.close()
        return got

    got = run(main())
    errors = [e for e in got if isinstance(e, ev.PipelineError)]
    assert [e.code for e in errors] == ["bad_samples"]
    assert any(isinstance(e, ev.TranscriptEvent) and e.is_final for e in got)


def test_a_failing_decode_is_reported_and_the_call_continues(
    settings: Settings, whisper_model
) -> None:  # type: ignore[no-untyped-def]
    async def main() -> list[ev.Event]:
        engine = await start(settings, whisper_model)
        real = engine.decoder
        failures = {"left": 1}

        def flaky(req: DecodeRequest) -> Hypothesis:
            if req.kind == "final" and failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("injected model failure")
            return real.decode(req.audio, words=req.kind == "final")

        await engine.pool.close()
        engine.pool = DecodePool(flaky, workers=1, max_queue_s=6.0)
        engine.pool.start()
        got: list[ev.Event] = []
        session = engine.open_call(agent_id="a1", source="test", sink=got.append)
        await feed_legs(session, load_legs(DATA / "two_utterances_en.flac"))
        await engine.close()
        return got

    got = run(main())
    errors = [e for e in got if isinstance(e, ev.PipelineError)]
    assert len(errors) == 1 and errors[0].code == "decode_failed"
    assert "injected" in errors[0].message
    finals = [e for e in got if isinstance(e, ev.TranscriptEvent) and e.is_final]
    assert len(finals) == 1 and "account" in finals[0].text.lower()  # the second utterance survived
    assert isinstance(got[-1], ev.CallEnded)


def test_overload_sheds_partials_keeps_finals_and_refuses_new_calls(
    settings: Settings, whisper_model
) -> None:  # type: ignore[no-untyped-def]
    async def main() -> tuple[list[ev.Event], Engine, bool]:
        engine = await start(settings, whisper_model)
        real = engine.decoder

        def slow(req: DecodeRequest) -> Hypothesis:
            import time

            time.sleep(0.6)  # a decoder far slower than the audio
            return real.decode(req.audio, words=req.kind == "final")

        await engine.pool.close()
        engine.pool = DecodePool(slow, workers=1, max_queue_s=0.5)
        engine.pool.on_shed = engine._on_shed
        engine.pool.start()
        got: list[ev.Event] = []
        legs = load_legs(DATA / "two_utterances_en.flac")
        for i in range(4):  # each agent's overlay is open: their legs' partials are decoded
            engine.bus.subscribe(agent_id=f"a{i}", maxsize=10_000).shows_agent_partials = True
        sessions = [
            engine.open_call(agent_id=f"a{i}", source="test", sink=got.append) for i in range(4)
        ]
        refused = False

        async def feed(s):  # type: ignore[no-untyped-def]
            for pos in range(0, legs["customer"].size, 1600):
                await s.push_audio("customer", legs["customer"][pos : pos + 1600])
                await asyncio.sleep(0.02)
            await s.end("done")

        tasks = [asyncio.create_task(feed(s)) for s in sessions]
        for _ in range(1200):  # bounded: at most about a minute
            if engine.pool.overloaded() or all(t.done() for t in tasks):
                break
            await asyncio.sleep(0.05)
        if engine.pool.overloaded():
            try:
                engine.open_call(agent_id="late", source="test")
            except OverloadError:
                refused = True
        await asyncio.gather(*tasks)
        await engine.close()
        return got, engine, refused

    got, engine, refused = run(main())
    finals = [e for e in got if isinstance(e, ev.TranscriptEvent) and e.is_final]
    assert len(finals) == 8  # 4 calls x 2 utterances: not one final dropped
    assert engine.pool.stats.partials_shed > 0
    assert any(isinstance(e, ev.Overload) for e in got)
    assert refused


def test_analyze_cli_prints_json_lines_and_stores_the_call(tmp_path: Path) -> None:
    env = {"VOICE_ASSIST_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "voice_assist", "analyze", str(DATA / "call_stereo_en.flac")]
    out = subprocess.run(
        [*cmd, "--json"], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert all("type" in m and m["v"] == 1 for m in lines)
    transcripts = [m for m in lines if m["type"] == "transcript"]
    assert {m["channel"] for m in transcripts} == {"customer", "agent"}
    assert all(
        isinstance(m["is_final"], bool) and m["end_ms"] >= m["start_ms"] for m in transcripts
    )
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=True)
    call_id = plain.stdout.strip().splitlines()[-1]
    listed = subprocess.run(
        [sys.executable, "-m", "voice_assist", "calls", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert call_id in listed.stdout


def test_analyze_cli_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    out = subprocess.run(
        [sys.executable, "-m", "voice_assist", "analyze", str(bad), "--no-store"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "voice-assist: error:" in out.stderr and "Traceback" not in out.stderr


def test_analyze_cli_says_a_mono_file_mixes_both_voices(tmp_path: Path) -> None:
    env = {"VOICE_ASSIST_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "voice_assist", "analyze", str(DATA / "utterance_en.flac")]
    out = subprocess.run(
        [*cmd, "--no-store"], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    assert "is mono: both voices are on the customer leg" in out.stderr
    assert "alerts are not raised (coach.mixed_leg_prompts)" in out.stderr
    env["VOICE_ASSIST_COACH__MIXED_LEG_PROMPTS"] = "true"
    out = subprocess.run(
        [*cmd, "--no-store"], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    assert "alerts are raised (coach.mixed_leg_prompts)" in out.stderr
