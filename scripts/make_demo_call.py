#!/usr/bin/env python3
"""Synthesize the bundled two-leg demo call (voice_assist/data/demo_call.wav + .json).

The script, the voices and the synthesis are in ``benchmarks/demo_call.py`` (its
docstring says why these voices); this is its command line.  The default cast is CMU
Flite's ``rms`` (customer) and ``awb`` (agent); ``--cast espeak-ng`` makes the demo's
old espeak-ng voices, ``--cast festival`` / ``--cast piper`` the other candidates
measured.  Deterministic for a given flite/sox version.

Run from the repository root:  .venv/bin/python scripts/make_demo_call.py
Needs: flite and sox (Debian packages of the same names; scripts/system-deps.sh).
Then measure it:  .venv/bin/voice-assist bench demo --json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import demo_call  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=demo_call.OUT_WAV)
    parser.add_argument("--cast", choices=sorted(demo_call.CASTS), default=demo_call.DEFAULT_CAST)
    args = parser.parse_args()
    missing = demo_call.missing_tools(demo_call.CASTS[args.cast])
    if missing:
        parser.error(f"not installed: {', '.join(missing)} (see benchmarks/demo_call.py)")
    meta = demo_call.write(args.cast, args.out)
    size_kb = args.out.stat().st_size // 1024
    print(f"wrote {args.out} ({meta['duration_ms'] / 1000:.1f} s, {size_kb} KiB) and its .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
