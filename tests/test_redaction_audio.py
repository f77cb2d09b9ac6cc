"""The archive audio gate: audio waits for its finals, redacted words become silence."""

from __future__ import annotations

import numpy as np

from voice_assist.redaction.audio import AudioChunk, AudioGate

SR = 16000


def ramp(ms: int, start: int = 0) -> np.ndarray:
    """Non-zero samples whose values say their position (sample index + 1) / 1e6."""
    n = SR * ms // 1000
    return ((np.arange(start, start + n) + 1) / 1e6).astype(np.float32)


def joined(chunks: list[AudioChunk], channel: str) -> np.ndarray:
    parts = [c.samples for c in chunks if c.channel == channel]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def gate(**kw: int) -> AudioGate:
    opts = {"margin_ms": 100, "max_hold_ms": 20_000, "guard_ms": 1000} | kw
    return AudioGate(**opts)


def test_audio_waits_for_its_final_and_redacted_words_are_muted() -> None:
    g = gate()
    out = g.push("customer", ramp(5000)) + g.push("agent", ramp(5000))
    out += g.settle("customer", idle=False, hold_from_ms=None)
    assert out == []  # nothing is known yet: nothing is written
    g.mute("customer", 2000, 3000)
    g.covered("customer", 4000)
    g.covered("agent", 4500)
    out = g.settle("customer", idle=False, hold_from_ms=None)
    customer, agent = joined(out, "customer"), joined(out, "agent")
    assert len(customer) == len(agent) == SR * 3900 // 1000  # both legs, to 4 s less margin
    expected = ramp(3900)
    expected[SR * 1900 // 1000 : SR * 3100 // 1000] = 0.0  # the span and 100 ms each side
    np.testing.assert_array_equal(customer, expected)
    np.testing.assert_array_equal(agent, ramp(3900))
    rest = joined(g.finish(), "customer")
    np.testing.assert_array_equal(rest[:1600], ramp(4000)[-1600:])  # settled, in the margin
    np.testing.assert_array_equal(rest[1600:], np.zeros(SR))  # never settled: silence
    assert g.forced_ms == 1000 + 500  # the agent leg was covered to 4.5 s


def test_an_idle_leg_is_settled_up_to_the_guard() -> None:
    g = gate()
    g.push("customer", ramp(3000))
    out = g.settle("customer", idle=True, hold_from_ms=None)
    assert len(joined(out, "customer")) == SR * (3000 - 1000 - 100) // 1000
    out = g.settle("customer", idle=True, hold_from_ms=None, final=True)
    out += g.finish()
    assert g.forced_ms == 0 and len(joined(out, "customer")) == SR * 1100 // 1000


def test_a_held_final_keeps_its_audio_back() -> None:
    g = gate()
    g.push("customer", ramp(6000))
    g.covered("customer", 6000)
    out = g.settle("customer", idle=True, hold_from_ms=1500)
    assert len(joined(out, "customer")) == SR * 1400 // 1000
    g.mute("customer", 1500, 2500)  # the held final turned out to be a card number
    out = g.settle("customer", idle=True, hold_from_ms=None, final=True) + g.finish()
    x = joined(out, "customer")
    cut = SR * 1200 // 1000  # 1.4-2.6 s: the span and its margins
    assert np.all(x[:cut] == 0.0) and np.all(x[cut:] != 0.0)
    assert g.late_spans == 0 and g.forced_ms == 0


def test_the_hold_is_bounded_and_fails_closed() -> None:
    g = gate(max_hold_ms=2000)
    out: list[AudioChunk] = []
    for k in range(10):  # 5 s of one long utterance, no final yet
        out += g.push("customer", ramp(500, start=k * 8000))
    x = joined(out, "customer")
    assert len(x) == SR * 3000 // 1000 and not x.any()  # the oldest 3 s, as silence
    assert g.forced_ms == 3000 and g.held_samples == SR * 2000 // 1000


def test_a_span_already_written_is_counted() -> None:
    g = gate()
    g.push("customer", ramp(3000))
    g.settle("customer", idle=True, hold_from_ms=None, final=True)
    g.mute("customer", 500, 800)
    assert g.late_spans == 1


def test_one_leg_alone_is_not_held_for_the_other() -> None:
    g = gate()
    g.push("customer", ramp(2000))
    g.covered("customer", 2000)
    out = g.settle("customer", idle=False, hold_from_ms=None)
    assert len(joined(out, "customer")) == SR * 1900 // 1000


def test_speech_right_after_a_card_number_is_silenced_until_the_next_final() -> None:
    g = gate(margin_ms=0)
    g.push("customer", ramp(8000))
    g.covered("customer", 2000)
    g.mute_after("customer", 2000, 3000)  # a final ended in a card number at 2 s
    g.next_final("customer", 4000)  # the next final's audio starts at 4 s
    g.covered("customer", 6000)
    x = joined(g.settle("customer", idle=False, hold_from_ms=None), "customer")
    assert np.all(x[SR * 2 : SR * 4] == 0.0)
    assert np.all(x[: SR * 2] != 0.0) and np.all(x[SR * 4 :] != 0.0)


def test_without_a_next_final_the_whole_reach_is_silenced() -> None:
    g = gate(margin_ms=0)
    g.push("customer", ramp(8000))
    g.covered("customer", 2000)
    g.mute_after("customer", 2000, 3000)  # the rest of the number never became a final
    out = g.settle("customer", idle=True, hold_from_ms=None, final=True) + g.finish()
    x = joined(out, "customer")
    assert np.all(x[SR * 2 : SR * 5] == 0.0) and np.all(x[SR * 5 :] != 0.0)
