"""One BLAS thread per process: numpy's OpenBLAS otherwise burns a core while idle.

numpy's bundled OpenBLAS starts a thread per core, and after each matrix product its
idle threads spin, waiting for more work, for about 0.1 s before they sleep.  The
server does a small product every few milliseconds (the log-mel filter bank of every
decode, librosa's features of every prosody window), so on a 2-core machine one
OpenBLAS thread kept a core busy for as long as anything ran.  Measured on the
bundled Whisper base, one thread per decode worker: a partial decode took 0.146 s of
process CPU for 0.074 s of wall time; with one BLAS thread 0.074 s for the same wall
time, and two decodes at once finished 1.5 times sooner (docs/measurements.md,
"BLAS threads").  Every product here is small; none gains from a second thread.

A thread count the user set (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``) is kept.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

USER_SETTINGS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
"""Environment variables by which a user sizes OpenBLAS; any of them wins."""


def limit_blas_threads(threads: int = 1) -> bool:
    """Cap the BLAS thread pools at ``threads`` unless the user sized them.

    Returns whether the cap was applied (False: the user's setting stands).  A BLAS
    library already loaded (numpy's) is capped through its own setter (threadpoolctl);
    one loaded later (scipy ships its own OpenBLAS) reads the environment variable
    this sets.
    """
    set_by = [name for name in USER_SETTINGS if os.environ.get(name)]
    if set_by:
        log.debug("BLAS threads left as set by %s", ", ".join(set_by))
        return False
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
    return True


def blas_threads() -> list[int]:
    """The thread count of every BLAS library loaded in this process."""
    from threadpoolctl import threadpool_info

    return [int(info["num_threads"]) for info in threadpool_info() if info["user_api"] == "blas"]
