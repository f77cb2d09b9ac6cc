"""``voice-assist bench NAME``: run a benchmark; ``--json`` prints one JSON object.

The benchmarks live in the ``benchmarks`` package beside ``voice_assist`` and need the
development extras (``pip install -e '.[dev]'``: jiwer, opensmile, hypothesis, ...).
Without them ``voice-assist bench`` still lists every benchmark and says what to
install; a benchmark that fails to import for any other reason fails loudly.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

HELP = (
    "run a benchmark (asr, calls-page, cluster, coach, coach-curve, demo, distress, fuzz, "
    "live, load, profile, redaction, replay) and print its figures"
)

BENCHES = (
    "asr",
    "calls-page",
    "cluster",
    "coach",
    "coach-curve",
    "demo",
    "distress",
    "fuzz",
    "live",
    "load",
    "profile",
    "redaction",
    "replay",
)
INSTALL_HINT = "pip install -e '.[dev]'  (or: make bench / make bench-coach)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name in BENCHES:
        module: Any
        try:
            module = importlib.import_module(f"benchmarks.{name.replace('-', '_')}")
        except ModuleNotFoundError as exc:
            if _is_own(exc.name):
                raise  # a benchmark of ours is broken or missing: say so, do not hide it
            bp = sub.add_parser(name, help=f"(needs the dev extras: {exc.name} is missing)")
            bp.add_argument("rest", nargs=argparse.REMAINDER)
            bp.set_defaults(bench_run=_missing(name, str(exc.name)))
            continue
        bp = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(bp)
        bp.set_defaults(bench_run=module.run)


def _is_own(module_name: str | None) -> bool:
    """The missing module is ours (benchmarks, voice_assist), not a dev dependency,
    except for the benchmarks package as a whole (an install without it)."""
    name = module_name or ""
    return name.startswith(("benchmarks.", "voice_assist"))


def _missing(name: str, dependency: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        print(
            f"voice-assist: error: bench {name} needs the development extras "
            f"({dependency} is not installed): {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2

    return run


def run(args: argparse.Namespace) -> int:
    return int(args.bench_run(args) or 0)
