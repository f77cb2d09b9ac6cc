"""``voice-assist report CALL_ID --png FILE [--html FILE]``: a one-page picture of a call."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "one-page report of a stored call: distress, episodes, prompts, pitch, loudness, empathy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "call_id", metavar="CALL_ID", help="a stored call (see: voice-assist calls)"
    )
    parser.add_argument("--png", metavar="FILE", type=Path, help="write the picture here")
    parser.add_argument("--html", metavar="FILE", type=Path, help="write a self-contained page")


def run(args: argparse.Namespace) -> int:
    from voice_assist.config import load_settings
    from voice_assist.replay.report import write_report
    from voice_assist.store import Store

    png: Path | None = args.png
    html: Path | None = args.html
    if png is None and html is None:
        png = Path(f"{args.call_id}.png")
    settings = load_settings(args.config)
    with Store.open(settings) as store:
        report = write_report(store, args.call_id, png=png, html_path=html)
    for path in (png, html):
        if path is not None:
            print(path)
    summary = report.summary.sentence()
    print(f"{report.call.call_id}: {summary}")
    return 0
