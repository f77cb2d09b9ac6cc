"""Coaching benchmark; same as ``voice-assist bench coach --json``."""

import sys

from voice_assist.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "coach", "--json", *sys.argv[1:]]))
