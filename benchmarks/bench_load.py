"""Load benchmark (knee, shedding, soak); same as ``voice-assist bench load --json``."""

import sys

from voice_assist.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "load", "--json", *sys.argv[1:]]))
