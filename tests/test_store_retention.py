"""Deleting a call (store, CLI, ``DELETE /api/calls/{id}``) and the retention sweep.

After a deletion no row of the call is left in any table (the FTS5 index included), no
audio file is left, and every read of it (detail, replay data, replay feed, audio) is a
404.  The sweep runs on an injected clock or on explicitly old start times: no sleeping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from voice_assist.cli import main
from voice_assist.config import StoreOptions, load_settings
from voice_assist.errors import AuthError, CallLiveError, CallNotFoundError
from voice_assist.replay.query import replay_data
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.server import auth
from voice_assist.server.api_calls import make_routes
from voice_assist.server.app import create_app
from voice_assist.store import AudioArchiveError, Store, schema
from voice_assist.store.listing import CallQuery
from voice_assist.store.retention import DAY_MS, RetentionPolicy

NOW_MS = 1_760_000_000_000
SECRET = "retention-test-secret-0123456789"


def record(
    store: Store, call_id: str, *, started_at_ms: int | None = NOW_MS, audio: bool = True
) -> None:
    rec = store.recorder(call_id, agent_id="a1", source="file", started_at_ms=started_at_ms,
                         backpressure=True)  # fmt: skip
    synthetic_call(rec, call_id=call_id, duration_s=20, seed=3, episode_every_s=12, audio=audio)
    rec.close("hangup")
    store.flush()


def rows_of(engine: sa.Engine, call_id: str) -> dict[str, int]:
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for t in (*schema.CALL_TABLES, schema.calls):
            col = t.c.id if t is schema.calls else t.c.call_id
            out[t.name] = conn.execute(
                sa.select(sa.func.count()).select_from(t).where(col == call_id)
            ).scalar_one()
    return out


def assert_gone(store: Store, call_id: str) -> None:
    assert set(rows_of(store.engine, call_id).values()) == {0}
    assert not [p for p in store.audio_dir.glob(f"{call_id}.*") if p.name.split(".")[0] == call_id]
    assert store.transcript(call_id) == [] and list(store.iter_events(call_id)) == []
    for read in (store.get_call, store.audio_path, lambda cid: replay_data(store, cid)):
        with pytest.raises(CallNotFoundError):
            read(call_id)
    assert call_id not in [c.call_id for c in store.list_calls(limit=200).calls]


def fts_ok(store: Store) -> None:
    """The FTS5 index agrees with ``utterances`` (raises if a deleted row is still indexed)."""
    if store.search_method() != "fts5":
        return
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO utterances_fts(utterances_fts, rank) VALUES('integrity-check', 1)")
        )


def a_word(store: Store, call_id: str) -> str:
    return max((w for u in store.transcript(call_id) for w in u["text"].split()), key=len)


# -- the store ------------------------------------------------------------------------------------


def test_delete_call_removes_every_row_the_index_and_the_flac(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        record(store, "doomed")
        record(store, "kept")
        before = rows_of(store.engine, "doomed")
        assert all(before[t] > 0 for t in ("calls", "utterances", "timeline", "waveform",
                                           "episodes", "prompts", "empathy", "events"))  # fmt: skip
        word = a_word(store, "doomed")
        assert "doomed" in [c.call_id for c in store.list_calls(CallQuery(search=word)).calls]
        replay_data(store, "doomed")  # read once first: nothing may keep a copy of it
        flac = store.audio_dir / "doomed.flac"
        size = flac.stat().st_size

        deleted = store.delete_call("doomed")

        assert deleted.rows == before
        assert deleted.audio_file == "audio/doomed.flac" and deleted.audio_bytes == size
        body = deleted.to_json()
        assert body["rows_total"] == sum(before.values()) and body["deleted"] is True
        assert_gone(store, "doomed")
        fts_ok(store)
        assert "doomed" not in [c.call_id for c in store.list_calls(CallQuery(search=word)).calls]
        assert store.get_call("kept").audio_state == "final"  # the other call is untouched
        assert rows_of(store.engine, "kept")["utterances"] > 0
        with pytest.raises(CallNotFoundError):
            store.delete_call("doomed")
    with Store.open(StoreOptions(), data_dir=tmp_path) as again:  # and after a restart
        assert_gone(again, "doomed")


def test_live_unknown_and_malformed_calls_are_not_deleted(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        rec = store.recorder("on-air", agent_id="a1", source="native")
        synthetic_call(rec, call_id="on-air", duration_s=3, audio=False)
        store.flush()
        with pytest.raises(CallLiveError, match="live"):
            store.delete_call("on-air")
        assert store.get_call("on-air").status == "live"
        rec.close("hangup")
        store.flush()
        for bad in ("nope", "../calls", "a" * 65, "", "x y"):
            with pytest.raises(CallNotFoundError):
                store.delete_call(bad)
        store.delete_call("on-air")
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:  # a live row of another process
        record(store, "elsewhere")
        with store.engine.begin() as conn:
            conn.execute(sa.update(schema.calls).values(status="live"))
        with pytest.raises(CallLiveError):
            store.delete_call("elsewhere")


def test_sweep_deletes_expired_calls_and_expired_audio(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        record(store, "old", started_at_ms=NOW_MS - 40 * DAY_MS)
        record(store, "middle", started_at_ms=NOW_MS - 10 * DAY_MS)
        record(store, "new", started_at_ms=NOW_MS - 1 * DAY_MS)
        rec = store.recorder("old-live", agent_id="a1", source="native",
                             started_at_ms=NOW_MS - 90 * DAY_MS)  # fmt: skip
        synthetic_call(rec, call_id="old-live", duration_s=3)
        store.flush()

        policy = RetentionPolicy(retention_days=30, audio_retention_days=7,
                                 clock=lambda: NOW_MS / 1000)  # fmt: skip
        result = store.sweep_retention(policy)

        assert [d.call_id for d in result.deleted] == ["old"]
        assert result.deleted[0].audio_bytes > 0
        assert result.audio_deleted == ("middle",)
        assert_gone(store, "old")
        fts_ok(store)
        middle = store.get_call("middle")
        assert middle.audio_state == "deleted"
        assert store.transcript("middle") and store.waveform("middle").customer.size == 0
        assert not (store.audio_dir / "middle.flac").exists()
        with pytest.raises(AudioArchiveError) as err:
            store.audio_path("middle")
        assert err.value.code == "audio_deleted"
        assert replay_data(store, "middle")["audio"]["code"] == "audio_deleted"
        assert store.get_call("new").audio_state == "final"
        assert store.get_call("old-live").status == "live"  # never a live call
        assert not store.sweep_retention(policy)  # nothing more to do
        rec.close("hangup")
        store.flush()
        assert [d.call_id for d in store.sweep_retention(policy).deleted] == ["old-live"]
        assert not store.sweep_retention(RetentionPolicy())  # 0 days: kept for ever


def test_sweep_runs_at_start_up_and_in_the_writer(tmp_path: Path) -> None:
    ancient = 1_000_000_000_000  # 2001: older than a day by any clock
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        record(store, "from-2001", started_at_ms=ancient)
    opts = StoreOptions(retention_days=1, retention_sweep_interval_s=0.0)
    with Store.open(opts, data_dir=tmp_path) as store:
        assert_gone(store, "from-2001")  # start-up
        record(store, "also-2001", started_at_ms=ancient)  # flush: a writer pass, which sweeps
        assert_gone(store, "also-2001")
        record(store, "today", started_at_ms=None)
        assert store.get_call("today").status == "ended"


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_calls_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOICE_ASSIST_DATA_DIR", str(tmp_path))
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        record(store, "cli-1")
        record(store, "cli-2", audio=False)
        want = rows_of(store.engine, "cli-1")
    assert main(["calls", "delete", "cli-1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["call_id"] == "cli-1" and out["rows"] == want
    assert out["audio_file"] == "audio/cli-1.flac" and out["audio_bytes"] > 0
    assert main(["calls", "delete", "cli-2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("deleted call cli-2: ") and "no audio file" in text
    assert main(["calls", "delete", "cli-2", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "call_not_found"
    assert main(["calls", "delete", "../etc"]) == 1
    assert "no stored call" in capsys.readouterr().err
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        assert_gone(store, "cli-1")
        assert_gone(store, "cli-2")
    with pytest.raises(SystemExit) as help_exit:
        main(["calls", "delete", "--help"])
    assert help_exit.value.code == 0
    assert "--json" in capsys.readouterr().out


# -- the API ----------------------------------------------------------------------------------

READER, SUPERVISOR = "reader-token", "supervisor-token"


def _token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    return header.removeprefix("Bearer ") if header else conn.query_params.get("token")


def reader_check(conn: HTTPConnection) -> None:
    if _token(conn) not in (READER, SUPERVISOR):
        raise AuthError("token required")


def supervisor_check(conn: HTTPConnection) -> None:
    given = _token(conn)
    if given == READER:
        raise HTTPException(403, detail="supervisors only")
    if given != SUPERVISOR:
        raise AuthError("supervisor token required")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_delete_endpoint_deletes_and_every_read_is_then_404(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        record(store, "api-1")
        app = Starlette(routes=make_routes(store, reader_check, supervisor_check))
        client = TestClient(app)
        sup = bearer(SUPERVISOR)
        for path in ("", "/audio", "/replay-data"):
            assert client.get(f"/api/calls/api-1{path}", headers=sup).status_code == 200
        assert client.delete("/api/calls/api-1").status_code == 401
        assert client.delete("/api/calls/api-1", headers=bearer(READER)).status_code == 403
        want = rows_of(store.engine, "api-1")

        r = client.delete("/api/calls/api-1", headers=sup)

        assert r.status_code == 200, r.text
        body = r.json()
        assert body["rows"] == want and body["audio_file"] == "audio/api-1.flac"
        assert body["audio_bytes"] > 0
        for path in ("", "/audio", "/replay-data"):
            got = client.get(f"/api/calls/api-1{path}", headers=sup)
            assert got.status_code == 404 and got.json()["error"] == "call_not_found"
        with client.websocket_connect(f"/v1/replay/api-1?token={SUPERVISOR}") as ws:
            assert ws.receive_json()["code"] == "call_not_found"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4404
        assert_gone(store, "api-1")
        again = client.delete("/api/calls/api-1", headers=sup)
        assert again.status_code == 404 and "api-1" in again.json()["detail"]
        bad = client.delete("/api/calls/not.an.id", headers=sup)
        assert bad.status_code == 404 and bad.json()["error"] == "call_not_found"
        assert "invalid" in bad.json()["detail"] or "no stored call" in bad.json()["detail"]

        rec = store.recorder("api-live", agent_id="a1", source="native")
        synthetic_call(rec, call_id="api-live", duration_s=3, audio=False)
        store.flush()
        live = client.delete("/api/calls/api-live", headers=sup)
        assert live.status_code == 409 and live.json()["error"] == "call_live"
        assert "live" in live.json()["detail"]
        rec.close("hangup")
        store.flush()
        assert client.delete("/api/calls/api-live", headers=sup).status_code == 200


def test_without_a_supervisor_check_there_is_no_delete_route(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        record(store, "keep-me", audio=False)
        client = TestClient(Starlette(routes=make_routes(store, reader_check)))
        assert client.delete("/api/calls/keep-me", headers=bearer(SUPERVISOR)).status_code == 405
        assert store.get_call("keep-me").status == "ended"


# -- roles, through the real app -----------------------------------------------------------------


def _tok(role: auth.Role, agent_id: str | None = None) -> str:
    return auth.sign_token(SECRET, role=role, agent_id=agent_id, ttl_s=600)


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 401), ("garbage", 401), ("agent", 403), ("qa", 403), ("supervisor", 200)],
)
def test_delete_roles_in_the_server(tmp_path: Path, who: str | None, status: int) -> None:
    settings = load_settings(
        env={}, overrides={"server": {"secret": SECRET}, "store": {"data_dir": str(tmp_path)}}
    )
    with Store.open(settings) as store:
        record(store, "role-call", audio=False)
        client = TestClient(create_app(settings, store=store))  # no lifespan: no model
        tokens: dict[str, Any] = {
            "garbage": "x.y",
            "agent": _tok("agent", "a1"),
            "qa": _tok("qa"),
            "supervisor": _tok("supervisor"),
        }
        headers = bearer(tokens[who]) if who else {}
        r = client.delete("/api/calls/role-call", headers=headers)
        assert r.status_code == status, r.text
        if status == 200:
            assert r.json()["rows"]["calls"] == 1
            assert_gone(store, "role-call")
        else:
            assert r.json()["error"] == ("forbidden" if status == 403 else "unauthorized")
            assert "role-call" not in r.text
            assert store.get_call("role-call").status == "ended"
