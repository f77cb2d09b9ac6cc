"""Every HTTP and websocket endpoint against bad credentials, and every path that names a
call against escapes from the data directory (real server, real engine, real store).

Credentials tried on each endpoint: none, an expired token, a token of another role or
another agent, a forged signature (another secret, or a payload edited after signing),
and the ingest key where a token belongs (and the other way round).  Every one is
refused, and no response (body, close reason, websocket message) carries anything of a
call: not a call id, not an agent id, not a word of a transcript.

A live call (agent ``alice``) and a stored call are in place while this runs, so there is
something to leak.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from voice_assist.audio import pcm
from voice_assist.config import Settings, load_settings
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.server import auth
from voice_assist.server.local import ServerThread
from voice_assist.store import Store

pytestmark = pytest.mark.model

SECRET = "security-test-secret-0123456789"
KEY = "security-test-ingest-key"
STORED = "stored-call-7f3a"
CANARY = "CANARY-8d1e-outside-the-api"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("security")
    data = root / "data"
    data.mkdir()
    (root / "canary.txt").write_text(CANARY)  # next to the data directory
    (data / "canary.txt").write_text(CANARY)  # in it, but not a call
    return data


@pytest.fixture(scope="module")
def server_settings(data_dir: Path) -> Settings:
    return load_settings(
        env={},
        overrides={
            "server": {"secret": SECRET, "ingest_keys": [KEY], "idle_timeout_s": 600.0},
            "store": {"data_dir": str(data_dir)},
        },
    )


@pytest.fixture(scope="module")
def store(server_settings: Settings) -> Iterator[Store]:
    s = Store.open(server_settings)
    rec = s.recorder(STORED, agent_id="alice", source="native", backpressure=True)
    synthetic_call(rec, call_id=STORED, duration_s=12, seed=3, agent_id="alice")
    rec.close("hangup")
    s.flush()
    yield s
    s.close()


@pytest.fixture(scope="module")
def live_call(srv: ServerThread) -> Iterator[str]:
    """Alice's live call, streaming quiet audio for the whole module."""
    bearer = {"Authorization": f"Bearer {KEY}"}
    with connect(f"{srv.ws_url}/v1/ingest", additional_headers=bearer) as ws:
        fmt = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
        ws.send(json.dumps({"type": "start", "media": fmt, "agent_id": "alice"}))
        call_id = json.loads(ws.recv(timeout=15))["call_id"]
        ws.send(pcm.pcm16_encode((0.001 * np.ones(3200 * 2)).astype(np.float32)))
        yield call_id
        ws.send('{"type": "stop"}')
        ws.recv(timeout=60)


@pytest.fixture(scope="module")
def secrets_of_calls(store: Store, live_call: str) -> list[str]:
    words = {w for u in store.transcript(STORED) for w in u["text"].split() if len(w) > 6}
    return [STORED, live_call, "alice", *sorted(words)[:8]]


def tok(role: auth.Role, agent_id: str | None = None, **kw: Any) -> str:
    return auth.sign_token(SECRET, role=role, agent_id=agent_id, ttl_s=600, **kw)


def edited(token: str, **claims: Any) -> str:
    """A token whose payload was changed after signing (the signature is the old one)."""
    payload, signature = token.split(".")
    body = json.loads(auth._b64decode(payload))
    body.update(claims)
    return auth._b64encode(json.dumps(body).encode()) + "." + signature


BAD_TOKENS = {
    "none": None,
    "expired": lambda: tok("supervisor", now_s=time.time() - 3600),
    "other_secret": lambda: auth.sign_token("not-the-secret", role="supervisor", ttl_s=600),
    "edited_payload": lambda: edited(tok("agent", "mallory"), role="supervisor", agent_id=None),
    "agent_token": lambda: tok("agent", "mallory"),
    "ingest_key_as_token": lambda: KEY,
    "garbage": lambda: "x.y",
}


def bad_token(name: str) -> str | None:
    make = BAD_TOKENS[name]
    return None if make is None else make()


def assert_nothing_of_calls(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked"


# -- supervisor-only HTTP ---------------------------------------------------------------------
SUPERVISOR_HTTP = [
    "/api/calls",
    f"/api/calls/{STORED}",
    f"/api/calls/{STORED}/audio",
    f"/api/calls/{STORED}/replay-data",
]


@pytest.mark.parametrize("cred", sorted(BAD_TOKENS))
@pytest.mark.parametrize("path", SUPERVISOR_HTTP)
def test_stored_call_api_refuses_bad_credentials(
    srv: ServerThread, secrets_of_calls: list[str], path: str, cred: str
) -> None:
    token = bad_token(cred)
    with httpx.Client(base_url=srv.base_url) as http:
        for how in ("query", "bearer"):
            if token is None and how == "bearer":
                continue
            params = {"token": token} if token and how == "query" else {}
            headers = {"Authorization": f"Bearer {token}"} if token and how == "bearer" else {}
            r = http.get(path, params=params, headers=headers)
            assert r.status_code == (403 if cred == "agent_token" else 401), (cred, how, r.text)
            assert_nothing_of_calls(r.text, secrets_of_calls)
        # the ingest key in the X-API-KEY header is no supervisor credential either
        r = http.get(path, headers={"X-API-KEY": KEY})
        assert r.status_code == 401
        assert_nothing_of_calls(r.text, secrets_of_calls)


def test_stored_call_api_works_with_a_supervisor_token(srv: ServerThread) -> None:
    with httpx.Client(base_url=srv.base_url) as http:
        r = http.get(f"/api/calls/{STORED}", params={"token": tok("supervisor")})
        assert r.status_code == 200 and r.json()["call"]["call_id"] == STORED


# -- pages ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cred", sorted(BAD_TOKENS))
@pytest.mark.parametrize("page", ["/overlay", "/supervisor", "/v1/whoami"])
def test_pages_refuse_bad_credentials(
    srv: ServerThread, secrets_of_calls: list[str], page: str, cred: str
) -> None:
    token = bad_token(cred)
    with httpx.Client(base_url=srv.base_url) as http:
        r = http.get(page, params={"token": token} if token else {})
    if cred == "agent_token" and page != "/supervisor":
        assert r.status_code == 200  # mallory's own overlay / identity: no call in it
    else:
        assert r.status_code in (401, 403), (page, cred)
    assert_nothing_of_calls(r.text, secrets_of_calls)


def test_replay_page_is_static_and_holds_no_call_data(
    srv: ServerThread, secrets_of_calls: list[str]
) -> None:
    with httpx.Client(base_url=srv.base_url) as http:
        r = http.get(f"/replay/{STORED}")  # public: everything it loads is guarded
    assert r.status_code == 200
    assert_nothing_of_calls(r.text, [s for s in secrets_of_calls if s != STORED])


# -- websockets ----------------------------------------------------------------------------------
def refused(url: str, **kw: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as info:
        connect(url, **kw)
    response = info.value.response
    return response.status_code, (response.body or b"").decode()


@pytest.mark.parametrize("cred", sorted(set(BAD_TOKENS) - {"agent_token"}))
@pytest.mark.parametrize("path", ["/v1/agent", "/v1/supervisor"])
def test_feeds_refuse_bad_credentials(
    srv: ServerThread, secrets_of_calls: list[str], path: str, cred: str
) -> None:
    token = bad_token(cred)
    for how in ("query", "bearer"):
        url = f"{srv.ws_url}{path}" + (f"?token={token}" if token and how == "query" else "")
        headers = {"Authorization": f"Bearer {token}"} if token and how == "bearer" else {}
        status, body = refused(url, additional_headers=headers)
        assert status == 401, (path, cred, how)
        assert_nothing_of_calls(body, secrets_of_calls)


def test_wall_board_refuses_an_agent_token(srv: ServerThread, secrets_of_calls: list[str]) -> None:
    status, body = refused(f"{srv.ws_url}/v1/supervisor?token={tok('agent', 'alice')}")
    assert status == 403
    assert_nothing_of_calls(body, secrets_of_calls)


def test_another_agents_overlay_sees_nothing_of_the_call(
    srv: ServerThread, live_call: str, secrets_of_calls: list[str]
) -> None:
    with connect(f"{srv.ws_url}/v1/agent?token={tok('agent', 'mallory')}") as ws:
        seen = [ws.recv(timeout=15), ws.recv(timeout=15)]  # hello, snapshot
        assert json.loads(seen[1])["calls"] == []
        ws.send(json.dumps({"type": "prompt_ack", "call_id": live_call, "prompt_id": "p",
                            "action": "followed"}))  # fmt: skip
        seen.append(ws.recv(timeout=15))
        assert json.loads(seen[-1])["code"] == "unknown_call"
        ws.send(json.dumps({"type": "snapshot"}))
        seen.append(ws.recv(timeout=15))
        with pytest.raises(TimeoutError):  # alice's call keeps going; mallory hears nothing
            seen.append(ws.recv(timeout=1.0))
    assert_nothing_of_calls("\n".join(map(str, seen)), secrets_of_calls)


@pytest.mark.parametrize("cred", sorted(BAD_TOKENS))
def test_replay_feed_refuses_bad_credentials(
    srv: ServerThread, secrets_of_calls: list[str], cred: str
) -> None:
    token = bad_token(cred)
    url = f"{srv.ws_url}/v1/replay/{STORED}?speed=max" + (f"&token={token}" if token else "")
    messages: list[str] = []
    with connect(url) as ws, pytest.raises(ConnectionClosed) as info:
        while True:
            messages.append(str(ws.recv(timeout=15)))
    assert info.value.rcvd is not None and info.value.rcvd.code in (4401, 4403)
    assert len(messages) == 1 and json.loads(messages[0])["type"] == "error"
    assert_nothing_of_calls(
        "\n".join(messages) + info.value.rcvd.reason, [s for s in secrets_of_calls if s != STORED]
    )


WRONG_PLACES = [
    ("/v1/ingest", {}, f"?token={KEY}"),
    ("/v1/ingest", {}, f"?api_key={KEY}"),
    ("/v1/ingest", {"X-Api-Token": KEY}, ""),
    ("/v1/ingest", {"Authorization": f"Basic {KEY}"}, ""),
    ("/v1/ingest", {"Authorization": f"Bearer {tok('supervisor')}"}, ""),
    ("/v1/audiohook", {"Authorization": f"Token {KEY}"}, ""),
    ("/v1/audiohook", {}, f"?apikey={KEY}"),
    ("/v1/twilio", {}, f"?token={tok('supervisor')}&key=wrong"),
]


@pytest.mark.parametrize(("path", "headers", "query"), WRONG_PLACES)
def test_ingress_refuses_a_key_in_the_wrong_place(
    srv: ServerThread, secrets_of_calls: list[str], path: str, headers: dict[str, str], query: str
) -> None:
    status, body = refused(f"{srv.ws_url}{path}{query}", additional_headers=headers)
    assert status == 401
    assert KEY not in body and SECRET not in body
    assert_nothing_of_calls(body, secrets_of_calls)


@pytest.mark.parametrize("where", ["custom", "no_key", "token_param"])
def test_in_band_keys_count_only_where_the_protocol_puts_them(
    srv: ServerThread, secrets_of_calls: list[str], where: str
) -> None:
    """Native reads no key from its start message; Twilio only from customParameters
    ``api_key``/``key`` (here: misplaced), never from another parameter."""
    if where == "custom":  # native: refused at the handshake, before a start could carry one
        status, body = refused(f"{srv.ws_url}/v1/ingest")
        assert status == 401 and "missing API key" in body
        return
    params: dict[str, str] = {"agent_id": "mallory"}
    if where == "token_param":
        params["token"] = KEY
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    start = {"tracks": ["inbound"], "mediaFormat": fmt, "customParameters": params}
    with connect(f"{srv.ws_url}/v1/twilio") as ws:
        ws.send(json.dumps({"event": "start", "start": start}))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=15)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4401
    assert KEY not in info.value.rcvd.reason
    assert_nothing_of_calls(info.value.rcvd.reason, secrets_of_calls)


def test_good_credentials_still_work(srv: ServerThread, live_call: str) -> None:
    """The refusals above are about the credentials, not a server refusing everything."""
    with connect(f"{srv.ws_url}/v1/agent?token={tok('agent', 'alice')}") as ws:
        ws.recv(timeout=15)
        snapshot = json.loads(ws.recv(timeout=15))
        assert [c["call_id"] for c in snapshot["calls"]] == [live_call]
    url = f"{srv.ws_url}/v1/replay/{STORED}?speed=max&token={tok('supervisor')}"
    with connect(url, max_queue=None) as ws:  # unread events must not hold up the close
        assert json.loads(ws.recv(timeout=15))["type"] != "error"


# -- paths out of the data directory --------------------------------------------------------------
def raw_get(srv: ServerThread, path: str, token: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..`` or ``%2e``)."""
    host, port = srv.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


ESCAPES = [
    "../../canary.txt",
    "..%2F..%2Fcanary.txt",
    "%2e%2e%2f%2e%2e%2fcanary.txt",
    "%2E%2E/%2E%2E/canary.txt",
    "..%252f..%252fcanary.txt",
    "....//....//canary.txt",
    "..%5c..%5ccanary.txt",
    "..\\..\\canary.txt",
    "%c0%ae%c0%ae%2fcanary.txt",
    "canary.txt%00",
    "calls.db",
    "..%2Fcalls.db",
    "audio%2F..%2Fcalls",
    f"{STORED}%2F..%2F..%2Fcanary",
    "%2Fetc%2Fpasswd",
    "~root",
]


@pytest.mark.parametrize("escape", ESCAPES)
@pytest.mark.parametrize(
    "template",
    ["/api/calls/{}", "/api/calls/{}/audio", "/api/calls/{}/replay-data", "/replay/{}",
     "/static/{}", "/replay/assets/{}"],
)  # fmt: skip
def test_call_paths_cannot_leave_the_data_directory(
    srv: ServerThread, store: Store, template: str, escape: str
) -> None:
    status, body = raw_get(srv, template.format(escape), tok("supervisor"))
    assert status in (400, 404), (template, escape, status, body[:200])
    assert CANARY.encode() not in body
    assert b"SQLite format 3" not in body and b"root:" not in body


def test_replay_feed_rejects_escaping_ids(srv: ServerThread) -> None:
    for escape in ("..%2F..%2Fcanary.txt", "%2e%2e%2fcalls.db", "calls.db"):
        url = f"{srv.ws_url}/v1/replay/{escape}?speed=max&token={tok('supervisor')}"
        try:
            with connect(url) as ws, pytest.raises(ConnectionClosed) as info:
                while True:
                    message = str(ws.recv(timeout=15))
                    assert CANARY not in message
            assert info.value.rcvd is not None and info.value.rcvd.code == 4404
        except InvalidStatus as exc:  # the router itself may refuse the path
            assert exc.response.status_code in (403, 404)
