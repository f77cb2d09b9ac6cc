"""Call routes (api_calls.make_routes) over a real store, through Starlette's TestClient."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from voice_assist import wire
from voice_assist.config import StoreOptions
from voice_assist.errors import AuthError
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.server.api_calls import make_routes, parse_time_ms
from voice_assist.store import Store

TOKEN = "sup-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def check(conn: HTTPConnection) -> None:
    """Stand-in for the server's supervisor check: a fixed Bearer header or ?token=."""
    header = conn.headers.get("authorization", "")
    given = header.removeprefix("Bearer ") if header else conn.query_params.get("token")
    if given != TOKEN:
        raise AuthError("supervisor token required")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("api")
    s = Store.open(StoreOptions(), data_dir=root)
    for i, (agent, started) in enumerate(
        (("a1", 1_700_000_000_000), ("a2", 1_700_086_400_000), ("a1", 1_700_172_800_000))
    ):
        cid = f"call-{i}"
        rec = s.recorder(cid, agent_id=agent, source="file", started_at_ms=started,
                         backpressure=True)  # fmt: skip
        synthetic_call(rec, call_id=cid, duration_s=20 + 5 * i, seed=i, episode_every_s=15,
                       audio=i != 2)  # fmt: skip
        rec.close("hangup")
    rec = s.recorder("calm", agent_id="a3", source="native", backpressure=True)
    synthetic_call(rec, call_id="calm", duration_s=8, episode_every_s=100, audio=False)
    rec.close()
    s.flush()
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(store: Store) -> Iterator[TestClient]:
    app = Starlette(routes=make_routes(store, check))
    with TestClient(app) as c:
        yield c


def test_auth_is_required(client: TestClient) -> None:
    for path in ("/api/calls", "/api/calls/call-0", "/api/calls/call-0/audio",
                 "/api/calls/call-0/replay-data"):  # fmt: skip
        r = client.get(path)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/calls", params={"token": TOKEN}).status_code == 200


def test_list_paging_and_filters(client: TestClient) -> None:
    body = client.get("/api/calls", headers=AUTH).json()
    assert body["total"] == 4
    ids = [c["call_id"] for c in body["calls"]]
    assert ids.index("call-2") < ids.index("call-1") < ids.index("call-0")  # newest first
    page = client.get("/api/calls", headers=AUTH, params={"limit": 2}).json()
    assert len(page["calls"]) == 2 and page["next_offset"] == 2
    page2 = client.get("/api/calls", headers=AUTH, params={"limit": 2, "offset": 2}).json()
    assert page2["next_offset"] is None
    assert {c["call_id"] for c in page["calls"] + page2["calls"]} == set(ids)

    a1 = client.get("/api/calls", headers=AUTH, params={"agent": "a1"}).json()
    assert {c["call_id"] for c in a1["calls"]} == {"call-0", "call-2"}
    day = client.get(
        "/api/calls", headers=AUTH, params={"since": "2023-11-15", "until": "2023-11-15"}
    ).json()
    assert [c["call_id"] for c in day["calls"]] == ["call-1"]
    since = client.get("/api/calls", headers=AUTH, params={"since": "1700086400000"}).json()
    assert {c["call_id"] for c in since["calls"]} >= {"call-1", "call-2"}
    hot = client.get("/api/calls", headers=AUTH, params={"min_distress": 0.6}).json()
    assert "calm" not in {c["call_id"] for c in hot["calls"]} and hot["total"] == 3
    calm = client.get("/api/calls", headers=AUTH, params={"max_distress": 0.5}).json()
    assert [c["call_id"] for c in calm["calls"]] == ["calm"]


def test_bad_list_parameters(client: TestClient) -> None:
    for params in ({"limit": "x"}, {"limit": 0}, {"since": "yesterday"},
                   {"min_distress": "hot"}, {"offset": -1}):  # fmt: skip
        r = client.get("/api/calls", headers=AUTH, params=params)
        assert r.status_code == 400, params
        assert r.json()["error"] == "bad_request"


def test_call_detail(client: TestClient) -> None:
    body = client.get("/api/calls/call-0", headers=AUTH).json()
    assert body["call"]["call_id"] == "call-0" and body["call"]["status"] == "ended"
    assert body["transcript"] and body["transcript"][0]["words"]
    assert len(body["timeline"]["t_ms"]) == 80
    assert body["episodes"] and body["prompts"] and body["empathy"]["episodes"] >= 1
    assert body["audio_url"] == "/api/calls/call-0/audio"


def test_unknown_and_invalid_ids_are_404_json(client: TestClient) -> None:
    for cid in ("nope", "x" * 70, "a.b", "%20"):
        for suffix in ("", "/audio", "/replay-data"):
            r = client.get(f"/api/calls/{cid}{suffix}", headers=AUTH)
            assert r.status_code == 404, (cid, suffix)
            assert r.json()["error"] == "call_not_found"
    # an encoded slash never reaches a call route (the router answers 404 itself)
    assert client.get("/api/calls/..%2F..%2Fetc/audio", headers=AUTH).status_code == 404
    assert client.get("/replay/a.b").status_code == 404


def test_audio_download_and_range(client: TestClient) -> None:
    r = client.get("/api/calls/call-1/audio", headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/flac"
    data, sr = sf.read(io.BytesIO(r.content), dtype="float32", always_2d=True)
    assert sr == 16000 and data.shape == (25 * 16000, 2)
    part = client.get("/api/calls/call-1/audio", headers={**AUTH, "Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    none = client.get("/api/calls/call-2/audio", headers=AUTH)
    assert none.status_code == 404 and none.json()["error"] == "audio_missing"


def test_replay_data_is_reduced_for_display(client: TestClient) -> None:
    body = client.get("/api/calls/call-1/replay-data", headers=AUTH, params={"points": 100}).json()
    assert body["call"]["call_id"] == "call-1" and body["duration_ms"] == 25000
    assert body["audio"]["available"] is True
    tl = body["timeline"]
    assert len(tl["t_ms"]) <= 100 and tl["hop_ms"] >= 250
    assert len(tl["distress"]) == len(tl["t_ms"]) == len(tl["customer_pitch_st"])
    wf = body["waveform"]
    assert len(wf["customer"]) <= 100 and len(wf["customer"]) == len(wf["agent"])
    assert wf["hop_ms"] * len(wf["customer"]) >= 25000
    assert "words" not in body["transcript"][0]
    assert body["summary"]["episodes"] == len(body["episodes"])
    no_audio = client.get("/api/calls/call-2/replay-data", headers=AUTH).json()
    assert no_audio["audio"]["available"] is False and no_audio["waveform"]["customer"] == []


def test_damaged_row_and_audio_give_errors_for_that_call_only(
    tmp_path: Path,
) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as s:
        for cid in ("ok", "broken", "noisy"):
            rec = s.recorder(cid, agent_id="a", source="file", backpressure=True)
            synthetic_call(rec, call_id=cid, duration_s=6, episode_every_s=100)
            rec.close()
        s.flush()
        con = sqlite3.connect(tmp_path / "calls.db")
        con.execute("UPDATE calls SET meta = 'not json' WHERE id = 'broken'")
        con.commit()
        con.close()
        (tmp_path / "audio" / "noisy.flac").write_bytes(b"garbage" * 100)
        with TestClient(Starlette(routes=make_routes(s, check))) as c:
            listing = c.get("/api/calls", headers=AUTH).json()
            errors = {x["call_id"]: x["error"] for x in listing["calls"]}
            assert errors["ok"] is None and errors["noisy"] is None
            assert "not valid JSON" in errors["broken"]
            r = c.get("/api/calls/broken", headers=AUTH)
            assert r.status_code == 500 and r.json()["error"] == "call_damaged"
            assert "broken" in r.json()["detail"]
            r = c.get("/api/calls/noisy/audio", headers=AUTH)
            assert r.status_code == 500 and r.json()["error"] == "audio_damaged"
            data = c.get("/api/calls/noisy/replay-data", headers=AUTH).json()
            assert data["audio"] == {
                "available": False,
                "reason": data["audio"]["reason"],
                "code": "audio_damaged",
            }
            assert c.get("/api/calls/ok", headers=AUTH).status_code == 200
            assert c.get("/api/calls/ok/audio", headers=AUTH).status_code == 200


def test_replay_page_and_assets(client: TestClient) -> None:
    page = client.get("/replay/call-0")
    assert page.status_code == 200 and "replay.js" in page.text
    assert (
        client.get("/replay/assets/replay.js").headers["content-type"].startswith("text/javascript")
    )
    assert client.get("/replay/assets/replay.css").status_code == 200
    assert client.get("/replay/assets/..%2Fapi_calls.py").status_code == 404


def test_replay_websocket_streams_the_overlay_protocol(client: TestClient, store: Store) -> None:
    with client.websocket_connect(f"/v1/replay/call-0?speed=64&token={TOKEN}") as ws:
        messages = []
        while True:
            msg = ws.receive_json()
            messages.append(msg)
            if msg["type"] == "replay_end":
                break
    types = [m["type"] for m in messages]
    assert types[0] == "call_started" and types[-2] == "call_ended"
    assert {"transcript", "distress", "prompt", "prompt_clear", "empathy"} <= set(types)
    assert "metrics" not in types and "prosody" not in types
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    stored = [m for m in store.iter_events("call-0") if m["type"] in set(types)]
    assert len(stored) == len(messages) - 1
    for sent, kept in zip(messages[:-1], stored, strict=False):
        assert wire.from_wire(sent) == wire.from_wire(kept)  # same event, fresh seq


def test_replay_websocket_errors(client: TestClient) -> None:
    for url, code in (
        ("/v1/replay/call-0?speed=4", 4401),
        (f"/v1/replay/nope?token={TOKEN}", 4404),
        (f"/v1/replay/call-0?speed=1000&token={TOKEN}", 4400),
    ):
        with client.websocket_connect(url) as ws:
            err = ws.receive_json()
            assert err["type"] == "error"
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_json()
            assert info.value.code == code


def test_parse_time_ms() -> None:
    assert parse_time_ms("1700000000000") == 1_700_000_000_000
    assert parse_time_ms("2023-11-14") == 1_699_920_000_000
    assert parse_time_ms("2023-11-14", end=True) == 1_699_920_000_000 + 86_400_000
    assert parse_time_ms("2023-11-14T22:13:20Z") == 1_700_000_000_000
    assert parse_time_ms("2023-11-15T00:13:20+02:00") == 1_700_000_000_000


def test_check_may_return_claims_be_async_or_forbid(store: Store) -> None:
    """The server's check returns its claims, may be async, and raises 403 for a wrong role."""
    from starlette.exceptions import HTTPException

    async def async_check(conn: HTTPConnection) -> dict[str, str]:
        if conn.query_params.get("role") != "supervisor":
            raise HTTPException(403, detail="supervisor role required")
        return {"role": "supervisor"}

    with TestClient(Starlette(routes=make_routes(store, async_check))) as c:
        assert c.get("/api/calls/call-0", params={"role": "supervisor"}).status_code == 200
        r = c.get("/api/calls/call-0", params={"role": "agent"})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        with c.websocket_connect("/v1/replay/call-0?role=agent") as ws:
            assert ws.receive_json()["code"] == "forbidden"
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_json()
            assert info.value.code == 4403
