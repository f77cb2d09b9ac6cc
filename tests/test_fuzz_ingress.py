"""Property-based fuzzing of the ingress adapters (native, Twilio, AudioHook), sans-I/O.

Hypothesis generates malformed JSON, wrong types, huge strings, odd and oversized binary
frames, bad base64, sequence gaps and messages in any order; the drivers in
:mod:`benchmarks.fuzzing` check that every input is either handled or rejected
with a :class:`ProtocolError` (and the adapter's own error/close), that replies are
strict JSON, audio is bounded and finite, and a call ends exactly once.  The example
budget here is modest; ``voice-assist bench fuzz --json`` runs a larger one and counts.
"""

from __future__ import annotations

import collections
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import fuzzing

FUZZ_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("target", sorted(fuzzing.INGRESS_TARGETS))
@FUZZ_SETTINGS
@given(data=st.data(), open_ok=st.booleans())
def test_ingress_adapter_survives_anything(target: str, data: st.DataObject, open_ok: bool) -> None:
    kind, sequences = fuzzing.INGRESS_TARGETS[target]
    steps = data.draw(sequences, label="steps")
    fuzzing.drive_ingress(kind, steps, fuzzing.Tally(), open_ok=open_ok)


def _driver(kind: str, sequences: Any, tally: fuzzing.Tally) -> Any:
    @settings(FUZZ_SETTINGS, max_examples=60, derandomize=True, database=None)
    @given(steps=sequences, open_ok=st.booleans())
    def drive(steps: Any, open_ok: bool) -> None:
        fuzzing.drive_ingress(kind, steps, tally, open_ok=open_ok)

    return drive


def test_the_fuzzing_reaches_the_adapters() -> None:
    """The generated inputs are rejected in many ways and also open calls (not only
    junk): a fixed, derandomized run of its own, whatever else ran before."""
    tallies = {target: fuzzing.Tally() for target in fuzzing.INGRESS_TARGETS}
    for target, (kind, sequences) in sorted(fuzzing.INGRESS_TARGETS.items()):
        _driver(kind, sequences, tallies[target])()
    codes = collections.Counter[str]()
    for tally in tallies.values():
        codes.update(tally.rejections)
    assert len(codes) >= 5, codes
    assert sum(t.calls_opened for t in tallies.values()) > 0


# -- inputs that escaped as crashes before they were fixed, kept as plain examples ----------
def test_ping_with_a_nan_or_infinite_id_gets_a_strict_json_pong() -> None:
    tally = fuzzing.Tally()
    for raw in ('{"type": "ping", "id": NaN}', '{"type": "ping", "id": 1e999}',
                '{"type": "ping", "id": 123456789012345678901234567890}'):  # fmt: skip
        fuzzing.drive_ingress("native", [("text", raw)], tally)


def test_twilio_event_of_the_wrong_type_is_a_protocol_error() -> None:
    tally = fuzzing.Tally()
    for event in ([], {}, 7, None):
        fuzzing.drive_ingress("twilio", [("text", json.dumps({"event": event}))], tally)
    assert tally.rejections["bad_message"] == 4


def test_audiohook_absurd_position_is_a_protocol_error() -> None:
    tally = fuzzing.Tally()
    huge = dict(fuzzing._open_spec(), position="PT" + "9" * 400 + "S")
    fuzzing.drive_ingress("audiohook", [("ah", huge)], tally)
    assert tally.rejections["bad_message"] == 1


def test_client_chatter_is_bounded() -> None:
    """Marks and client error reports are kept, but only the latest few."""
    from voice_assist.server.audiohook import MAX_CLIENT_ERRORS, AudioHookProtocol
    from voice_assist.server.twilio import MAX_MARKS, TwilioProtocol

    twilio = TwilioProtocol()
    for i in range(MAX_MARKS * 3):
        twilio.receive_text(json.dumps({"event": "mark", "mark": {"name": f"m{i}"}}))
    assert len(twilio.marks) == MAX_MARKS and twilio.marks[-1] == f"m{MAX_MARKS * 3 - 1}"
    hook = AudioHookProtocol()
    report = {"code": 500, "message": "x" * 10_000}
    for seq in range(1, MAX_CLIENT_ERRORS * 3):
        envelope = {"version": "2", "id": "s", "type": "error", "seq": seq, "serverseq": 0}
        hook.receive_text(json.dumps({**envelope, "position": "PT0S", "parameters": report}))
    assert len(hook.client_errors) == MAX_CLIENT_ERRORS
    assert all(len(e) <= 250 for e in hook.client_errors)


def test_text_no_store_can_keep_is_refused_at_the_edge() -> None:
    """A lone surrogate (not UTF-8) or a NUL (PostgreSQL) in an agent id or metadata once
    made a whole call unstorable; such messages are now malformed.  Real text passes."""
    from voice_assist.errors import ProtocolError
    from voice_assist.server.native import NativeProtocol

    media = '"media": {"encoding": "pcm_s16le", "sample_rate": 16000}'
    for bad in ('"agent_id": "a\\ud800"', '"agent_id": "a", "custom": {"n": "x\\u0000"}',
                '"agent_id": "a", "custom": {"\\udfff": "key"}'):  # fmt: skip
        with pytest.raises(ProtocolError) as info:
            NativeProtocol().receive_text('{"type": "start", ' + media + ", " + bad + "}")
        assert info.value.code == "malformed_json"
    emoji_agent = '"agent_id": "a\\ud83d\\ude00"'
    literal_escape = '"custom": {"p": "\\\\u0000"}'  # a backslash, then u0000: just text
    fine = NativeProtocol().receive_text(
        '{"type": "start", ' + media + ", " + emoji_agent + ", " + literal_escape + "}"
    )
    (start,) = fine
    assert start.agent_id == "a\U0001f600" and start.meta["p"] == "\\u0000"  # type: ignore[union-attr]
