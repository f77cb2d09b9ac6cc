"""Calls page and scorecard endpoints (api_calls, api_agents) over a real store, through
Starlette's TestClient: parameters, 400 reasons, CSV, scorecards, pages and assets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from benchmarks.calls_page import fill_store
from voice_assist.config import StoreOptions
from voice_assist.replay.localserver import fixed_token_check
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.server.api_calls import make_routes
from voice_assist.store import Store
from voice_assist.store.listing import CallQuery

TOKEN = "calls-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW_MS = 1_750_000_000_000


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store.open(StoreOptions(), data_dir=tmp_path_factory.mktemp("calls-api"))
    rec = s.recorder("real-1", agent_id="=HYPERLINK(1)", source="file", backpressure=True,
                     started_at_ms=NOW_MS - 60_000)  # fmt: skip
    synthetic_call(rec, call_id="real-1", duration_s=100, audio=False, episode_every_s=45)
    rec.close("hangup")
    s.flush()
    fill_store(s.engine, 300, seed=11, now_ms=NOW_MS, weeks=6, agents=("x1", "x2"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(Starlette(routes=make_routes(store, fixed_token_check(TOKEN)))) as c:
        yield c


def get(client: TestClient, path: str, **params: object) -> dict:
    r = client.get(path, headers=AUTH, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_listing_parameters_reach_the_database(client: TestClient, store: Store) -> None:
    body = get(client, "/api/calls", agent="x1", min_episodes=1, sort="duration", order="asc",
               limit=10, offset=2)  # fmt: skip
    q = CallQuery(agent_id="x1", bounds={"episodes": (1, None)}, sort="duration",
                  descending=False, limit=10, offset=2)  # fmt: skip
    want = store.list_calls(q)
    assert [c["call_id"] for c in body["calls"]] == [c.call_id for c in want.calls]
    assert body["total"] == want.total and body["offset"] == 2 and body["limit"] == 10
    minutes = get(client, "/api/calls", min_duration_s=300, max_duration_s=600, limit=500)
    assert all(300_000 <= c["duration_ms"] <= 600_000 for c in minutes["calls"])
    found = get(client, "/api/calls", q='"charged twice"', status="ended")
    assert found["total"] > 0 and all("charged twice" in c["match"]["text"] for c in found["calls"])
    real = get(client, "/api/calls", since=NOW_MS - 120_000, q="refund*")
    assert [c["call_id"] for c in real["calls"]] == ["real-1"]
    c = real["calls"][0]
    assert c["n_episodes"] == 2 and c["n_followed"] == 1 and c["n_dismissed"] == 1
    assert c["match"]["text"].lower().count("refund") >= 1


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"min_distres": "1"}, "unknown parameter 'min_distres'"),
        ({"limit": "0"}, "limit must be between 1 and"),
        ({"limit": "x"}, "limit must be an integer"),
        ({"offset": "-1"}, "offset must be between"),
        ({"sort": "loudness"}, "sort must be one of"),
        ({"order": "up"}, "order must be asc or desc"),
        ({"status": "done"}, "status must be one of live, ended, interrupted"),
        ({"min_episodes": "many"}, "min_episodes must be a number"),
        ({"min_episodes": "-2"}, "min_episodes must not be negative"),
        ({"max_distress": "nan"}, "max_distress must be finite"),
        ({"min_script": "3", "max_script": "1"}, "min_script is above max_script"),
        ({"since": "yesterday"}, "not a date or time"),
        ({"since": "2025-06-02", "until": "2025-06-01"}, "since must be before until"),
        ({"q": '"" * ;'}, "q: the search has no word in it"),
        ({"q": "x" * 201}, "longer than 200 characters"),
        ({"agent": "a" * 129}, "an agent id is 1-128 characters"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(
    client: TestClient, params: dict[str, str], reason: str
) -> None:
    for path in ("/api/calls", "/api/calls.csv"):
        r = client.get(path, headers=AUTH, params=params)
        assert r.status_code == 400, (path, params, r.text)
        assert r.json()["error"] == "bad_request" and reason in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/api/agents", {"agent": "x1"}, "unknown parameter 'agent'"),
        ("/api/agents", {"since": "soon"}, "not a date or time"),
        ("/api/agents/x1", {"until": "2025-13-01"}, "not a date or time"),
        ("/api/agents/x1", {"since": "2025-06-02", "to": "2025-06-01"}, "since must be before"),
        ("/api/agents/" + "a" * 129, {}, "an agent id is 1-128 characters"),
        ("/api/calls/real-1/replay-data", {"points": "5"}, "points must be between 100 and 20000"),
    ],
)
def test_bad_scorecard_parameters_are_400(
    client: TestClient, path: str, params: dict[str, str], reason: str
) -> None:
    r = client.get(path, headers=AUTH, params=params)
    assert r.status_code == 400 and reason in r.json()["detail"], r.text


def test_csv_export(client: TestClient, store: Store) -> None:
    r = client.get("/api/calls.csv", headers=AUTH, params={"agent": "x2", "sort": "distress"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="calls.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    want = list(store.iter_calls(CallQuery(agent_id="x2", sort="distress"), max_rows=10_000))
    assert [row["call_id"] for row in rows] == [c.call_id for c in want]  # every page, in order
    assert rows[0]["replay"] == f"/replay/{rows[0]['call_id']}"
    assert float(rows[0]["max_distress"]) >= float(rows[-1]["max_distress"])
    limited = client.get("/api/calls.csv", headers=AUTH, params={"limit": 7, "offset": 3}).text
    assert len(limited.strip().splitlines()) == 8
    real = client.get(
        "/api/calls.csv", headers=AUTH, params={"q": "refund*", "since": NOW_MS - 100_000}
    )
    line = list(csv.DictReader(io.StringIO(real.text)))[0]
    assert line["agent_id"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, never runs it
    assert line["episodes"] == "2" and line["status"] == "ended"
    empty = client.get("/api/calls.csv", headers=AUTH, params={"agent": "nobody"})
    assert empty.text.strip().split(",")[0] == "call_id" and len(empty.text.splitlines()) == 1


def test_scorecards(client: TestClient, store: Store) -> None:
    body = get(client, "/api/agents")
    assert [a["agent_id"] for a in body["agents"]] == ["=HYPERLINK(1)", "x1", "x2"]
    x1 = next(a for a in body["agents"] if a["agent_id"] == "x1")
    assert x1["calls"] == store.list_calls(CallQuery(agent_id="x1")).total
    since = NOW_MS - 14 * 86_400_000
    recent = get(client, "/api/agents", since=since)
    assert recent["since_ms"] == since
    assert (
        sum(a["calls"] for a in recent["agents"])
        == store.list_calls(CallQuery(since_ms=since)).total
    )
    card = get(client, "/api/agents/x1", since=since, until=NOW_MS)
    assert (
        card["figures"]["calls"]
        == next(a for a in recent["agents"] if a["agent_id"] == "x1")["calls"]
    )
    assert [w["week_start"] for w in card["weeks"]] == sorted(
        w["week_start"] for w in card["weeks"]
    )
    assert sum(w["calls"] for w in card["weeks"]) == card["figures"]["calls"]
    # the calls behind a figure are a listing query: they add up to the figure
    behind = get(client, "/api/calls", **card["behind"]["dismissed"], limit=500)
    assert sum(c["n_dismissed"] for c in behind["calls"]) == card["figures"]["dismissed"]
    unacked = get(client, "/api/calls", **card["behind"]["unacknowledged"], limit=500)
    assert sum(c["n_unacknowledged"] for c in unacked["calls"]) == card["figures"]["unacknowledged"]
    script = get(client, "/api/calls", **card["behind"]["script"], limit=500)
    assert sum(c["n_script"] for c in script["calls"]) == card["figures"]["script_nudges"]
    odd = get(client, "/api/agents/%3DHYPERLINK%281%29")
    assert odd["agent_id"] == "=HYPERLINK(1)" and odd["figures"]["episodes"] == 2


def test_responses_say_their_server_time(client: TestClient) -> None:
    for path in ("/api/calls", "/api/agents", "/api/agents/x1", "/api/calls.csv"):
        timing = client.get(path, headers=AUTH).headers["server-timing"]
        assert timing.startswith("app;dur=") and float(timing.split("=")[1]) >= 0


def test_pages_and_assets(client: TestClient) -> None:
    for path, script in (("/calls", "calls.js"), ("/agents", "agents.js"),
                         ("/agents/x1", "agents.js")):  # fmt: skip
        r = client.get(path)  # public: no data in it, everything it loads is guarded
        assert r.status_code == 200 and f"/assets/{script}" in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "x1" not in r.text.replace("/agents/x1", "")
    for name, kind in (("calls.js", "text/javascript"), ("agents.js", "text/javascript"),
                       ("common.js", "text/javascript"), ("pages.css", "text/css"),
                       ("replay.js", "text/javascript")):  # fmt: skip
        r = client.get(f"/assets/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
    for name in ("index.html", "..%2Fapi_calls.py", "calls.html", "overlay.js"):
        assert client.get(f"/assets/{name}").status_code == 404
    assert client.get("/replay/assets/calls.js").status_code == 404  # replay's own assets only
