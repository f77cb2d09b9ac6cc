"""The access audit log and token revocation, through the real app (``create_app``, the
server's own token check) over a real store, with Starlette's TestClient (no lifespan, no
speech model: the live feeds answer 503 to a token they accept).

* every read of a stored call adds exactly one audit row naming the token's subject, the
  resource and the client; refused requests add none;
* ``GET /api/audit``: supervisors only, newest first, a bad parameter is 400 with a reason;
* a revoked token is refused (401 ``token revoked``) on REST, pages and websocket feeds, and
  the revocation list survives reopening the store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient, WebSocketDenialResponse

from voice_assist.cli import main as cli_main
from voice_assist.config import load_settings
from voice_assist.errors import AuthError
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.server import auth
from voice_assist.server.app import create_app
from voice_assist.server.revocation import RevocationCache
from voice_assist.store import Store, schema
from voice_assist.store.audit import AuditQuery

SECRET = "audit-test-secret-0123456789"
CALL = "audited-1"
AGENT = "alice"


def tok(role: auth.Role, agent_id: str | None = None) -> str:
    return auth.sign_token(SECRET, role=role, agent_id=agent_id, ttl_s=600)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit")


@pytest.fixture(scope="module")
def store(data_dir: Path) -> Iterator[Store]:
    s = Store.open(settings_for(data_dir))
    rec = s.recorder(CALL, agent_id=AGENT, source="native", backpressure=True)
    synthetic_call(rec, call_id=CALL, duration_s=20, seed=3, agent_id=AGENT, episode_every_s=45)
    rec.close("hangup")
    s.flush()
    yield s
    s.close()


def settings_for(data_dir: Path) -> Any:
    return load_settings(
        env={},
        overrides={"server": {"secret": SECRET}, "store": {"data_dir": str(data_dir)}},
    )


@pytest.fixture(scope="module")
def client(store: Store, data_dir: Path) -> TestClient:
    app = create_app(settings_for(data_dir), store=store)
    app.state.ctx.revoked.refresh_s = 0.0  # every check reloads: revocations show at once
    return TestClient(app)


def newest(store: Store, n: int = 5) -> list[Any]:
    return store.list_access(AuditQuery(limit=n))


def last_id(store: Store) -> int:
    rows = newest(store, 1)
    return rows[0].id if rows else 0


READS = [  # path, resource, call id
    (f"/api/calls/{CALL}", "detail", CALL),
    (f"/api/calls/{CALL}/replay-data", "replay-data", CALL),
    (f"/api/calls/{CALL}/audio", "audio", CALL),
    ("/api/calls?sort=distress", "list", None),
    ("/api/calls.csv", "csv", None),
    ("/api/agents", "scorecards", None),
    (f"/api/agents/{AGENT}", "scorecard", None),
]


@pytest.mark.parametrize("role", ["qa", "supervisor"])
@pytest.mark.parametrize(("path", "resource", "call_id"), READS)
def test_each_read_adds_one_audit_row(
    client: TestClient, store: Store, path: str, resource: str, call_id: str | None, role: str
) -> None:
    token = tok(role)  # type: ignore[arg-type]
    before = last_id(store)
    r = client.get(path, headers=bearer(token))
    assert r.status_code == 200, r.text
    rows = [row for row in newest(store, 10) if row.id > before]
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row.role, row.agent_id, row.resource, row.call_id) == (role, None, resource, call_id)
    assert row.token_id == auth.verify_token(SECRET, token).token_id
    assert row.client == "testclient"
    assert abs(row.at_ms - time.time() * 1000) < 60_000
    if call_id is None:
        assert token not in (row.query or "")


def test_replay_feed_read_is_audited(client: TestClient, store: Store) -> None:
    token = tok("qa")
    before = last_id(store)
    with client.websocket_connect(f"/v1/replay/{CALL}?speed=max&token={token}") as ws:
        while ws.receive_json()["type"] != "replay_end":
            pass
    rows = [row for row in newest(store) if row.id > before]
    assert [(r.resource, r.call_id, r.role) for r in rows] == [("replay-feed", CALL, "qa")]


def test_opening_the_replay_page_with_a_reader_token_is_audited(
    client: TestClient, store: Store
) -> None:
    before = last_id(store)
    assert client.get(f"/replay/{CALL}").status_code == 200  # no token: the page, no row
    assert last_id(store) == before
    r = client.get(f"/replay/{CALL}?token={tok('supervisor')}")
    assert r.status_code == 200 and "<html" in r.text.lower()
    rows = [row for row in newest(store) if row.id > before]
    assert [(x.resource, x.call_id, x.role) for x in rows] == [("replay-page", CALL, "supervisor")]


@pytest.mark.parametrize("cred", [None, "garbage", "agent"])
def test_refused_reads_add_no_row(client: TestClient, store: Store, cred: str | None) -> None:
    before = last_id(store)
    token = {"garbage": "x.y", "agent": tok("agent", AGENT), None: None}[cred]
    r = client.get(f"/api/calls/{CALL}", headers=bearer(token) if token else {})
    assert r.status_code in (401, 403)
    assert last_id(store) == before


def test_audit_api_roles_and_order(client: TestClient, store: Store) -> None:
    assert client.get(f"/api/calls/{CALL}", headers=bearer(tok("qa"))).status_code == 200
    assert client.get("/api/audit").status_code == 401
    assert client.get("/api/audit", headers=bearer("x.y")).status_code == 401
    for role, agent in (("qa", None), ("agent", AGENT)):
        r = client.get("/api/audit", headers=bearer(tok(role, agent)))  # type: ignore[arg-type]
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = client.get(f"/api/audit?call={CALL}&limit=50", headers=bearer(tok("supervisor")))
    assert r.status_code == 200, r.text
    records = r.json()["records"]
    assert records and all(rec["call_id"] == CALL for rec in records)
    times = [(rec["at_ms"], rec["id"]) for rec in records]
    assert times == sorted(times, reverse=True)
    assert r.json()["records"][0]["resource"] == "detail"
    since = client.get("/api/audit?since=2999-01-01", headers=bearer(tok("supervisor")))
    assert since.status_code == 200 and since.json()["records"] == []


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=10001", "limit"),
        ("since=yesterday", "not a date"),
        ("call=../../etc", "call"),
        ("cal=x", "unknown parameter"),
    ],
)
def test_audit_api_bad_parameters(client: TestClient, query: str, reason: str) -> None:
    r = client.get(f"/api/audit?{query}", headers=bearer(tok("supervisor")))
    assert r.status_code == 400
    assert r.json()["error"] == "bad_request" and reason in r.json()["detail"]


def test_revoked_token_is_refused_everywhere(client: TestClient, store: Store) -> None:
    supervisor, qa = tok("supervisor"), tok("qa")
    assert client.get(f"/api/calls/{CALL}", headers=bearer(supervisor)).status_code == 200
    store.revoke_token(auth.token_id(supervisor), reason="laptop lost")
    for path in (f"/api/calls/{CALL}", "/api/calls", "/api/audit", "/v1/whoami"):
        r = client.get(path, headers=bearer(supervisor))
        assert r.status_code == 401, (path, r.text)
        assert "token revoked" in r.text
    page = client.get(f"/supervisor?token={supervisor}")
    assert page.status_code == 401 and "revoked" in page.text
    url = f"/v1/supervisor?token={supervisor}"
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect(url):
        pass
    assert denied.value.status_code == 401 and "token revoked" in denied.value.text
    with client.websocket_connect(f"/v1/replay/{CALL}?token={supervisor}") as ws:
        msg = ws.receive_json()
    assert msg["type"] == "error" and "token revoked" in msg["message"]
    # other tokens of the same role are untouched
    assert client.get(f"/api/calls/{CALL}", headers=bearer(qa)).status_code == 200


def test_revocation_takes_effect_within_the_refresh_time() -> None:
    revoked: set[str] = set()
    now = [100.0]
    cache = RevocationCache(lambda: frozenset(revoked), refresh_s=5.0, clock=lambda: now[0])
    assert not cache.is_revoked("a")
    revoked.add("a")  # another process revokes it
    now[0] += 4.9
    assert not cache.is_revoked("a")  # cached
    now[0] += 0.2
    assert cache.is_revoked("a")
    assert not RevocationCache().is_revoked("a")  # no store: nothing revoked


def test_revocation_list_persists_across_reopen(tmp_path: Path) -> None:
    token = tok("qa")
    with Store.open(settings_for(tmp_path)) as s:
        first = s.revoke_token(auth.token_id(token), reason="left the team")
        again = s.revoke_token(auth.token_id(token), reason="second time")
        assert again == first
    with Store.open(settings_for(tmp_path)) as s:
        assert auth.token_id(token) in s.revoked_token_ids()
        (entry,) = s.revoked_tokens()
        assert entry.reason == "left the team"
        client = TestClient(create_app(settings_for(tmp_path), store=s))
        r = client.get("/api/calls", headers=bearer(token))
        assert r.status_code == 401 and "token revoked" in r.text


def test_a_version_2_database_gets_the_audit_tables(tmp_path: Path) -> None:
    with Store.open(settings_for(tmp_path)) as s, s._write_engine.begin() as conn:
        for table in schema.AUDIT_TABLES:
            table.drop(conn)
        conn.execute(sa.update(schema.schema_version).values(version=2))  # as version 2 made it
    with Store.open(settings_for(tmp_path)) as s:
        with s.engine.connect() as conn:
            versions = conn.execute(sa.select(schema.schema_version.c.version)).scalars()
            assert sorted(versions) == [2, 3]
        s.revoke_token("abc", reason="after upgrade")
        assert s.revoked_token_ids() == {"abc"} and s.list_access(AuditQuery()) == []


def test_tokens_have_an_id_and_old_tokens_stay_valid() -> None:
    a, b = tok("qa"), tok("qa")
    ca, cb = auth.verify_token(SECRET, a), auth.verify_token(SECRET, b)
    assert ca.token_id and ca.token_id != cb.token_id and ca.token_id == auth.token_id(a)
    payload = {"v": 1, "role": "qa", "agent_id": None, "iat": int(time.time()),
               "exp": int(time.time()) + 600}  # fmt: skip
    text = auth._b64encode(json.dumps(payload).encode())
    old = f"{text}.{auth._signature(SECRET, text)}"
    claims = auth.verify_token(SECRET, old)  # signed before jti: still valid
    assert claims.token_id.startswith("fp-") and claims.token_id == auth.token_id(old)
    for bad in ("", "no-dot", "a.b.c", "!!!.x", "x" * 5000):
        with pytest.raises(AuthError):
            auth.token_id(bad)
    bad_jti = {**payload, "jti": 7}
    text = auth._b64encode(json.dumps(bad_jti).encode())
    with pytest.raises(AuthError, match="malformed"):
        auth.verify_token(SECRET, f"{text}.{auth._signature(SECRET, text)}")


def test_cli_revoke_and_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOICE_ASSIST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VOICE_ASSIST_SECRET", SECRET)
    token = tok("supervisor")
    assert cli_main(["token", "revoke", token, "--reason", "test", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["token_id"] == auth.token_id(token) and entry["reason"] == "test"
    assert cli_main(["token", "revoke", "x.y.z"]) == 2  # malformed token
    assert cli_main(["token", "revoke"]) == 2
    with Store.open(settings_for(tmp_path)) as s:
        assert auth.token_id(token) in s.revoked_token_ids()
    capsys.readouterr()
    assert cli_main(["audit", "--json", "--limit", "5"]) == 0
    assert json.loads(capsys.readouterr().out) == {"records": []}
    assert cli_main(["audit", "--limit", "0"]) == 2
    assert cli_main(["audit", "--call", "../x"]) == 2
    assert cli_main(["audit", "--since", "soon"]) == 2
