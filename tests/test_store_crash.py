"""Call store: a process killed with SIGKILL mid-call loses nothing that was written;
the call is marked interrupted at the next start and its audio archive repaired."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import soundfile as sf

from voice_assist.config import StoreOptions
from voice_assist.store import Store

SR = 16000

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from voice_assist.config import StoreOptions
    from voice_assist.replay.synthetic import synthetic_call
    from voice_assist.store import Store

    store = Store.open(StoreOptions(), data_dir=sys.argv[1])
    rec = store.recorder("crashed", agent_id="a7", source="native", backpressure=True)
    counts = synthetic_call(rec, call_id="crashed", duration_s=30, seed=1, episode_every_s=20)
    store.flush()  # the writer has caught up: what a live call at 1x always is
    print(counts["utterances"], counts["episodes"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no atexit
    """
)


def _crash(tmp_path: Path) -> tuple[int, int]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    utterances, episodes = map(int, proc.stdout.split())
    return utterances, episodes


def test_kill_9_keeps_rows_and_audio(tmp_path: Path) -> None:
    utterances, episodes = _crash(tmp_path)

    # a second process opening the store at once must not steal a call whose heartbeat is
    # fresh (its owner may be alive), so the default staleness leaves it live
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        assert store.get_call("crashed").status == "live"

    with Store.open(StoreOptions(live_stale_s=0.0), data_dir=tmp_path) as store:
        store.flush()  # the audio repair runs in the writer thread
        call = store.get_call("crashed")
        assert call.status == "interrupted"
        assert call.end_reason is not None and "stopped" in call.end_reason
        assert call.duration_ms >= 29000
        assert len(store.transcript("crashed")) == utterances
        assert len(store.episodes("crashed")) == episodes
        assert len(store.timeline("crashed")["t_ms"]) >= 110  # all but the open window
        assert call.audio_state == "final"
        path = store.audio_path("crashed")
        info = sf.info(str(path))
        assert info.channels == 2 and info.samplerate == SR
        # everything but what the FLAC encoder still held in memory (< one block)
        assert 30 * SR - 8192 <= info.frames <= 30 * SR
        assert call.audio_frames == info.frames
        wave = store.waveform("crashed")  # rebuilt from the repaired file, to the end
        assert len(wave.customer) == -(-info.frames // 800)


def test_restart_right_after_the_crash_settles_it_once_stale(tmp_path: Path) -> None:
    """Restarted before the heartbeat is stale: the writer's sweep marks the call later."""
    _crash(tmp_path)
    with Store.open(StoreOptions(live_stale_s=1.0), data_dir=tmp_path) as store:
        deadline = time.monotonic() + 30
        while store.get_call("crashed").status == "live" and time.monotonic() < deadline:
            time.sleep(0.1)
        store.flush()
        call = store.get_call("crashed")
        assert call.status == "interrupted"
        assert call.audio_state == "final"
