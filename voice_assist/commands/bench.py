"""``voice-assist bench NAME``: run a benchmark; ``--json`` prints one JSON object."""

from __future__ import annotations

import argparse
import importlib

HELP = "run a benchmark (asr, coach, distress, fuzz, live, load, replay) and print its figures"

BENCHES = ("asr", "coach", "distress", "fuzz", "live", "load", "replay")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name in BENCHES:
        try:
            module = importlib.import_module(f"voice_assist.bench.{name}")
        except ModuleNotFoundError:
            continue
        bp = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(bp)
        bp.set_defaults(bench_run=module.run)


def run(args: argparse.Namespace) -> int:
    return int(args.bench_run(args) or 0)
