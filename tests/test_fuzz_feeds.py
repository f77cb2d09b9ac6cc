"""Property-based fuzzing of the overlay (``/v1/agent``) and wall-board (``/v1/supervisor``)
message handlers: whatever a client sends, the feed's reader answers with strict JSON
errors or replies, acts only on its own calls, and never raises.

The feed, its outbox and the event bus are the real ones; only the network is a
scripted stand-in (:class:`benchmarks.fuzzing.ScriptedSocket`).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import fuzzing


@pytest.mark.parametrize("target", sorted(fuzzing.FEED_TARGETS))
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_feed_reader_survives_anything(target: str, data: st.DataObject) -> None:
    kind, sequences = fuzzing.FEED_TARGETS[target]
    steps = data.draw(sequences, label="steps")
    asyncio.run(fuzzing.drive_feed(kind, steps, fuzzing.Tally()))


def test_ping_ids_and_bad_messages_are_answered_in_strict_json() -> None:
    steps: list[fuzzing.Step] = [
        ("text", '{"type": "ping", "id": NaN}'),
        ("text", '{"type": "ping", "id": 1e999}'),
        ("text", json.dumps({"type": "subscribe", "calls": [[1], {"a": 2}]})),
        ("text", json.dumps({"type": "focus", "call_id": ["x"]})),
        ("bytes", b"\xff" * 10),
        ("text", "x" * 5000),
    ]
    tally = fuzzing.Tally()
    for kind in ("agent", "supervisor"):
        asyncio.run(fuzzing.drive_feed(kind, steps, tally))
    assert tally.rejections["bad_message"] >= 4


def test_too_many_bad_messages_close_the_feed() -> None:
    tally = fuzzing.Tally()
    asyncio.run(fuzzing.drive_feed("agent", [("text", "nope")] * 25, tally))
    assert tally.rejections["bad_message"] >= 20
