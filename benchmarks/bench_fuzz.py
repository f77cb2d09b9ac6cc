"""Fuzzing benchmark (inputs tried, crashes, hangs); same as ``voice-assist bench fuzz --json``."""

import sys

from voice_assist.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "fuzz", "--json", *sys.argv[1:]]))
