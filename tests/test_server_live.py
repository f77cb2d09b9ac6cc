"""The whole server over real sockets: uvicorn, the real engine (Whisper base), a real store.

Audio here is short and quiet (no speech, so few decodes): these tests are about the
protocols, auth, isolation and clean call endings, not about transcription.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from voice_assist.audio import pcm
from voice_assist.config import Settings, load_settings
from voice_assist.server import auth
from voice_assist.server.audiohook import format_duration
from voice_assist.server.local import ServerThread
from voice_assist.store import Store

pytestmark = pytest.mark.model

SECRET = "test-secret-for-the-live-server"
KEY = "test-ingest-key"
BEARER = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("server-data")
    return load_settings(
        env={},
        overrides={
            "server": {
                "secret": SECRET,
                "ingest_keys": [KEY],
                "idle_timeout_s": 3.0,
                "send_timeout_s": 2.0,
                "max_message_bytes": 65536,
            },
            "store": {"data_dir": str(data)},
        },
    )


def token(role: auth.Role, agent_id: str | None = None, ttl_s: int = 600, **kw: Any) -> str:
    return auth.sign_token(SECRET, role=role, agent_id=agent_id, ttl_s=ttl_s, **kw)


def quiet(ms: int, channels: int = 2, rate: int = 16000, seed: int = 0) -> bytes:
    n = rate * ms // 1000
    x = 0.001 * np.random.default_rng(seed).standard_normal(n * channels)
    return pcm.pcm16_encode(x.astype(np.float32))


def start_msg(agent_id: str, **media: Any) -> str:
    fmt = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
    fmt.update(media)
    return json.dumps({"type": "start", "media": fmt, "agent_id": agent_id})


def recv_json(ws: ClientConnection, timeout: float = 15.0) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def recv_until(
    ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Messages until one matches ``pred``; returns it and everything seen before."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        msg = recv_json(ws, max(0.1, deadline - time.monotonic()))
        if pred(msg):
            return msg, seen
        seen.append(msg)


def closed_with(ws: ClientConnection, timeout: float = 15.0) -> tuple[int, str, list[Any]]:
    """Read until the server closes; returns its close code, reason and what came before."""
    before: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            before.append(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, "the server closed without a close frame"
        return exc.rcvd.code, exc.rcvd.reason, before


def stored(store: Store, call_id: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        store.flush()
        call = store.get_call(call_id)
        if call.status != "live" or time.monotonic() > deadline:
            return call
        time.sleep(0.2)


def open_native(
    wsc: Callable[..., ClientConnection], srv: ServerThread, agent_id: str
) -> tuple[ClientConnection, str]:
    ws = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=BEARER)
    ws.send(start_msg(agent_id))
    started = recv_json(ws)
    assert started["type"] == "started", started
    return ws, started["call_id"]


def refused(url: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as info:
        connect(url, **kw)
    response = info.value.response
    return response.status_code, json.loads(response.body or b"{}")


# -- health, pages, tokens -------------------------------------------------------------------
def test_healthz_and_pages(srv: ServerThread) -> None:
    with httpx.Client(base_url=srv.base_url) as http:
        health = http.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        page = http.get("/overlay", params={"token": token("agent", "a1")})
        assert page.status_code == 200 and "Empathy Coach" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert http.get("/supervisor", params={"token": token("supervisor")}).status_code == 200
        assert http.get("/static/overlay.js").status_code == 200

        missing = http.get("/overlay")
        assert missing.status_code == 401 and "Missing token" in missing.text
        wrong_role = http.get("/supervisor", params={"token": token("agent", "a1")})
        assert wrong_role.status_code == 403
        expired = http.get("/overlay", params={"token": token("agent", "a1", now_s=1000)})
        assert expired.status_code == 401 and "expired" in expired.text

        # stored-call routes are mounted and guarded by a supervisor token
        sup = {"Authorization": f"Bearer {token('supervisor')}"}
        assert http.get("/api/calls", headers=sup).status_code == 200
        assert http.get("/api/calls").status_code == 401
        agent_auth = {"Authorization": f"Bearer {token('agent', 'a1')}"}
        assert http.get("/api/calls", headers=agent_auth).status_code == 403

        who = http.get("/v1/whoami", headers={"Authorization": f"Bearer {token('agent', 'a9')}"})
        assert who.json()["agent_id"] == "a9"
        assert http.get("/v1/whoami", params={"token": "x.y"}).status_code == 401


@pytest.mark.parametrize(
    ("path", "tok", "status", "reason"),
    [
        ("/v1/agent", None, 401, "missing token"),
        ("/v1/agent", "garbage", 401, "malformed token"),
        ("/v1/agent", "forged", 401, "bad token signature"),
        ("/v1/agent", "expired", 401, "token expired"),
        ("/v1/agent", "supervisor", 403, "not allowed"),
        ("/v1/supervisor", "agent", 403, "not allowed"),
        ("/v1/supervisor", None, 401, "missing token"),
    ],
)
def test_feeds_refuse_bad_tokens(
    srv: ServerThread, path: str, tok: str | None, status: int, reason: str
) -> None:
    value = {
        None: None,
        "garbage": "garbage",
        "forged": auth.sign_token("not-the-secret", role="supervisor", ttl_s=600),
        "expired": token("agent", "a1", now_s=1000),
        "supervisor": token("supervisor"),
        "agent": token("agent", "a1"),
    }[tok]
    url = f"{srv.ws_url}{path}" + (f"?token={value}" if value else "")
    code, body = refused(url)
    assert code == status
    assert reason in body["error"]
    assert "call" not in json.dumps(body)


@pytest.mark.parametrize(
    ("path", "headers", "query"),
    [
        ("/v1/ingest", {}, ""),
        ("/v1/ingest", {"Authorization": "Bearer wrong"}, ""),
        ("/v1/audiohook", {"X-API-KEY": "wrong"}, ""),
        ("/v1/twilio", {}, "?key=wrong"),
    ],
)
def test_ingress_refuses_bad_keys(
    srv: ServerThread, path: str, headers: dict[str, str], query: str
) -> None:
    code, body = refused(f"{srv.ws_url}{path}{query}", additional_headers=headers)
    assert code == 401
    assert KEY not in json.dumps(body) and "wrong" not in json.dumps(body)


# -- native ingest and the agent feed ------------------------------------------------------------
def test_native_call_reaches_only_its_agent(
    wsc: Callable[..., ClientConnection], srv: ServerThread, store: Store
) -> None:
    mine = wsc(f"{srv.ws_url}/v1/agent?token={token('agent', 'alice')}")
    other = wsc(f"{srv.ws_url}/v1/agent?token={token('agent', 'bob')}")
    for ws, who in ((mine, "alice"), (other, "bob")):
        hello = recv_json(ws)
        assert hello["type"] == "hello" and hello["agent_id"] == who and hello["seq"] == 1
        snap = recv_json(ws)
        assert snap["type"] == "snapshot" and snap["seq"] == 2

    ingest, call_id = open_native(wsc, srv, "alice")
    started, _ = recv_until(mine, lambda m: m["type"] == "call_started")
    assert started["call_id"] == call_id and started["agent_id"] == "alice"
    for i in range(10):
        ingest.send(quiet(100, seed=i))
    ingest.send('{"type": "mark", "name": "m1"}')
    mark = recv_json(ingest)
    assert mark["type"] == "mark" and mark["name"] == "m1" and mark["t_ms"] == 1000
    ingest.send('{"type": "ping", "id": "p"}')
    assert recv_json(ingest)["type"] == "pong"

    # a late joiner sees the live call in its snapshot; bob still sees nothing of it
    late = wsc(f"{srv.ws_url}/v1/agent?token={token('agent', 'alice')}")
    recv_json(late)
    snap = recv_json(late)
    assert [c["call_id"] for c in snap["calls"]] == [call_id]
    late.close()

    ingest.send('{"type": "stop"}')
    stopped = recv_json(ingest, timeout=60)
    assert stopped["type"] == "stopped"
    code, _, _ = closed_with(ingest)
    assert code == 1000
    ended, seen = recv_until(mine, lambda m: m["type"] == "call_ended", timeout=60)
    assert ended["reason"] == "stop"
    seqs = [m["seq"] for m in [started, *seen, ended]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gaps, one per message
    assert all(m["type"] != "prosody" for m in seen)
    assert all(m.get("call_id") in (call_id, None) for m in seen)

    with pytest.raises(TimeoutError):  # bob's feed carried nothing of alice's call
        other.recv(timeout=1.0)
    mine.close()
    other.close()
    assert stored(store, call_id).end_reason == "stop"


def test_bad_input_closes_that_connection_only(
    wsc: Callable[..., ClientConnection], srv: ServerThread, store: Store
) -> None:
    """Protocol errors close one connection with a clear reason; a parallel call goes on."""
    bystander, bystander_id = open_native(wsc, srv, "carol")
    bystander.send(quiet(200))

    cases = [
        ("{not json", 1007, "malformed_json"),
        (b"\0\0\0\0", 1008, "binary_before_start"),
        (start_msg("dave", encoding="opus"), 1003, "unsupported_media"),
        (start_msg("dave", sample_rate=44100), 1003, "unsupported_media"),
    ]
    for first, code, reason in cases:
        ws = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=BEARER)
        ws.send(first)
        got_code, got_reason, before = closed_with(ws)
        assert (got_code, got_reason) == (code, reason)
        error = json.loads(before[-1])
        assert error["type"] == "error" and error["code"] == reason and error["fatal"] is True

    # unknown types are reported and the connection stays usable
    ws = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=BEARER)
    ws.send('{"type": "dance"}')
    assert recv_json(ws)["code"] == "unknown_type"
    ws.send(start_msg("dave"))
    started = recv_json(ws)
    assert started["type"] == "started"
    ws.send(quiet(100))
    ws.send(b"\1\2\3")  # not a whole stereo frame
    code, reason, before = closed_with(ws, timeout=60)
    assert (code, reason) == (1007, "bad_frame_size")
    assert stored(store, started["call_id"]).end_reason == "protocol_error:bad_frame_size"

    # a message larger than server.max_message_bytes
    ws = wsc(f"{srv.ws_url}/v1/ingest", additional_headers=BEARER, max_size=None)
    ws.send(start_msg("dave"))
    too_big_id = recv_json(ws)["call_id"]
    ws.send(b"\0" * 70000)
    code, _, _ = closed_with(ws, timeout=60)
    assert code == 1009
    assert stored(store, too_big_id).status == "ended"

    # the bystander was never disturbed
    bystander.send(quiet(200, seed=3))
    bystander.send('{"type": "ping"}')
    assert recv_json(bystander)["type"] == "pong"
    bystander.send('{"type": "stop"}')
    assert recv_json(bystander, timeout=60)["type"] == "stopped"
    assert stored(store, bystander_id).end_reason == "stop"


def test_client_vanishing_mid_call_ends_it_cleanly(
    wsc: Callable[..., ClientConnection], srv: ServerThread, store: Store
) -> None:
    ws, call_id = open_native(wsc, srv, "erin")
    for i in range(5):
        ws.send(quiet(100, seed=i))
    ws.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the client just disappears
    ws.socket.close()
    call = stored(store, call_id, timeout=60)
    assert call.status == "ended" and call.end_reason == "client_gone"


def test_idle_client_is_closed(
    wsc: Callable[..., ClientConnection], srv: ServerThread, store: Store
) -> None:
    ws, call_id = open_native(wsc, srv, "frank")
    code, reason, _ = closed_with(ws, timeout=30)  # idle_timeout_s = 3 in these settings
    assert (code, reason) == (4408, "idle_timeout")
    assert stored(store, call_id).end_reason == "protocol_error:idle_timeout"


def test_prompt_ack_for_someone_elses_call_is_refused(
    wsc: Callable[..., ClientConnection], srv: ServerThread
) -> None:
    ingest, call_id = open_native(wsc, srv, "gina")
    feed = wsc(f"{srv.ws_url}/v1/agent?token={token('agent', 'harry')}")
    recv_until(feed, lambda m: m["type"] == "snapshot")
    feed.send(
        json.dumps(
            {"type": "prompt_ack", "call_id": call_id, "prompt_id": "p1", "action": "followed"}
        )
    )
    error = recv_json(feed)
    assert error["type"] == "error" and error["code"] == "unknown_call"
    assert call_id not in json.dumps(error)
    feed.send(json.dumps({"type": "prompt_ack", "prompt_id": "p1", "action": "eat"}))
    assert recv_json(feed)["code"] == "bad_message"
    feed.send("not json")
    assert recv_json(feed)["code"] == "bad_message"
    feed.close()
    ingest.send('{"type": "stop"}')
    assert recv_json(ingest, timeout=60)["type"] == "stopped"


# -- supervisor feed -------------------------------------------------------------------------
def test_supervisor_subscribe_snapshot_and_deltas(
    wsc: Callable[..., ClientConnection], srv: ServerThread
) -> None:
    ingest, call_id = open_native(wsc, srv, "ivan")
    sup = wsc(f"{srv.ws_url}/v1/supervisor?token={token('supervisor')}")
    assert recv_json(sup)["type"] == "hello"
    sup.send(json.dumps({"type": "subscribe", "calls": "*"}))
    snap, _ = recv_until(sup, lambda m: m["type"] == "snapshot")
    view = next(c for c in snap["calls"] if c["call_id"] == call_id)
    assert view["agent_id"] == "ivan" and view["level"] in ("calm", "elevated", "high")
    sup.send(json.dumps({"type": "focus", "call_id": call_id}))
    detail, _ = recv_until(sup, lambda m: m["type"] == "call_detail")
    assert detail["live"] is True and detail["call"]["call_id"] == call_id

    for i in range(25):  # 2.5 s: at least one metrics message (every 1 s of media)
        ingest.send(quiet(100, seed=i))
    metrics, _ = recv_until(sup, lambda m: m["type"] == "metrics" and m["call_id"] == call_id)
    assert 0.0 <= metrics["distress"] <= 1.0
    ingest.send('{"type": "stop"}')
    ended, seen = recv_until(
        sup, lambda m: m["type"] == "call_ended" and m["call_id"] == call_id, 60
    )
    assert {m["type"] for m in seen} <= {
        "metrics", "distress", "vad", "transcript", "empathy", "episode", "alert",
        "prompt", "prompt_clear", "call_started", "call_ended", "overload", "error",
    }  # fmt: skip
    sup.send(json.dumps({"type": "subscribe", "calls": 7}))
    assert recv_json(sup)["code"] == "bad_message"
    sup.close()


# -- Twilio and AudioHook over the wire ------------------------------------------------------------
def twilio_media(track: str, i: int) -> str:
    payload = pcm.mulaw_encode(
        (0.001 * np.random.default_rng(i).standard_normal(160)).astype(np.float32)
    )
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(i + 2),
            "media": {"track": track, "chunk": str(i), "timestamp": str(i * 20),
                      "payload": base64.b64encode(payload).decode()},
            "streamSid": "MZ1",
        }
    )  # fmt: skip


def twilio_start(**params: str) -> str:
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    start = {
        "streamSid": "MZ1",
        "callSid": "CA1",
        "tracks": ["inbound", "outbound"],
        "customParameters": params,
        "mediaFormat": fmt,
    }
    return json.dumps({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": "MZ1"})


def test_twilio_key_in_custom_parameters(
    wsc: Callable[..., ClientConnection], srv: ServerThread, store: Store
) -> None:
    feed = wsc(f"{srv.ws_url}/v1/agent?token={token('agent', 'tw-agent')}")
    recv_until(feed, lambda m: m["type"] == "snapshot")
    ws = wsc(f"{srv.ws_url}/v1/twilio")
    ws.send('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
    ws.send(twilio_start(agent_id="tw-agent", api_key=KEY))
    started, _ = recv_until(feed, lambda m: m["type"] == "call_started")
    assert started["source"] == "twilio"
    assert KEY not in json.dumps(started)  # the key never reaches the call's metadata
    for i in range(50):
        ws.send(twilio_media("inbound", i))
        ws.send(twilio_media("outbound", i))
    ws.send('{"event": "stop", "stop": {}}')
    code, _, _ = closed_with(ws, timeout=60)
    assert code == 1000
    call = stored(store, started["call_id"])
    assert call.end_reason == "stop" and KEY not in json.dumps(call.meta)
    feed.close()


def test_twilio_without_any_key_is_closed_unauthorized(
    wsc: Callable[..., ClientConnection], srv: ServerThread
) -> None:
    ws = wsc(f"{srv.ws_url}/v1/twilio")
    ws.send(twilio_start(agent_id="tw-agent"))
    code, reason, _ = closed_with(ws)
    assert code == 4401 and reason.startswith("unauthorized")


def test_audiohook_session(
    wsc: Callable[..., ClientConnection], srv: ServerThread, store: Store
) -> None:
    ws = wsc(f"{srv.ws_url}/v1/audiohook", additional_headers={"X-API-KEY": KEY})
    sid = "e160e428-53e2-487c-977d-96989bf5c99d"
    seq = 0

    def msg(kind: str, position_ms: int, serverseq: int, **params: Any) -> str:
        nonlocal seq
        seq += 1
        return json.dumps({"version": "2", "id": sid, "type": kind, "seq": seq,
                           "serverseq": serverseq, "position": format_duration(position_ms),
                           "parameters": params})  # fmt: skip

    ws.send(msg("open", 0, 0, organizationId="o", conversationId="c",
                participant={"id": "p", "ani": "+1", "aniName": "", "dnis": "+2"},
                media=[{"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                        "rate": 8000}],
                customConfig={"agent_id": "ah-agent"}, language="en-US"))  # fmt: skip
    opened = recv_json(ws)
    assert opened["type"] == "opened" and opened["seq"] == 1 and opened["clientseq"] == 1
    frame = pcm.mulaw_encode(
        (0.001 * np.random.default_rng(0).standard_normal(320)).astype(np.float32)
    )
    for _ in range(50):
        ws.send(frame)  # 20 ms stereo frames
    ws.send(msg("ping", 1000, 1))
    pong = recv_json(ws)
    assert pong["type"] == "pong" and pong["seq"] == 2 and pong["clientseq"] == 2
    ws.send(msg("close", 1000, 2, reason="end"))
    closed = recv_json(ws, timeout=60)
    assert closed["type"] == "closed" and closed["clientseq"] == 3
    code, _, _ = closed_with(ws)
    assert code == 1000
    calls = store.list_calls(agent_id="ah-agent")
    assert calls.calls and stored(store, calls.calls[0].call_id).end_reason == "close:end"


def test_audiohook_bad_sequence_gets_disconnect(
    wsc: Callable[..., ClientConnection], srv: ServerThread
) -> None:
    ws = wsc(f"{srv.ws_url}/v1/audiohook", additional_headers={"X-API-KEY": KEY})
    ws.send(json.dumps({"version": "2", "id": "s", "type": "ping", "seq": 5, "serverseq": 0,
                        "position": "PT0S", "parameters": {}}))  # fmt: skip
    disconnect = recv_json(ws)
    assert disconnect["type"] == "disconnect" and disconnect["parameters"]["reason"] == "error"
    assert "bad_sequence" in disconnect["parameters"]["info"]
    ws.close()
