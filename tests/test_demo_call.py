"""The bundled demo call: its script tells the story, its audio is what the script makes,
and the live pipeline hears it (WER) and coaches it as the story intends."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from benchmarks import demo_call
from voice_assist.coach.acknowledgement import find_acknowledgement
from voice_assist.coach.script_lines import is_complaint, stock_reply_word
from voice_assist.distress.lexicon import load_lexicon
from voice_assist.server.ingest_client import DEMO_CALL_JSON, DEMO_CALL_WAV, load_demo_call

LEXICON = Path(__file__).resolve().parent.parent / "voice_assist/data/distress_lexicon.toml"


def committed_meta() -> dict:
    return json.loads(DEMO_CALL_JSON.read_text())


def test_script_tells_the_story() -> None:
    labelled = [t for t in demo_call.SCRIPT if t.label]
    assert tuple(t.label for t in labelled) == demo_call.STORY_LABELS
    labels = [t.label for t in demo_call.SCRIPT]
    first_upset = labels.index("distressed")
    # a calm start long enough for the caller's baseline, before anything goes wrong
    assert labels[:first_upset].count("calm") == 3
    assert all(t.role != "customer_upset" for t in demo_call.SCRIPT[:first_upset])
    # the upset turns are complaints with words the distress lexicon knows
    lexicon = load_lexicon(LEXICON)
    for turn in demo_call.SCRIPT:
        if turn.label == "distressed":
            assert turn.channel == "customer" and turn.role == "customer_upset"
            assert is_complaint(turn.text) and lexicon.match(turn.text)
    # the agent's stock reply comes right after the first outburst
    stock = demo_call.SCRIPT[first_upset + 1]
    assert (stock.channel, stock.label) == ("agent", "stock_reply")
    assert stock_reply_word(stock.text) == "fantastic"
    # then an acknowledgement that names the feeling, and the customer calms down
    ack = next(t for t in demo_call.SCRIPT if t.label == "acknowledgement")
    found = find_acknowledgement(ack.text)
    assert ack.channel == "agent" and found is not None and found.feeling
    after = demo_call.SCRIPT[demo_call.SCRIPT.index(ack) + 1 :]
    assert all(t.role != "customer_upset" for t in after)
    assert [t.label for t in after if t.channel == "customer"][0] == "calming"
    assert demo_call.SCRIPT[-1].label in ("", "calm")


def test_customer_and_agent_have_different_voices() -> None:
    cast = demo_call.CASTS[demo_call.DEFAULT_CAST]
    customer = {(cast[r].engine, cast[r].name) for r in demo_call.ROLES if r != "agent"}
    assert len(customer) == 1 and (cast["agent"].engine, cast["agent"].name) not in customer
    upset, calm = cast["customer_upset"], cast["customer_calm"]
    # upset = faster, higher, louder and tenser than the same caller calm
    assert upset.rate > calm.rate and upset.gain_db > calm.gain_db
    assert upset.pitch_cents > 0 or upset.f0_mean_hz > 0
    assert upset.treble_db > calm.treble_db


def test_committed_call_is_the_script() -> None:
    meta = committed_meta()
    assert meta["cast"] == demo_call.DEFAULT_CAST
    got = [(u["channel"], u["label"], u["text"]) for u in meta["utterances"]]
    assert got == [(t.channel, t.label, t.text) for t in demo_call.SCRIPT]
    call = load_demo_call()
    assert call.rate_hz == demo_call.RATE_HZ and call.duration_ms == meta["duration_ms"]
    starts = [u["start_ms"] for u in meta["utterances"]]
    assert starts == sorted(starts)
    for u in meta["utterances"]:  # each utterance is on its own leg, and nowhere else
        leg = call.audio[u["start_ms"] * 8 : u["end_ms"] * 8]
        own = 0 if u["channel"] == "customer" else 1
        assert abs(leg[:, own]).max() > 0.1 > abs(leg[:, 1 - own]).max()


@pytest.mark.skipif(
    shutil.which("flite") is None or shutil.which("sox") is None,
    reason="needs flite and sox (scripts/system-deps.sh)",
)
def test_synthesis_is_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "demo_call.wav"
    meta = demo_call.write(demo_call.DEFAULT_CAST, out)
    fresh, _ = sf.read(out, dtype="int16")
    if meta["tools"] == committed_meta()["tools"]:  # same flite and sox: the same samples
        committed, _ = sf.read(DEMO_CALL_WAV, dtype="int16")
        assert fresh.shape == committed.shape and (fresh == committed).all()
        assert json.loads(out.with_suffix(".json").read_text()) == committed_meta()
    else:  # other versions may differ from the committed file, but never run to run
        again = tmp_path / "again.wav"
        demo_call.write(demo_call.DEFAULT_CAST, again)
        assert (sf.read(again, dtype="int16")[0] == fresh).all()


@pytest.mark.model
def test_live_pipeline_hears_and_coaches_the_demo_call() -> None:
    """The real model on the bundled call (greedy decoding: the same words every run)."""
    from benchmarks.demo import WER_TARGET, measure_file
    from voice_assist.config import load_settings
    from voice_assist.runtime.engine import Engine

    async def main() -> dict:
        engine = await Engine.start(load_settings(env={}))
        try:
            return await measure_file(engine, DEMO_CALL_WAV)
        finally:
            await engine.close()

    result = asyncio.run(main())
    for channel, leg in result["legs"].items():
        assert leg["wer"] <= WER_TARGET, (channel, leg)
    coach = result["coach"]
    assert coach["pause_in_upset"], coach
    assert coach["pause_in_calm"] == 0, coach
    assert coach["stock_reply_flagged"], coach
    assert coach["episodes_total"] == 1 and coach["acknowledged"] == 1, coach
