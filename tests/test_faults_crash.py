"""``kill -9`` of the live server mid-call, then a restart on the same data directory.

The server is a real ``voice-assist serve`` process (the real model, a SQLite store in a
temporary data directory, ``store.live_stale_s`` = 1 s so the test need not wait the
default 15 s).  A call streams real speech; once its first final transcript is in the
store the process is killed with SIGKILL.  After the restart every utterance stored
before the kill is still there, the call is marked ``interrupted``, and the server
takes a new call.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import DATA
from websockets.sync.client import connect

from voice_assist.audio import pcm
from voice_assist.config import PROJECT_ROOT, StoreOptions
from voice_assist.store import Store

pytestmark = pytest.mark.model

KEY = "crash-test-ingest-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_ASSIST_")}
        env.update(
            VOICE_ASSIST_SECRET="crash-test-secret",
            VOICE_ASSIST_INGEST_KEYS=KEY,
            VOICE_ASSIST_DATA_DIR=str(data_dir),
            VOICE_ASSIST_STORE__LIVE_STALE_S="1.0",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voice_assist", "serve", "--port", str(self.port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 240
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(30) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _transcript(data_dir: Path, call_id: str) -> list[dict[str, Any]]:
    store = Store.open(StoreOptions(), data_dir=data_dir, recover=False)
    try:
        return store.transcript(call_id, words=False)
    finally:
        store.close()


def _call_status(data_dir: Path, call_id: str) -> Any:
    store = Store.open(StoreOptions(live_stale_s=3600), data_dir=data_dir, recover=False)
    try:
        return store.get_call(call_id)
    finally:
        store.close()


def _stream_until_a_final_is_stored(
    ws: Any, audio: np.ndarray, data_dir: Path, call_id: str
) -> list[dict[str, Any]]:
    """Stream at about 2x real time until the store holds a final of the call (bounded)."""
    step = 1600  # 100 ms
    for i in range(0, audio.shape[0], step):
        ws.send(pcm.pcm16_encode(audio[i : i + step].reshape(-1)))
        time.sleep(0.05)
        if i % (10 * step) == 0 and (stored := _transcript(data_dir, call_id)):
            return stored
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the audio is in; its finals may still be decoding
        ws.send(pcm.pcm16_encode(np.zeros(2 * step, np.float32)))
        time.sleep(0.1)
        if stored := _transcript(data_dir, call_id):
            return stored
    return []


def test_kill_9_mid_call_keeps_stored_utterances_marks_it_interrupted_and_serves_again(
    tmp_path: Path, servers: list[Server]
) -> None:
    audio, rate = sf.read(str(DATA / "call_stereo_en.flac"), dtype="float32", always_2d=True)
    assert rate == 16000
    first = Server(tmp_path)
    servers.append(first)
    fmt = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
    bearer = {"Authorization": f"Bearer {KEY}"}
    with connect(f"{first.ws}/v1/ingest", additional_headers=bearer, close_timeout=2) as ws:
        ws.send(json.dumps({"type": "start", "media": fmt, "agent_id": "k9"}))
        call_id = json.loads(ws.recv(timeout=30))["call_id"]
        before = _stream_until_a_final_is_stored(ws, audio, tmp_path, call_id)
        assert before, "no final transcript was stored before the kill"
        first.kill9()  # mid-call: no stop, no shutdown, no flush
    assert _call_status(tmp_path, call_id).status == "live"  # nobody could say otherwise yet

    second = Server(tmp_path)  # same data directory
    servers.append(second)
    deadline = time.monotonic() + 30
    while _call_status(tmp_path, call_id).status == "live" and time.monotonic() < deadline:
        time.sleep(0.2)
    call = _call_status(tmp_path, call_id)
    assert call.status == "interrupted"
    after = _transcript(tmp_path, call_id)
    kept = {(u["utterance_id"], u["text"]) for u in after}
    assert {(u["utterance_id"], u["text"]) for u in before} <= kept

    # and the restarted server serves: health, a new call start to stop
    assert httpx.get(f"{second.base}/healthz", timeout=10).json()["status"] == "ok"
    with connect(f"{second.ws}/v1/ingest", additional_headers=bearer) as again:
        again.send(json.dumps({"type": "start", "media": fmt, "agent_id": "k9"}))
        assert json.loads(again.recv(timeout=30))["type"] == "started"
        again.send(pcm.pcm16_encode(audio[:1600].reshape(-1)))
        again.send('{"type": "stop"}')
        assert json.loads(again.recv(timeout=60))["type"] == "stopped"
