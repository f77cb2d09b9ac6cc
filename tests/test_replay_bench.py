"""``voice-assist bench replay --json`` runs end to end and prints one JSON object (no
timing assertions: the figures are the benchmark's business)."""

from __future__ import annotations

import json

import pytest

from voice_assist.cli import main


def test_bench_replay_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "replay", "--json", "--minutes", "0.5", "--repeat", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["bench"] == "replay" and result["call_minutes"] == 0.5
    assert result["replay_data_ms"]["bytes"] > 1000
    assert set(result["replay_data_ms"]) == {"cold", "p50", "max", "bytes"}
    assert "skipped" in result["page_load_ms"]
    assert isinstance(result["ok"], bool)
