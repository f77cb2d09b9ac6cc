"""``voice-assist demo``: a fresh secret and key, the page URLs, the call streamed and ended."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from voice_assist.config import PROJECT_ROOT
from voice_assist.server import auth
from voice_assist.server.ingest_client import DEMO_CALL_WAV, load_demo_call

pytestmark = pytest.mark.model


def test_bundled_demo_call() -> None:
    call = load_demo_call()
    assert DEMO_CALL_WAV.stat().st_size < 2.5 * 1024 * 1024
    assert call.audio.shape[1] == 2 and call.rate_hz == 8000
    assert 40_000 <= call.duration_ms <= 80_000
    labels = [u["label"] for u in call.utterances]
    assert "distressed" in labels and "stock_reply" in labels and "acknowledgement" in labels
    stock = next(u for u in call.utterances if u["label"] == "stock_reply")
    assert stock["channel"] == "agent" and stock["text"].lower().startswith("fantastic")

    # the customer is louder when distressed than when calm
    def rms(u: dict[str, int]) -> float:
        seg = call.audio[u["start_ms"] * 8 : u["end_ms"] * 8, 0]
        return float((seg**2).mean() ** 0.5)

    calm = [rms(u) for u in call.utterances if u["label"] == "calm"]
    upset = [rms(u) for u in call.utterances if u["label"] == "distressed"]
    assert min(upset) > 2 * max(calm)


def run_demo() -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_ASSIST_")}
    done = subprocess.run(
        [sys.executable, "-m", "voice_assist", "demo", "--port", "0", "--wait-s", "0",
         "--exit", "--no-store", "--duration-s", "3"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_demo_prints_working_urls_with_a_fresh_secret() -> None:
    out = run_demo()
    secret = re.search(r"Secret for this run \(VOICE_ASSIST_SECRET\): (\S+)", out)
    assert secret is not None
    assert out.count(secret.group(1)) == 1  # printed once, nowhere else
    overlay = re.search(r"Agent overlay : (http://127\.0\.0\.1:\d+/overlay\?token=(\S+))", out)
    board = re.search(r"Wall board    : (http://127\.0\.0\.1:\d+/supervisor\?token=(\S+))", out)
    assert overlay and board
    assert (
        auth.verify_token(secret.group(1), overlay.group(2), role="agent").agent_id == "demo-agent"
    )
    auth.verify_token(secret.group(1), board.group(2), role="supervisor")
    assert re.search(r"Call \S+ ended\.", out)
    # a second run gets another secret: there is no fixed default
    again = re.search(r"Secret for this run \(VOICE_ASSIST_SECRET\): (\S+)", run_demo())
    assert again is not None and again.group(1) != secret.group(1)
