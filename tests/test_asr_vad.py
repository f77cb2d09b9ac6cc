from __future__ import annotations

import numpy as np
from conftest import read16k

from voice_assist.asr.vad import CHUNK_SAMPLES, SileroStream, SpeechGate


def gate(**kw: int | float) -> SpeechGate:
    args = dict(
        threshold=0.5, neg_threshold=0.35, min_speech_ms=250, end_silence_ms=500, speech_pad_ms=0
    )
    args.update(kw)
    return SpeechGate(**args)  # type: ignore[arg-type]


def test_streaming_probabilities_do_not_depend_on_chunking() -> None:
    audio = read16k("utterance_en.flac")
    n = audio.size // CHUNK_SAMPLES * CHUNK_SAMPLES
    whole = SileroStream().feed(audio[:n])
    s = SileroStream()
    odd = np.concatenate([s.feed(audio[i : i + 777]) for i in range(0, n, 777)])
    assert odd.size == whole.size
    assert np.allclose(odd, whole, atol=1e-6)
    assert whole.max() > 0.9  # there is speech
    assert whole[:10].max() < 0.2  # the leading silence is not


def test_gate_needs_min_speech_and_end_silence() -> None:
    g = gate()
    probs = np.array([0.9] * 5 + [0.1] * 20, dtype=np.float32)  # 160 ms blip: too short
    assert g.feed(probs) == []
    probs = np.array([0.9] * 20 + [0.1] * 10 + [0.9] * 5 + [0.1] * 20, dtype=np.float32)
    changes = g.feed(probs)
    kinds = [c.kind for c in changes]
    assert kinds == ["start", "end"]  # a 320 ms pause does not end the utterance
    start, end = changes
    assert start.sample == 25 * CHUNK_SAMPLES
    assert end.sample == (25 + 35) * CHUNK_SAMPLES


def test_gate_hysteresis_keeps_speech_between_thresholds() -> None:
    g = gate()
    probs = np.array([0.9] * 10 + [0.4] * 40 + [0.1] * 20, dtype=np.float32)
    changes = g.feed(probs)
    assert [c.kind for c in changes] == ["start", "end"]
    assert changes[1].sample == 50 * CHUNK_SAMPLES  # 0.4 > neg_threshold: still speech


def test_silence_and_white_noise_open_no_gate() -> None:
    rng = np.random.default_rng(0)
    for audio in (
        np.zeros(16000 * 3, np.float32),
        (0.3 * rng.standard_normal(16000 * 3)).astype(np.float32),
    ):
        probs = SileroStream().feed(audio)
        assert gate().feed(probs) == []


def test_the_recurrent_state_restarts_after_half_a_second_of_quiet() -> None:
    """After 16 quiet chunks the stream scores as a fresh one fed from that point."""
    speech = read16k("utterance_en.flac")
    audio = np.concatenate([speech, np.zeros(16000 * 2, np.float32), speech])
    n = audio.size // CHUNK_SAMPLES * CHUNK_SAMPLES
    probs = SileroStream(reset_after_quiet_chunks=16).feed(audio[:n])
    quiet = 0
    resets = []
    for k, p in enumerate(probs):
        quiet = quiet + 1 if p < 0.35 else 0
        if quiet == 16:
            resets.append(k)
    gap_end = (speech.size + 16000 * 2) // CHUNK_SAMPLES
    last = max(k for k in resets if k < gap_end)  # in the quiet before the second utterance
    upto = min((k for k in resets if k > last), default=probs.size)  # the next reset
    fresh = SileroStream(reset_after_quiet_chunks=0).feed(audio[(last + 1) * CHUNK_SAMPLES : n])
    span = slice(0, upto - last)
    assert np.allclose(probs[last + 1 : upto + 1], fresh[span], atol=1e-6)
    carried = SileroStream(reset_after_quiet_chunks=0).feed(audio[:n])  # never reset
    assert not np.allclose(carried[last + 1 : upto + 1], fresh[span], atol=1e-6)
    assert np.allclose(carried[: resets[0] + 1], probs[: resets[0] + 1])  # same until then
