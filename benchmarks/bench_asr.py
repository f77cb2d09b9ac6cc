"""Streaming ASR benchmark; same as ``voice-assist bench asr --json``."""

import sys

from voice_assist.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "asr", "--json", *sys.argv[1:]]))
