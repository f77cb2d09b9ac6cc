"""Redaction benchmark; same as ``voice-assist bench redaction --json``."""

import sys

from voice_assist.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "redaction", "--json", *sys.argv[1:]]))
