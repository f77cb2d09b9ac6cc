"""Replay benchmark; same as ``voice-assist bench replay --json``."""

import sys

from voice_assist.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "replay", "--json", *sys.argv[1:]]))
