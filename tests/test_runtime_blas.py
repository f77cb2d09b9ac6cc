"""One BLAS thread per process (runtime.blas), each case in a fresh interpreter.

The cap must reach a BLAS library loaded before it (numpy's) and one loaded after it
(scipy's own OpenBLAS), keep a thread count the user set, and leave no idle BLAS
thread spinning on a core.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, **env: str) -> dict[str, object]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**clean, **env},
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cap_reaches_numpy_loaded_before_and_scipy_loaded_after() -> None:
    got = run_python(
        "import json, numpy\n"
        "from voice_assist.runtime.blas import blas_threads, limit_blas_threads\n"
        "before = blas_threads()\n"
        "applied = limit_blas_threads()\n"
        "import scipy.linalg\n"
        "print(json.dumps({'before': before, 'applied': applied, 'after': blas_threads()}))\n"
    )
    assert got["applied"] is True
    after = got["after"]
    assert isinstance(after, list) and len(after) >= 1 and set(after) == {1}


def test_a_thread_count_the_user_set_is_kept() -> None:
    got = run_python(
        "import json, numpy\n"
        "from voice_assist.runtime.blas import blas_threads, limit_blas_threads\n"
        "print(json.dumps({'applied': limit_blas_threads(), 'after': blas_threads()}))\n",
        OPENBLAS_NUM_THREADS="2",
    )
    assert got == {"applied": False, "after": [2]}


def test_the_cli_caps_blas_before_a_verb_runs(tmp_path: Path) -> None:
    got = run_python(
        "import json\n"
        "from voice_assist import cli\n"
        "from voice_assist.runtime.blas import blas_threads\n"
        "rc = cli.main(['report', 'no-such-call'])\n"
        "print(json.dumps({'rc': rc, 'threads': blas_threads()}))\n",
        VOICE_ASSIST_DATA_DIR=str(tmp_path),
    )
    assert got["rc"] == 2  # no such call: a clear error, after the cap
    assert got["threads"] == [1]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no second BLAS thread to spin")
def test_no_idle_blas_thread_burns_a_core_between_small_products() -> None:
    """The server's pattern: a small product (a decode's mel filter bank), then a wait.

    Uncapped, OpenBLAS's idle thread spun through every wait: process CPU equalled
    wall time while the calling thread slept most of it.  Load on the machine only
    lowers the ratio (the sleeps stretch), so this cannot fail for being slow.
    """
    got = run_python(
        "import json, time\n"
        "from voice_assist.runtime.blas import limit_blas_threads\n"
        "limit_blas_threads()\n"
        "import numpy as np\n"
        "a = np.random.rand(80, 201).astype(np.float32)\n"
        "b = np.random.rand(201, 500).astype(np.float32)\n"
        "t, c = time.perf_counter(), time.process_time()\n"
        "while time.perf_counter() - t < 0.5:\n"
        "    a @ b\n"
        "    time.sleep(0.002)\n"
        "share = (time.process_time() - c) / (time.perf_counter() - t)\n"
        "print(json.dumps({'cpu_per_wall': share}))\n"
    )
    share = got["cpu_per_wall"]
    assert isinstance(share, float) and share < 0.5
