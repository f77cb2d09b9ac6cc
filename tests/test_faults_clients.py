"""Misbehaving clients against the real server (uvicorn, the real engine, a real store).

- A caller that vanishes mid-call with a TCP reset (no close frame) on each ingress:
  the call is ended and stored as ``client_gone``; its connection, per-key count and
  bus subscriptions are given back.
- An overlay that vanishes the same way: the call goes on untouched.
- An overlay or wall board that stops reading (a tiny receive window, requests keep
  coming): the server's send side fills, the feed is dropped as too slow, nothing of it
  is kept, and a call running alongside never notices.

Clients here are raw sockets (``rawws.RawWebSocket``) so the tests decide what happens
on the wire.  Audio is quiet line noise: these tests are about connections, not ASR.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import numpy as np
import pytest
from conftest import wait_for
from rawws import RawWebSocket
from websockets.sync.client import connect

from voice_assist.audio import pcm
from voice_assist.config import Settings, load_settings
from voice_assist.server import auth
from voice_assist.server.local import ServerThread
from voice_assist.store import Store

pytestmark = pytest.mark.model

SECRET = "fault-test-secret"
KEY = "fault-test-ingest-key"
BEARER = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        env={},
        overrides={
            "server": {
                "secret": SECRET,
                "ingest_keys": [KEY],
                "idle_timeout_s": 20.0,
                "send_timeout_s": 1.0,
                "send_queue_max": 64,
            },
            "store": {"data_dir": str(tmp_path_factory.mktemp("fault-data"))},
        },
    )


def token(role: auth.Role, agent_id: str | None = None) -> str:
    return auth.sign_token(SECRET, role=role, agent_id=agent_id, ttl_s=600)


def quiet(ms: int, *, channels: int = 2, rate: int = 16000, seed: int = 0) -> np.ndarray:
    n = rate * ms // 1000
    return (0.001 * np.random.default_rng(seed).standard_normal(n * channels)).astype(np.float32)


def server_state(srv: ServerThread) -> dict[str, Any]:
    """Connection and subscription counts, read on the server's own loop."""

    async def read() -> dict[str, Any]:
        engine = srv.ctx.engine
        assert engine is not None
        return {
            "ingest": srv.ctx.ingest_connections,
            "feeds": srv.ctx.feed_connections,
            "per_key": dict(srv.ctx.connections_per_key),
            "subscribers": engine.bus.subscriber_count,
            "live": {c.agent_id: c.call_id for c in engine.bus.live_calls()},
        }

    return dict(srv.run(read()))


def stored(store: Store, call_id: str, timeout_s: float = 30.0) -> Any:
    def settled() -> Any:
        store.flush()
        call = store.get_call(call_id)
        return call if call.status != "live" else None

    return wait_for(settled, timeout_s) or store.get_call(call_id)


def back_to(srv: ServerThread, baseline: dict[str, Any]) -> dict[str, Any]:
    keys = ("ingest", "feeds", "per_key", "subscribers")

    def same() -> dict[str, Any] | None:
        now = server_state(srv)
        return now if all(now[k] == baseline[k] for k in keys) else None

    return wait_for(same) or server_state(srv)


# -- a caller vanishes ---------------------------------------------------------------------
def _native_call(srv: ServerThread, agent: str) -> tuple[RawWebSocket, str]:
    ws = RawWebSocket(f"{srv.ws_url}/v1/ingest", headers=BEARER)
    fmt = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
    ws.send_json({"type": "start", "media": fmt, "agent_id": agent})
    started = ws.recv_json()
    assert started["type"] == "started", started
    for i in range(5):
        ws.send_bytes(pcm.pcm16_encode(quiet(100, seed=i)))
    ws.send_json({"type": "mark", "name": "sent"})  # answered once the audio is in
    assert ws.recv_json()["type"] == "mark"
    return ws, started["call_id"]


def _twilio_call(srv: ServerThread, agent: str) -> tuple[RawWebSocket, str]:
    ws = RawWebSocket(f"{srv.ws_url}/v1/twilio")
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    params = {"agent_id": agent, "api_key": KEY}
    start = {"streamSid": "MZ9", "callSid": "CA9", "tracks": ["inbound", "outbound"],
             "mediaFormat": fmt, "customParameters": params}  # fmt: skip
    ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    ws.send_json({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": "MZ9"})
    for i in range(25):
        payload = base64.b64encode(pcm.mulaw_encode(quiet(20, channels=1, rate=8000, seed=i)))
        for track in ("inbound", "outbound"):
            media = {"track": track, "chunk": str(i), "timestamp": str(20 * i),
                     "payload": payload.decode()}  # fmt: skip
            ws.send_json({"event": "media", "media": media, "streamSid": "MZ9"})
    call_id = wait_for(lambda: server_state(srv)["live"].get(agent))
    assert call_id, "the Twilio call never went live"
    return ws, call_id


def _audiohook_call(srv: ServerThread, agent: str) -> tuple[RawWebSocket, str]:
    ws = RawWebSocket(f"{srv.ws_url}/v1/audiohook", headers={"X-API-KEY": KEY})
    offer = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
    envelope = {"version": "2", "id": "9e1b8a4c-0000-4000-8000-000000000001"}
    params = {"media": [offer], "customConfig": {"agent_id": agent}}
    ws.send_json({**envelope, "type": "open", "seq": 1, "serverseq": 0, "position": "PT0S",
                  "parameters": params})  # fmt: skip
    opened = ws.recv_json()
    assert opened["type"] == "opened", opened
    for i in range(25):
        ws.send_bytes(pcm.mulaw_encode(quiet(20, rate=8000, seed=i)))
    ws.send_json({**envelope, "type": "ping", "seq": 2, "serverseq": 1, "position": "PT0.5S",
                  "parameters": {}})  # fmt: skip
    assert ws.recv_json()["type"] == "pong"
    call_id = server_state(srv)["live"][agent]
    return ws, call_id


@pytest.mark.parametrize("ingress", ["native", "twilio", "audiohook"])
def test_caller_reset_mid_call_ends_and_stores_the_call_and_frees_everything(
    srv: ServerThread, store: Store, ingress: str
) -> None:
    baseline = server_state(srv)
    agent = f"reset-{ingress}"
    opener = {"native": _native_call, "twilio": _twilio_call, "audiohook": _audiohook_call}
    ws, call_id = opener[ingress](srv, agent)
    during = server_state(srv)
    assert during["ingest"] == baseline["ingest"] + 1
    assert sum(during["per_key"].values()) == sum(baseline["per_key"].values()) + 1

    ws.reset()  # RST: no close frame, no goodbye of the protocol

    call = stored(store, call_id)
    assert call.status == "ended" and call.end_reason == "client_gone"
    after = back_to(srv, baseline)
    assert after["ingest"] == baseline["ingest"] and after["per_key"] == baseline["per_key"]
    assert after["subscribers"] == baseline["subscribers"]  # AudioHook's event feed too
    assert agent not in after["live"]


# -- an overlay vanishes ----------------------------------------------------------------------
def test_overlay_reset_leaves_the_call_running(srv: ServerThread, store: Store) -> None:
    baseline = server_state(srv)
    overlay = RawWebSocket(f"{srv.ws_url}/v1/agent?token={token('agent', 'olivia')}")
    assert overlay.recv_json()["type"] == "hello"
    assert overlay.recv_json()["type"] == "snapshot"
    with connect(f"{srv.ws_url}/v1/ingest", additional_headers=BEARER) as call:
        fmt = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
        call.send(json.dumps({"type": "start", "media": fmt, "agent_id": "olivia"}))
        call_id = json.loads(call.recv(timeout=15))["call_id"]
        while overlay.recv_json()["type"] != "call_started":
            pass
        overlay.reset()
        wait_for(lambda: server_state(srv)["feeds"] == baseline["feeds"])
        for i in range(10):  # the call goes on as if nothing happened
            call.send(pcm.pcm16_encode(quiet(100, seed=i)))
        call.send('{"type": "ping", "id": 1}')
        assert json.loads(call.recv(timeout=15))["type"] == "pong"
        call.send('{"type": "stop"}')
        assert json.loads(call.recv(timeout=60))["type"] == "stopped"
    assert stored(store, call_id).end_reason == "stop"
    after = back_to(srv, baseline)
    assert after["feeds"] == baseline["feeds"]
    assert after["subscribers"] == baseline["subscribers"]


# -- a consumer stops reading -----------------------------------------------------------------
@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_feed_that_stops_reading_is_dropped_and_the_call_goes_on(
    srv: ServerThread, store: Store, role: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="voice_assist.server.outbox")
    baseline = server_state(srv)
    agent = f"busy-{role}"
    with connect(f"{srv.ws_url}/v1/ingest", additional_headers=BEARER) as call:
        fmt = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
        call.send(json.dumps({"type": "start", "media": fmt, "agent_id": agent}))
        call_id = json.loads(call.recv(timeout=15))["call_id"]
        tok = token("agent", agent) if role == "agent" else token("supervisor")
        # a 4 KiB receive window that is never drained: every reply stays on the server
        stalled = RawWebSocket(f"{srv.ws_url}/v1/{role}?token={tok}", rcvbuf=4096, timeout_s=5)
        if role == "supervisor":
            stalled.send_json({"type": "subscribe", "calls": "*"})
        sent = 0
        try:
            for _ in range(20_000):  # each asks for a snapshot (a few hundred bytes to KiBs)
                stalled.send_json({"type": "snapshot"})
                sent += 1
        except OSError:
            pass  # the server dropped us while we were still asking
        dropped = wait_for(lambda: server_state(srv)["feeds"] == baseline["feeds"])
        assert dropped, f"the stalled {role} feed was never dropped ({sent} requests sent)"
        for i in range(10):  # meanwhile the call went on at full speed
            call.send(pcm.pcm16_encode(quiet(100, seed=i)))
        call.send('{"type": "ping", "id": 2}')
        assert json.loads(call.recv(timeout=15))["type"] == "pong"
        call.send('{"type": "stop"}')
        assert json.loads(call.recv(timeout=60))["type"] == "stopped"
        stalled.close()
    assert stored(store, call_id).end_reason == "stop"
    after = back_to(srv, baseline)
    assert after["subscribers"] == baseline["subscribers"]  # nothing of the feed was kept
    drops = [r.getMessage() for r in caplog.records if "dropping" in r.getMessage()]
    assert drops, "the outbox never said it dropped the client"
