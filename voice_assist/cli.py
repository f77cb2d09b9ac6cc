"""The ``voice-assist`` command line: one module per verb under :mod:`voice_assist.commands`.

Each verb module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``.  Heavy imports happen inside ``run`` so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from voice_assist.errors import VoiceAssistError
from voice_assist.runtime.blas import limit_blas_threads

VERBS = (
    "analyze",
    "listen",
    "serve",
    "demo",
    "token",
    "calls",
    "audit",
    "agents",
    "report",
    "models",
    "eval",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voice-assist",
        description="Real-time empathy coach for phone support.",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="a TOML file overriding config/default.toml"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS:
        module = importlib.import_module(f"voice_assist.commands.{verb}")
        p = sub.add_parser(verb, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    limit_blas_threads()  # before any work: idle OpenBLAS threads spin (runtime.blas)
    try:
        return int(args.run(args) or 0)
    except VoiceAssistError as exc:
        print(f"voice-assist: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
