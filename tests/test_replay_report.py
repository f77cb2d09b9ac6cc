"""Post-call report (PNG + HTML) and the ``calls`` / ``report`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voice_assist.cli import main
from voice_assist.config import StoreOptions
from voice_assist.replay.report import load_report, prompt_outcome, render_png, write_report
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.store import Store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data"
    with Store.open(StoreOptions(), data_dir=root) as s:
        for cid, agent, secs in (("r1", "ann", 180), ("r2", "bob", 30), ("r3", "ann", 20)):
            rec = s.recorder(cid, agent_id=agent, source="file", backpressure=True)
            synthetic_call(rec, call_id=cid, duration_s=secs, audio=False, episode_every_s=45)
            rec.close("hangup")
        s.flush()
    monkeypatch.setenv("VOICE_ASSIST_DATA_DIR", str(root))
    return root


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_report_png_and_html(data_dir: Path, tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=data_dir) as s:
        report = write_report(
            s, "r1", png=tmp_path / "out" / "r1.png", html_path=tmp_path / "out" / "r1.html"
        )
        assert report.summary.episodes == 4 and report.summary.acknowledged == 2
        assert report.summary.sentence().startswith("2 of 4 distress episodes acknowledged")
        kinds = [prompt_outcome(p)[0] for p in report.prompts]
        assert kinds == ["followed", "dismissed", "expired", "followed"]
        assert _png_size(render_png(load_report(s, "r2"))) == (1400, 900)
    png = (tmp_path / "out" / "r1.png").read_bytes()
    assert _png_size(png) == (1400, 900)
    html = (tmp_path / "out" / "r1.html").read_text()
    assert "data:image/png;base64," in html and "followed in" in html
    assert html.count("<tr>") > 10  # episodes, prompts, transcript


def test_report_command(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rep.png"
    assert main(["report", "r2", "--png", str(out), "--html", str(tmp_path / "rep.html")]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "r2:" in printed
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert main(["report", "nope", "--png", str(out)]) == 2
    assert "no stored call 'nope'" in capsys.readouterr().err


def test_calls_command(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["total"] == 3 and {c["call_id"] for c in body["calls"]} == {"r1", "r2", "r3"}
    assert main(["calls", "--json", "--agent", "ann", "--limit", "1"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["total"] == 2 and len(body["calls"]) == 1 and body["next_offset"] == 1
    assert main(["calls"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["call_id", "agent"]
    assert len(table) == 4 and any("r1" in line and "3:00" in line for line in table)
