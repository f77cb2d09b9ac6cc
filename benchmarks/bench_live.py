"""Live benchmark; same as ``voice-assist bench live --json``."""

import sys

from voice_assist.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "live", "--json", *sys.argv[1:]]))
