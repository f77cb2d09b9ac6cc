"""Distress benchmark; same as ``voice-assist bench distress --json``."""

import sys

from benchmarks.distress import add_arguments, run

if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="distress benchmark")
    add_arguments(parser)
    args = parser.parse_args(["--json", *sys.argv[1:]])
    args.config = None
    sys.exit(run(args))
