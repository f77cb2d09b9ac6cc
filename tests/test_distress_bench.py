"""The distress benchmark runs and prints one JSON object (figures are not asserted)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

from benchmarks import distress


def test_bench_prints_one_json_object_without_data(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    distress.add_arguments(parser)
    args = parser.parse_args(
        ["--json", "--data", str(tmp_path / "none"), "--seconds", "4", "--no-peers"]
    )
    args.config = None
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert distress.run(args) == 0
    out = json.loads(buf.getvalue())
    assert out["audio"] == "synthetic voice"
    assert out["speed"]["rtf_cpu"] > 0 and out["speed"]["audio_s"] == 4.0
    assert out["latency"]["updates"] >= 15 and out["latency"]["update_interval_ms"] <= 250
    assert out["eval"] is None
