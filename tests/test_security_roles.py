"""Roles against every endpoint of the calls page and scorecards (and the live feeds).

The real app (``create_app``, the server's own token check) over a real store, under
uvicorn on 127.0.0.1, without the speech model (no lifespan: the live feeds answer 503
to a token they accept, after the credential check this is about).

* ``qa``: reads stored calls, replay and scorecards; refused (403) on the live feeds and
  their pages;
* ``supervisor``: both;
* ``agent``: no stored call at all, its own included (403);
* no, an expired or a forged token: 401.

No refusal carries anything of a call: not its id, its agent or a word said in it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from voice_assist.config import load_settings
from voice_assist.replay.localserver import serve_in_thread
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.server import auth
from voice_assist.server.app import create_app
from voice_assist.store import Store

SECRET = "roles-test-secret-0123456789"
STORED = "stored-7c1e"
AGENT = "alice"


def tok(role: auth.Role, agent_id: str | None = None, **kw: Any) -> str:
    return auth.sign_token(SECRET, role=role, agent_id=agent_id, ttl_s=600, **kw)


def edited(token: str, **claims: Any) -> str:
    payload, signature = token.split(".")
    body = json.loads(auth._b64decode(payload))
    body.update(claims)
    return auth._b64encode(json.dumps(body).encode()) + "." + signature


REFUSED = {  # credential -> HTTP status
    "none": 401,
    "expired_qa": 401,
    "other_secret_qa": 401,
    "agent_edited_to_qa": 401,
    "garbage": 401,
    "agent_of_the_call": 403,
    "another_agent": 403,
}


def credential(name: str) -> str | None:
    return {
        "none": None,
        "expired_qa": tok("qa", now_s=time.time() - 3600),
        "other_secret_qa": auth.sign_token("not-the-secret", role="qa", ttl_s=600),
        "agent_edited_to_qa": edited(tok("agent", "mallory"), role="qa", agent_id=None),
        "garbage": "x.y",
        "agent_of_the_call": tok("agent", AGENT),
        "another_agent": tok("agent", "mallory"),
        "qa": tok("qa"),
        "supervisor": tok("supervisor"),
    }[name]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    settings = load_settings(
        env={},
        overrides={
            "server": {"secret": SECRET},
            "store": {"data_dir": str(tmp_path_factory.mktemp("roles"))},
        },
    )
    store = Store.open(settings)
    rec = store.recorder(STORED, agent_id=AGENT, source="native", backpressure=True)
    synthetic_call(rec, call_id=STORED, duration_s=60, seed=4, agent_id=AGENT, episode_every_s=45)
    rec.close("hangup")
    store.flush()
    words = {w for u in store.transcript(STORED) for w in u["text"].split() if len(w) > 6}
    secrets = [STORED, AGENT, *sorted(words)[:8]]
    try:
        with serve_in_thread(create_app(settings, store=store)) as base:
            yield base, secrets
    finally:
        store.close()


STORED_HTTP = [
    "/api/calls",
    "/api/calls?q=refund&sort=distress",
    "/api/calls.csv",
    "/api/agents",
    f"/api/agents/{AGENT}",
    f"/api/calls/{STORED}",
    f"/api/calls/{STORED}/audio",
    f"/api/calls/{STORED}/replay-data",
]


@pytest.mark.parametrize("cred", sorted(REFUSED))
@pytest.mark.parametrize("path", STORED_HTTP)
def test_stored_calls_refuse_everyone_but_qa_and_supervisors(
    server: tuple[str, list[str]], path: str, cred: str
) -> None:
    base, secrets = server
    token = credential(cred)
    with httpx.Client(base_url=base) as http:
        for how in ("query", "bearer"):
            if token is None and how == "bearer":
                continue
            url = path + (("&" if "?" in path else "?") + f"token={token}" if how == "query" and
                          token else "")  # fmt: skip
            headers = {"Authorization": f"Bearer {token}"} if how == "bearer" else {}
            r = http.get(url, headers=headers)
            assert r.status_code == REFUSED[cred], (cred, how, r.text)
            assert r.json()["error"] == ("forbidden" if REFUSED[cred] == 403 else "unauthorized")
            for secret in secrets:
                assert secret not in r.text, f"{secret!r} leaked to {cred}"


@pytest.mark.parametrize("role", ["qa", "supervisor"])
@pytest.mark.parametrize("path", STORED_HTTP)
def test_qa_and_supervisors_read_stored_calls(
    server: tuple[str, list[str]], path: str, role: str
) -> None:
    base, _ = server
    r = httpx.get(base + path, headers={"Authorization": f"Bearer {credential(role)}"})
    assert r.status_code == 200, r.text
    if path.startswith("/api/calls?") or path == "/api/calls":
        assert STORED in r.text
    if path == f"/api/agents/{AGENT}":
        assert r.json()["figures"]["calls"] == 1


@pytest.mark.parametrize(
    ("cred", "code"),
    [("none", 4401), ("expired_qa", 4401), ("agent_of_the_call", 4403), ("another_agent", 4403)],
)
def test_replay_feed_roles(server: tuple[str, list[str]], cred: str, code: int) -> None:
    base, secrets = server
    token = credential(cred)
    url = base.replace("http", "ws") + f"/v1/replay/{STORED}?speed=max"
    url += f"&token={token}" if token else ""
    messages: list[str] = []
    with connect(url) as ws, pytest.raises(ConnectionClosed) as info:
        while True:
            messages.append(str(ws.recv(timeout=15)))
    assert info.value.rcvd is not None and info.value.rcvd.code == code
    assert len(messages) == 1 and json.loads(messages[0])["type"] == "error"
    for secret in secrets[1:]:
        assert secret not in messages[0]


def test_qa_replays_a_stored_call(server: tuple[str, list[str]]) -> None:
    base, _ = server
    url = base.replace("http", "ws") + f"/v1/replay/{STORED}?speed=max&token={tok('qa')}"
    with connect(url, max_queue=None) as ws:
        first = json.loads(ws.recv(timeout=15))
    assert first["type"] == "call_started" and first["agent_id"] == AGENT


@pytest.mark.parametrize("path", ["/v1/agent", "/v1/supervisor"])
def test_qa_tokens_open_no_live_feed(server: tuple[str, list[str]], path: str) -> None:
    base, secrets = server
    url = base.replace("http", "ws") + f"{path}?token={tok('qa')}"
    with pytest.raises(InvalidStatus) as info:
        connect(url)
    response = info.value.response
    assert response.status_code == 403
    body = (response.body or b"").decode()
    assert "not allowed" in body and all(s not in body for s in secrets)
    # a supervisor token passes the same check (then 503: no model in this test)
    with pytest.raises(InvalidStatus) as info:
        connect(base.replace("http", "ws") + f"/v1/supervisor?token={tok('supervisor')}")
    assert info.value.response.status_code == 503


@pytest.mark.parametrize("page", ["/overlay", "/supervisor"])
def test_qa_tokens_open_no_live_page(server: tuple[str, list[str]], page: str) -> None:
    base, _ = server
    r = httpx.get(f"{base}{page}", params={"token": tok("qa")})
    assert r.status_code == 403 and "Access refused" in r.text


def test_pages_are_public_and_hold_no_call(server: tuple[str, list[str]]) -> None:
    base, secrets = server
    for path in ("/", "/calls", "/agents", f"/agents/{AGENT}", f"/replay/{STORED}"):
        r = httpx.get(base + path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        text = r.text.replace(f"/agents/{AGENT}", "").replace(f"/replay/{STORED}", "")
        for secret in secrets[2:]:
            assert secret not in text, (path, secret)
        if path != f"/replay/{STORED}":
            assert "script-src 'self'" in r.headers["content-security-policy"]


def test_whoami_says_qa(server: tuple[str, list[str]]) -> None:
    base, _ = server
    r = httpx.get(f"{base}/v1/whoami", headers={"Authorization": f"Bearer {tok('qa')}"})
    assert r.status_code == 200 and r.json()["role"] == "qa" and r.json()["agent_id"] is None


def test_qa_tokens_carry_no_agent() -> None:
    token = tok("qa")
    assert auth.verify_token(SECRET, token, role=("supervisor", "qa")).role == "qa"
    with pytest.raises(auth.ForbiddenError):
        auth.verify_token(SECRET, token, role="supervisor")
    with pytest.raises(auth.AuthError, match="qa token carries no agent id"):
        auth.sign_token(SECRET, role="qa", agent_id="a1", ttl_s=60)
