"""Every limit has a config value and is enforced on the wire (real server, real engine).

- message size, any endpoint: ``server.max_message_bytes`` -> close 1009;
- call length: ``server.max_call_s`` -> ``error`` + close 1008 ``max_duration``;
- connections per ingest key: ``server.max_connections_per_key`` -> HTTP 429 at the
  handshake (header or query key), close 4429 for a key in Twilio's start message;
- an ingress connection silent too long: ``server.idle_timeout_s`` -> close 4408
  (AudioHook: ``disconnect`` with the reason, then a close);
- an ingress connection that starts no call: ``server.start_timeout_s`` -> close 4408;
- a peer that stops answering keepalive pings (any websocket):
  ``server.ws_ping_interval_s`` + ``server.ws_ping_timeout_s`` -> dropped;
- live calls: ``server.max_calls`` (and the measured ``asr.admit_*`` rule) -> native
  ``error`` + close 1013, Twilio close 1013, AudioHook ``disconnect`` (error), each
  with the reason.

Timeouts here are configured short; the tests wait for their effect (bounded), they do
not time it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import wait_for
from rawws import RawWebSocket
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from voice_assist.audio import pcm
from voice_assist.config import Settings, load_settings
from voice_assist.server import auth
from voice_assist.server.local import ServerThread
from voice_assist.store import Store

pytestmark = pytest.mark.model

SECRET = "limits-secret"
KEYS = ("limits-key-1", "limits-key-2", "limits-key-3")
FMT = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}


@pytest.fixture(scope="module")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        env={},
        overrides={
            "server": {
                "secret": SECRET,
                "ingest_keys": list(KEYS),
                "max_message_bytes": 8192,
                "max_call_s": 1,
                "max_connections_per_key": 2,
                "max_calls": 3,
                "idle_timeout_s": 3.0,
                "start_timeout_s": 1.0,
                "ws_ping_interval_s": 0.5,
                "ws_ping_timeout_s": 0.5,
            },
            "store": {"data_dir": str(tmp_path_factory.mktemp("limits-data"))},
        },
    )


def bearer(key: str = KEYS[0]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def quiet(ms: int, seed: int = 0) -> bytes:
    x = 0.001 * np.random.default_rng(seed).standard_normal(16 * ms * 2)
    return pcm.pcm16_encode(x.astype(np.float32))


def start(ws: ClientConnection, agent: str = "lim") -> dict[str, Any]:
    ws.send(json.dumps({"type": "start", "media": FMT, "agent_id": agent}))
    return dict(json.loads(ws.recv(timeout=15)))


def closed_with(ws: ClientConnection, timeout_s: float = 20.0) -> tuple[int, str, list[Any]]:
    before: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            before.append(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, "closed without a close frame"
        return exc.rcvd.code, exc.rcvd.reason, before


def server_state(srv: ServerThread) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        engine = srv.ctx.engine
        assert engine is not None
        return {
            "ingest": srv.ctx.ingest_connections,
            "feeds": srv.ctx.feed_connections,
            "per_key": dict(srv.ctx.connections_per_key),
            "live": len(engine.sessions),
            "refused": engine.calls_refused,
        }

    return dict(srv.run(read()))


def stored_reason(store: Store, call_id: str) -> str | None:
    def ended() -> str | None:
        store.flush()
        call = store.get_call(call_id)
        return call.end_reason if call.status != "live" else None

    return wait_for(ended)


# -- message size ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_message_over_max_message_bytes_closes_ingress_1009(
    wsc: Callable[..., ClientConnection], srv: ServerThread, kind: str
) -> None:
    ws = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=bearer(), max_size=None)
    assert start(ws)["type"] == "started"
    ws.send("x" * 9000 if kind == "text" else b"\0" * 9000)
    code, _, _ = closed_with(ws)
    assert code == 1009


def test_message_over_max_message_bytes_closes_a_feed_1009(
    wsc: Callable[..., ClientConnection], srv: ServerThread
) -> None:
    tok = auth.sign_token(SECRET, role="supervisor", ttl_s=600)
    ws = wsc(f"{srv.ws_url}/v1/supervisor?token={tok}", max_size=None)
    assert json.loads(ws.recv(timeout=15))["type"] == "hello"
    ws.send(json.dumps({"type": "ping", "id": "y" * 9000}))
    code, _, _ = closed_with(ws)
    assert code == 1009


# -- call length ----------------------------------------------------------------------------------
def test_call_longer_than_max_call_s_is_ended_1008(
    wsc: Callable[..., ClientConnection], srv: ServerThread, store: Store
) -> None:
    ws = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=bearer())
    call_id = start(ws)["call_id"]
    for i in range(12):  # 1.2 s of media: past max_call_s = 1
        ws.send(quiet(100, seed=i))
    code, reason, before = closed_with(ws)
    assert (code, reason) == (1008, "max_duration")
    error = json.loads(before[-1])
    assert error["code"] == "max_duration" and "server.max_call_s=1" in error["message"]
    assert stored_reason(store, call_id) == "protocol_error:max_duration"


# -- connections per key --------------------------------------------------------------------------
def test_connections_per_key_header_query_and_twilio_start(
    wsc: Callable[..., ClientConnection], srv: ServerThread
) -> None:
    wait_for(lambda: server_state(srv)["live"] == 0)
    held = [wsc(f"{srv.ws_url}/v1/ingest", additional_headers=bearer()) for _ in range(2)]
    for i, ws in enumerate(held):
        assert start(ws, f"held-{i}")["type"] == "started"
    assert server_state(srv)["per_key"][auth.key_fingerprint(KEYS[0])] == 2

    with pytest.raises(InvalidStatus) as info:  # a third with the same key, in a header
        connect(f"{srv.ws_url}/v1/ingest", additional_headers=bearer())
    assert info.value.response.status_code == 429
    assert b"too many connections" in (info.value.response.body or b"")
    with pytest.raises(InvalidStatus) as info:  # ... in the query (Twilio's ?key=)
        connect(f"{srv.ws_url}/v1/twilio?key={KEYS[0]}")
    assert info.value.response.status_code == 429

    # ... and in Twilio's start message: the stream is closed 4429 with the reason
    tw = wsc(f"{srv.ws_url}/v1/twilio")
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    params = {"agent_id": "tw", "api_key": KEYS[0]}
    tw.send(json.dumps({"event": "start", "start": {"tracks": ["inbound"], "mediaFormat": fmt,
                                                     "customParameters": params}}))  # fmt: skip
    code, reason, _ = closed_with(tw)
    assert code == 4429 and reason.startswith("too_many_connections")

    other = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=bearer(KEYS[1]))  # another key
    assert start(other, "other")["type"] == "started"
    held[0].send('{"type": "stop"}')  # a slot is free again once a connection ends
    assert json.loads(held[0].recv(timeout=60))["type"] == "stopped"
    wait_for(lambda: server_state(srv)["per_key"].get(auth.key_fingerprint(KEYS[0])) == 1)
    again = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=bearer())
    assert start(again, "again")["type"] == "started"
    for ws in (held[1], other, again):
        ws.send('{"type": "stop"}')
        assert json.loads(ws.recv(timeout=60))["type"] == "stopped"


# -- idle and start timeouts ----------------------------------------------------------------------
def test_audiohook_idle_session_is_disconnected_then_closed(srv: ServerThread) -> None:
    ws = RawWebSocket(f"{srv.ws_url}/v1/audiohook", headers={"X-API-KEY": KEYS[2]})
    offer = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
    params = {"media": [offer], "customConfig": {"agent_id": "idle-ah"}}
    open_msg = {"version": "2", "id": "5a1d", "type": "open", "seq": 1, "serverseq": 0,
                "position": "PT0S", "parameters": params}  # fmt: skip
    ws.send_json(open_msg)
    assert ws.recv_json()["type"] == "opened"
    disconnect = ws.recv_json()  # nothing sent for idle_timeout_s
    assert disconnect["type"] == "disconnect" and disconnect["parameters"]["reason"] == "error"
    assert "idle_timeout" in disconnect["parameters"]["info"]
    with pytest.raises(ConnectionError, match="closed"):
        ws.recv_json()  # and the server closes: an idle client will not say goodbye
    ws.close()


def test_connection_that_never_starts_a_call_is_closed(
    wsc: Callable[..., ClientConnection], srv: ServerThread
) -> None:
    tw = wsc(f"{srv.ws_url}/v1/twilio")  # no key yet: it could only come with a start
    tw.send('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
    code, reason, _ = closed_with(tw)
    assert (code, reason) == (4408, "start_timeout: no call started within 1 s")

    native = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=bearer(KEYS[1]))
    for _ in range(50):  # pings keep it from idling, but no call ever starts
        try:
            native.send('{"type": "ping"}')
            json.loads(native.recv(timeout=5))
        except ConnectionClosed:
            break
        time.sleep(0.1)
    code, reason, _ = closed_with(native)
    assert (code, reason) == (4408, "start_timeout")


def test_unanswered_keepalive_pings_drop_a_feed(srv: ServerThread) -> None:
    baseline = server_state(srv)["feeds"]
    tok = auth.sign_token(SECRET, role="agent", agent_id="mute", ttl_s=600)
    mute = RawWebSocket(f"{srv.ws_url}/v1/agent?token={tok}")  # never answers a ping
    assert mute.recv_json()["type"] == "hello"  # the feed is up ...
    assert wait_for(lambda: server_state(srv)["feeds"] == baseline)  # ... and dropped
    mute.close()


# -- live calls -----------------------------------------------------------------------------------
def test_calls_past_the_limit_are_refused_with_a_reason_on_every_ingress(
    wsc: Callable[..., ClientConnection], srv: ServerThread
) -> None:
    wait_for(lambda: server_state(srv)["live"] == 0)
    refused_before = server_state(srv)["refused"]
    held = []
    for i in range(3):  # server.max_calls = 3
        ws = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=bearer(KEYS[i % 2]))
        assert start(ws, f"held-{i}")["type"] == "started"
        held.append(ws)

    native = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=bearer(KEYS[2]))
    error = start(native, "late-native")
    assert error["type"] == "error" and error["code"] == "overloaded"
    assert "server.max_calls=3" in error["message"]
    code, reason, _ = closed_with(native)
    assert (code, reason) == (1013, "overloaded")

    twilio = wsc(f"{srv.ws_url}/v1/twilio")
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    params = {"agent_id": "late-twilio", "api_key": KEYS[1]}
    twilio.send(json.dumps({"event": "start", "start": {"tracks": ["inbound"], "mediaFormat": fmt,
                                                         "customParameters": params}}))  # fmt: skip
    code, reason, _ = closed_with(twilio)
    assert code == 1013 and reason.startswith("overloaded: not taking new calls")

    hook = RawWebSocket(f"{srv.ws_url}/v1/audiohook", headers={"X-API-KEY": KEYS[2]})
    offer = {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}
    hook.send_json({"version": "2", "id": "f00d", "type": "open", "seq": 1, "serverseq": 0,
                    "position": "PT0S", "parameters": {"media": [offer], "participant": {
                        "id": "late-audiohook"}}})  # fmt: skip
    disconnect = hook.recv_json()
    assert disconnect["type"] == "disconnect" and disconnect["parameters"]["reason"] == "error"
    info = disconnect["parameters"]["info"]
    assert info.startswith("overloaded: ") and "server.max_calls=3" in info
    hook.close()

    assert server_state(srv)["refused"] == refused_before + 3
    for ws in held:  # the admitted calls were never disturbed
        ws.send(quiet(100))
        ws.send('{"type": "stop"}')
        assert json.loads(ws.recv(timeout=60))["type"] == "stopped"
