"""``voice-assist calls`` (filters, search, CSV), ``voice-assist agents``, ``token qa`` and
``bench calls-page``, in process, on a store in a temporary data directory."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from benchmarks.calls_page import fill_store
from voice_assist.cli import build_parser, main
from voice_assist.config import StoreOptions
from voice_assist.server import auth
from voice_assist.store import Store

NOW_MS = 1_750_000_000_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-calls")
    with Store.open(StoreOptions(), data_dir=root) as store:
        fill_store(store.engine, 120, seed=5, now_ms=NOW_MS, weeks=4, agents=("c1", "c2"))
    return root


@pytest.fixture
def cli(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VOICE_ASSIST_DATA_DIR", str(data_dir))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_calls_json_with_filters_sort_and_search(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("calls", "--json", "--agent", "c1", "--min", "episodes=1",
                       "--sort", "duration", "--asc", "--limit", "500")  # fmt: skip
    body = json.loads(out)
    assert code == 0 and body["calls"]
    assert all(c["agent_id"] == "c1" and c["n_episodes"] >= 1 for c in body["calls"])
    durations = [c["duration_ms"] for c in body["calls"]]
    assert durations == sorted(durations)
    code, out, _ = cli("calls", "-q", '"charged twice"', "--limit", "3")
    assert code == 0 and "charged twice" in out and "call_id" in out


def test_calls_csv_has_every_matching_call(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("calls", "--csv", "--max", "duration_s=300")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and all(float(r["duration_s"]) <= 300 for r in rows)
    code, out, _ = cli("calls", "--json", "--max", "duration_s=300", "--limit", "500")
    assert len(rows) == json.loads(out)["total"]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--min", "episodes"], "give FIGURE=X"),
        (["--min", "loudness=3"], "unknown figure 'loudness'"),
        (["--max", "script=lots"], "is not a number"),
        (["--sort", "pitch"], "unknown sort 'pitch'"),
        (["--search", "**"], "no word in it"),
        (["--limit", "0"], "--limit must be 1..500"),
    ],
)
def test_calls_refuses_bad_arguments(cli, argv: list[str], reason: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("calls", *argv)
    assert code == 2 and reason in err


def test_agents_table_json_and_one_agent(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("agents", "--json")
    body = json.loads(out)
    assert code == 0 and [a["agent_id"] for a in body["agents"]] == ["c1", "c2"]
    assert sum(a["calls"] for a in body["agents"]) == 120
    code, out, _ = cli("agents")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["agent", "calls", "hours"]
    code, out, _ = cli("agents", "c2", "--json", "--since", "2025-06-01")
    card = json.loads(out)
    assert card["agent_id"] == "c2" and card["weeks"] and card["behind"]["script"]["agent"] == "c2"
    code, out, _ = cli("agents", "c2")
    assert code == 0 and out.strip().splitlines()[-1].startswith("all")
    code, out, _ = cli("agents", "nobody")
    assert code == 0 and "no stored calls of agent nobody" in out
    code, _, err = cli("agents", "--since", "last week")
    assert code == 2 and "not a date or time" in err


def test_help_of_the_new_verbs() -> None:
    parser = build_parser()
    for verb in ("agents", "calls"):
        with pytest.raises(SystemExit) as info:
            parser.parse_args([verb, "--help"])
        assert info.value.code == 0


def test_token_qa(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VOICE_ASSIST_SECRET", "cli-secret-for-qa")
    assert main(["token", "qa"]) == 0
    token = capsys.readouterr().out.strip()
    assert auth.verify_token("cli-secret-for-qa", token, role="qa").agent_id is None
    assert main(["token", "qa", "--url"]) == 0
    assert "/calls?token=" in capsys.readouterr().out
    assert main(["token", "qa", "A42"]) == 2
    assert "a qa token takes no AGENT_ID" in capsys.readouterr().err


def test_bench_calls_page_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "calls-page", "--json", "--calls", "150", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["bench"] == "calls-page" and result["calls"] == 150
    assert result["rows"]["calls"] == 150 and result["search"] == "fts5"
    assert result["queries"]["newest"]["total"] == 150
    assert result["queries"]["search_rare"]["total"] >= 1
    assert set(result["queries"]["agents"]["server_ms"]) == {"p50", "p95", "max"}
    assert isinstance(result["ok"], bool) and result["target_ms"] == 300
