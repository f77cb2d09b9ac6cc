"""A one-machine site over real processes: ``serve --workers 2`` (two worker processes on
one SO_REUSEPORT media port, a gateway), a redis-server started here and a shared SQLite
store.  Calls go to the workers; the overlay and the wall board connect to the gateway.

One scenario, in order: both workers carry a call; the wall board sees both and the
overlay only its agent's; junk written to the streams is ignored; an ack sent to the
gateway reaches the worker and is stored; ``kill -9`` of one worker ends its call on the
wall board (``worker_lost``) within 5 s and marks it interrupted in the store, while the
other call goes on and ends normally with the wall board's events equal to the stored
ones (in order, none twice).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from voice_assist.audio import pcm
from voice_assist.cluster.site import RedisServer, free_port
from voice_assist.config import load_settings
from voice_assist.server import auth
from voice_assist.store import Store

pytestmark = pytest.mark.model

SECRET = "cluster-test-secret"
KEY = "cluster-test-key"
DATA = Path(__file__).parent / "data"
HOP_S = 0.1


class Site:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port, self.media_port = free_port(), free_port()
        self.env = dict(
            os.environ,
            VOICE_ASSIST_SECRET=SECRET,
            VOICE_ASSIST_INGEST_KEYS=KEY,
            VOICE_ASSIST_DATA_DIR=str(root / "data"),
        )
        self.redis = RedisServer(root=root)
        self.redis.start()
        self.env["VOICE_ASSIST_REDIS_URL"] = self.redis.url
        self.log = (root / "site.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voice_assist", "serve", "--workers", "2",
             "--port", str(self.port), "--media-port", str(self.media_port)],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}"

    def health(self) -> tuple[int, dict[str, Any]]:
        r = httpx.get(f"{self.base}/healthz", timeout=5)
        return r.status_code, r.json()

    def wait_ready(self, timeout_s: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.root / "site.log").read_text()[-3000:]
            try:
                code, body = self.health()
                if code == 200 and len(body["workers"]) == 2:
                    return body
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError("site not ready: " + (self.root / "site.log").read_text()[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        self.redis.stop()

    def junk(self, worker_ids: list[str]) -> None:
        """Foreign and malformed entries on the call-event stream and the control streams."""
        import redis

        client = redis.Redis.from_url(self.redis.url)
        try:
            for stream in ["va:sup"] + [f"va:ctl:{w}" for w in worker_ids]:
                client.xadd(stream, {"kind": "someone-else", "x": "1"})
                client.xadd(stream, {"kind": "voice_assist/1", "event": "{", "type": "prompt_ack"})
                client.xadd(stream, {"kind": "voice_assist/1", "type": "prompt_ack"})
                client.xadd(stream, {"kind": b"\xff\xfe", "type": b"\xff"})
            client.hset("va:live", "junk-call", "{not json")
        finally:
            client.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("site"))
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()


def token(role: auth.Role, agent_id: str | None = None) -> str:
    return auth.sign_token(SECRET, role=role, agent_id=agent_id, ttl_s=600)


class Reader:
    """Every message of a feed, read in a thread, with its arrival time."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            while True:
                msg = json.loads(self.ws.recv())
                msg["_at"] = time.monotonic()
                self.messages.append(msg)
        except Exception:
            return

    def wait_for(self, pred: Any, timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for m in list(self.messages):
                if pred(m):
                    return m
            time.sleep(0.05)
        raise AssertionError(f"not seen in {timeout_s} s: {[m['type'] for m in self.messages]}")


def speech_chunks() -> list[bytes]:
    x, sr = sf.read(DATA / "utterance_en.flac", dtype="float32")
    assert sr == 16000
    mono = x if x.ndim == 1 else x[:, 0]
    stereo = np.stack([mono, np.zeros_like(mono)], 1)
    hop = int(sr * HOP_S)
    return [pcm.pcm16_encode(stereo[i : i + hop].reshape(-1)) for i in range(0, len(mono), hop)]


SILENCE = pcm.pcm16_encode(np.zeros(3200, np.float32))


def open_call(site: Site, agent_id: str) -> tuple[ClientConnection, str]:
    ws = connect(
        f"ws://127.0.0.1:{site.media_port}/v1/ingest",
        additional_headers={"Authorization": f"Bearer {KEY}"},
    )
    media = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
    ws.send(json.dumps({"type": "start", "media": media, "agent_id": agent_id}))
    started = json.loads(ws.recv(timeout=15))
    assert started["type"] == "started", started
    return ws, started["call_id"]


def live_by_pid(site: Site) -> dict[int, int]:
    _code, body = site.health()
    return {w["pid"]: w["live_calls"] for w in body["workers"].values()}


def test_gateway_refuses_media_and_bad_tokens(site: Site) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{site.port}/v1/ingest")
    assert info.value.response.status_code == 421
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{site.port}/v1/supervisor?token=junk")
    assert info.value.response.status_code == 401


def test_two_workers_one_wall_board_and_a_lost_worker(site: Site) -> None:
    sup_ws = connect(f"ws://127.0.0.1:{site.port}/v1/supervisor?token={token('supervisor')}")
    sup_ws.send(json.dumps({"type": "subscribe", "calls": "*"}))
    sup = Reader(sup_ws)
    overlay = Reader(connect(f"ws://127.0.0.1:{site.port}/v1/agent?token={token('agent', 'a1')}"))
    sup.wait_for(lambda m: m["type"] == "snapshot")

    # open calls until each worker carries one (the kernel spreads connections by hash);
    # the spare ones stay open, idle, so that the per-worker counts stay readable
    calls: dict[int, tuple[ClientConnection, str]] = {}
    spare: list[ClientConnection] = []
    for _ in range(16):
        before = live_by_pid(site)
        ws, call_id = open_call(site, "a1" if not calls else "a2")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            grown = [p for p, n in live_by_pid(site).items() if n > before.get(p, 0)]
            if grown:
                break
            time.sleep(0.1)
        assert grown, "no worker reported the new call"
        if grown[0] in calls:
            spare.append(ws)
        else:
            calls[grown[0]] = (ws, call_id)
        if len(calls) == 2:
            break
    assert len(calls) == 2, f"both workers should take calls: {calls}"
    (pid_a, (ws_a, call_a)), (pid_b, (ws_b, call_b)) = calls.items()

    for chunk in speech_chunks() + [SILENCE] * 15:
        ws_a.send(chunk)
        ws_b.send(chunk)
        time.sleep(HOP_S)

    started = {m["call_id"] for m in sup.messages if m["type"] == "call_started"}
    assert {call_a, call_b} <= started
    assert all(n >= 1 for n in live_by_pid(site).values())
    a1_call = next(c for c in (call_a, call_b) if _agent_of(sup, c) == "a1")
    other = call_b if a1_call == call_a else call_a
    final = overlay.wait_for(
        lambda m: m["type"] == "transcript" and m["is_final"] and m["call_id"] == a1_call
    )
    assert "waiting" in final["text"].lower()
    assert not [m for m in overlay.messages if m.get("call_id") == other]

    # junk on the streams (a foreign producer, a broken one) harms no call or process
    _code, body = site.health()
    site.junk(list(body["workers"]))
    overlay.ws.send(
        json.dumps(
            {"type": "prompt_ack", "call_id": a1_call, "prompt_id": "p-cluster", "action": "shown"}
        )
    )
    overlay.wait_for(lambda m: m["type"] == "prompt_ack" and m["prompt_id"] == "p-cluster", 5)

    # kill -9 the worker of the other call; the a1 call goes on
    victim_pid = pid_b if other == call_b else pid_a
    ws_lost = ws_b if other == call_b else ws_a
    ws_live = ws_a if other == call_b else ws_b
    killed_at = time.monotonic()
    os.kill(victim_pid, signal.SIGKILL)
    for _ in range(50):
        ws_live.send(SILENCE)
        time.sleep(HOP_S)
    ended = sup.wait_for(lambda m: m["type"] == "call_ended" and m["call_id"] == other, 10)
    assert ended["reason"] == "worker_lost"
    assert ended["_at"] - killed_at <= 5.0
    ws_lost.close()
    for ws in spare:
        ws.close()
    ws_live.send(json.dumps({"type": "stop"}))
    sup.wait_for(lambda m: m["type"] == "call_ended" and m["call_id"] == a1_call, 30)

    settings = load_settings(env={"VOICE_ASSIST_DATA_DIR": str(site.root / "data")})
    store = Store.open(settings)
    try:
        deadline = time.monotonic() + 10
        while store.get_call(other).status == "live" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.get_call(other).status == "interrupted"
        assert store.get_call(a1_call).status == "ended"
        kinds = {"call_started", "transcript", "prompt_ack", "empathy", "call_ended"}
        stored = [
            (m["type"], m["t_ms"])
            for m in store.iter_events(a1_call)
            if m["type"] in kinds and (m["type"] != "transcript" or m["is_final"])
        ]
    finally:
        store.close()
    seen = [
        (m["type"], m["t_ms"])
        for m in sup.messages
        if m.get("call_id") == a1_call and m["type"] in kinds - {"prompt_ack"}
    ]
    assert seen == [s for s in stored if s[0] != "prompt_ack"]
    assert (
        "prompt_ack",
        next(m["t_ms"] for m in overlay.messages if m["type"] == "prompt_ack"),
    ) in stored


def _agent_of(sup: Reader, call_id: str) -> str:
    m = sup.wait_for(lambda m: m["type"] == "call_started" and m["call_id"] == call_id)
    return str(m["agent_id"])
