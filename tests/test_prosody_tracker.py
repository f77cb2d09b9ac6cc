"""ProsodyTracker streaming behaviour: timing, chunking, bad input, flushing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voice_assist import wire
from voice_assist.config import ProsodyOptions
from voice_assist.events import ProsodyFrame
from voice_assist.prosody.synth import CALM, synth_voice
from voice_assist.prosody.tracker import ProsodyTracker

SR = 16000


def run(y: np.ndarray, chunk: int, options: ProsodyOptions | None = None) -> list[ProsodyFrame]:
    tracker = ProsodyTracker(call_id="c1", channel="agent", options=options or ProsodyOptions())
    out: list[ProsodyFrame] = []
    for i in range(0, y.size, chunk):
        out.extend(tracker.feed(y[i : i + chunk]))
    out.extend(tracker.finish())
    return out


def test_one_frame_per_hop_at_window_ends() -> None:
    y = synth_voice(5.0, style=CALM, seed=3)
    frames = run(y, 320)
    assert [f.t_ms for f in frames] == list(range(250, 5001, 250))
    assert all(f.call_id == "c1" and f.channel == "agent" for f in frames)
    assert sum(f.voiced for f in frames) >= 15


def test_chunk_size_does_not_change_the_result() -> None:
    y = synth_voice(4.0, style=CALM, seed=4)
    a = run(y, y.size)
    b = run(y, 160)
    c = run(y, 1237)
    assert [f.t_ms for f in a] == [f.t_ms for f in b] == [f.t_ms for f in c]
    for fa, fb, fc in zip(a, b, c, strict=True):
        for key, va in fa.features.items():
            for other in (fb.features[key], fc.features[key]):
                assert (math.isnan(va) and math.isnan(other)) or other == pytest.approx(
                    va, abs=1e-6
                )


def test_finish_flushes_a_last_short_hop() -> None:
    y = synth_voice(1.4, style=CALM, seed=5)
    frames = run(y, 320)
    assert [f.t_ms for f in frames] == [250, 500, 750, 1000, 1250, 1400]


def test_very_short_and_empty_input() -> None:
    assert run(np.zeros(0, dtype=np.float32), 320) == []
    tiny = run(np.full(100, 0.1, dtype=np.float32), 320)  # 6 ms: not even one frame
    assert all(not f.voiced for f in tiny)
    short = run(synth_voice(0.2, style=CALM), 320)
    assert len(short) <= 1


def test_nan_and_inf_samples_are_silence_not_a_crash() -> None:
    y = synth_voice(3.0, style=CALM, seed=6)
    y[8000:24000] = np.nan
    y[30000:30010] = np.inf
    frames = run(y, 320)
    assert len(frames) == 12
    for f in frames:
        for v in f.features.values():
            assert not math.isinf(v)
    assert frames[5].t_ms == 1500 and not frames[5].voiced  # its window 0.5-1.5 s was NaN


def test_clipping_input_is_handled() -> None:
    y = np.clip(40.0 * synth_voice(3.0, style=CALM, seed=7), -1.0, 1.0)
    frames = run(y.astype(np.float32), 320)
    assert len(frames) == 12
    assert all(f.features["rms_dbfs"] <= 0.0 for f in frames if f.voiced)


def test_feed_after_finish_is_an_error() -> None:
    tracker = ProsodyTracker(call_id="c", channel="customer", options=ProsodyOptions())
    tracker.finish()
    with pytest.raises(RuntimeError):
        tracker.feed(np.zeros(10, dtype=np.float32))
    assert tracker.finish() == []


def test_other_input_rates_and_options() -> None:
    y16 = synth_voice(3.0, style=CALM, seed=8)
    y8 = y16[::2].copy()
    tracker = ProsodyTracker(
        call_id="c", channel="customer", options=ProsodyOptions(), sample_rate_hz=8000
    )
    frames = tracker.feed(y8) + tracker.finish()
    assert [f.t_ms for f in frames] == list(range(250, 3001, 250))
    fast = run(y16, 320, ProsodyOptions(hop_ms=100, window_ms=500))
    assert [f.t_ms for f in fast][:3] == [100, 200, 300]


def test_frames_go_through_the_wire() -> None:
    frames = run(np.zeros(SR, dtype=np.float32), 320)
    msg = wire.to_wire(frames[-1], seq=1)
    assert msg["type"] == "prosody" and msg["features"]["f0_st"] is None
    back = wire.from_wire(msg)
    assert isinstance(back, ProsodyFrame) and back.t_ms == frames[-1].t_ms
