"""Secrets stay secret: never in the logs, compared in constant time.

- A real ``voice-assist -vv serve`` (debug logging and access logs on) carries calls on
  every ingress, with the key in each place it may travel (Bearer header, ``X-API-KEY``,
  Twilio's ``?key=`` and ``customParameters``), overlays and a wall board with tokens in
  the URL and in a header, the stored-call API, and failed attempts with near-miss keys
  and tokens.  Neither the secret, nor a key, nor a token (nor its signature) appears
  anywhere in what the process wrote.
- Token signatures and ingest keys are compared with :func:`hmac.compare_digest`, every
  configured key each time (observed on the real code path, not by reading it).

The demo's generated secret (printed once, different every run) is covered by
``tests/test_server_demo.py::test_demo_prints_working_urls_with_a_fresh_secret``.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from voice_assist.audio import pcm
from voice_assist.config import PROJECT_ROOT
from voice_assist.errors import AuthError
from voice_assist.server import auth

SECRET = "log-test-secret-Zq81vPkWm3"
KEY = "vak_log-test-ingest-key-Hd72"
OTHER_KEY = "vak_second-key-Ty5x"
NEAR_MISS = KEY[:-1] + "X"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quiet(ms: int, channels: int, rate: int) -> np.ndarray:
    return (0.001 * np.random.default_rng(1).standard_normal(rate * ms // 1000 * channels)).astype(
        np.float32
    )


def _exercise(base: str, ws: str, tokens: dict[str, str]) -> None:
    """A bit of everything, with credentials in every place they may travel."""
    fmt = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
    agent, sup = tokens["agent"], tokens["supervisor"]
    with (
        # unbounded client queues: unread events must not hold up the closing handshake
        connect(f"{ws}/v1/agent?token={agent}", max_queue=None) as overlay,
        connect(
            f"{ws}/v1/supervisor",
            additional_headers={"Authorization": f"Bearer {sup}"},
            max_queue=None,
        ) as board,
    ):
        board.send('{"type": "subscribe", "calls": "*"}')
        with connect(f"{ws}/v1/ingest", additional_headers={"Authorization": f"Bearer {KEY}"}) as c:
            c.send(json.dumps({"type": "start", "media": fmt, "agent_id": "logs",
                               "custom": {"api_key": KEY, "note": "key in custom"}}))  # fmt: skip
            assert json.loads(c.recv(timeout=30))["type"] == "started"
            c.send(pcm.pcm16_encode(_quiet(500, 2, 16000)))
            c.send('{"type": "stop"}')
            assert json.loads(c.recv(timeout=60))["type"] == "stopped"
        payload = base64.b64encode(pcm.mulaw_encode(_quiet(20, 1, 8000))).decode()
        for url, params in ((f"{ws}/v1/twilio?key={KEY}", {"agent_id": "logs"}),
                            (f"{ws}/v1/twilio", {"agent_id": "logs", "api_key": KEY})):  # fmt: skip
            with connect(url) as tw:
                fmtw = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
                start = {"tracks": ["inbound"], "mediaFormat": fmtw, "customParameters": params}
                tw.send(json.dumps({"event": "start", "start": start}))
                for i in range(25):
                    media = {"track": "inbound", "timestamp": str(20 * i), "payload": payload}
                    tw.send(json.dumps({"event": "media", "media": media}))
                tw.send('{"event": "stop"}')
                with pytest.raises(ConnectionClosed):
                    tw.recv(timeout=60)
        with connect(f"{ws}/v1/audiohook", additional_headers={"X-API-KEY": OTHER_KEY}) as ah:
            offer = {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}
            env = {"version": "2", "id": "a0c1", "serverseq": 0}
            ah.send(json.dumps({**env, "type": "open", "seq": 1, "position": "PT0S", "parameters": {
                "media": [offer], "customConfig": {"agent_id": "logs", "key": KEY}}}))  # fmt: skip
            assert json.loads(ah.recv(timeout=30))["type"] == "opened"
            ah.send(pcm.mulaw_encode(_quiet(200, 1, 8000)))
            close = {"type": "close", "seq": 2, "serverseq": 1, "position": "PT0.2S"}
            ah.send(json.dumps({**env, **close, "parameters": {"reason": "end"}}))
            assert json.loads(ah.recv(timeout=60))["type"] == "closed"
        overlay.recv(timeout=15)
        board.recv(timeout=15)
    with httpx.Client(base_url=base) as http:  # REST with the token in the query and a header
        assert http.get("/api/calls", params={"token": sup}).status_code == 200
        assert http.get("/api/calls", headers={"Authorization": f"Bearer {sup}"}).is_success
        assert http.get("/overlay", params={"token": agent}).status_code == 200
        assert http.get("/overlay", params={"token": tokens["forged"]}).status_code == 401
    # failed attempts: near-miss keys and forged tokens are secrets too
    for url, headers in (
        (f"{ws}/v1/ingest", {"Authorization": f"Bearer {NEAR_MISS}"}),
        (f"{ws}/v1/audiohook", {"X-API-KEY": NEAR_MISS}),
        (f"{ws}/v1/twilio?key={NEAR_MISS}", {}),
        (f"{ws}/v1/agent?token={tokens['forged']}", {}),
    ):
        with pytest.raises(InvalidStatus):
            connect(url, additional_headers=headers)


@pytest.mark.model
def test_no_secret_key_or_token_reaches_the_logs(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_ASSIST_")}
    env.update(
        VOICE_ASSIST_SECRET=SECRET,
        VOICE_ASSIST_INGEST_KEYS=f"{KEY},{OTHER_KEY}",
        VOICE_ASSIST_DATA_DIR=str(tmp_path),
    )
    log_path = tmp_path / "server.log"
    tokens = {
        "agent": auth.sign_token(SECRET, role="agent", agent_id="logs", ttl_s=600),
        "supervisor": auth.sign_token(SECRET, role="supervisor", ttl_s=600),
        "forged": auth.sign_token("guess-" + SECRET, role="supervisor", ttl_s=600),
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voice_assist", "-vv", "serve", "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
            deadline = time.monotonic() + 240
            while True:
                assert proc.poll() is None, log_path.read_text()[-2000:]
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline
                time.sleep(0.2)
            _exercise(base, ws, tokens)
        finally:
            proc.terminate()
            proc.wait(60)
    text = log_path.read_text(errors="replace")
    if os.environ.get("VA_KEEP_LOG"):
        Path(os.environ["VA_KEEP_LOG"]).write_text(text)
    assert "WebSocket /v1/agent?token=***" in text  # the access log was on, and redacted
    secrets = {"secret": SECRET, "key": KEY, "other key": OTHER_KEY, "near-miss key": NEAR_MISS}
    for name, value in tokens.items():
        secrets[f"{name} token"] = value
        secrets[f"{name} signature"] = value.split(".")[1]
    leaked = [name for name, value in secrets.items() if value in text]
    assert not leaked, f"in the server's logs: {leaked}"


# -- constant-time comparisons ----------------------------------------------------------------
class Spy:
    """Wraps hmac.compare_digest: records each comparison, returns the real answer."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, bytes]] = []
        self.real = hmac.compare_digest

    def __call__(self, a: bytes, b: bytes) -> bool:
        self.calls.append((a, b))
        return self.real(a, b)


def test_token_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy()
    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    good = auth.sign_token("s3cret", role="supervisor", ttl_s=60)
    payload, signature = good.split(".")
    assert auth.verify_token("s3cret", good).role == "supervisor"
    assert spy.calls[-1][1] == signature.encode()
    forged = payload + "." + signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    with pytest.raises(AuthError, match="bad token signature"):
        auth.verify_token("s3cret", forged)
    assert len(spy.calls) == 2  # every signature check went through compare_digest


def test_every_ingest_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy()
    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    keys = auth.IngestKeys(["k-one", "k-two", "k-three"])
    assert keys.match("k-one") == auth.key_fingerprint("k-one")
    assert len(spy.calls) == 3  # a match does not stop early: timing says nothing of which
    with pytest.raises(AuthError):
        keys.match("k-nope")
    assert len(spy.calls) == 6
    assert all(given in (b"k-one", b"k-nope") for _, given in spy.calls)
