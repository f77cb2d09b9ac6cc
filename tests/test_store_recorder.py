"""Call store: recording a call through CallRecorder and reading it back (SQLite)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voice_assist import events as ev
from voice_assist.config import StoreOptions, load_settings
from voice_assist.errors import CallNotFoundError, StoreError
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.store import InvalidCallIdError, Store, validate_call_id
from voice_assist.store.queue import WriteQueue
from voice_assist.store.recorder import CallRecorder
from voice_assist.store.writer import StoreWriter

SR = 16000


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(StoreOptions(), data_dir=tmp_path / "data")
    yield s
    s.close()


def test_open_uses_settings_data_dir_and_env_url(tmp_path: Path) -> None:
    settings = load_settings(env={"VOICE_ASSIST_DATA_DIR": str(tmp_path / "d")})
    with Store.open(settings) as s:
        assert s.data_dir == tmp_path / "d"
        assert (tmp_path / "d" / "calls.db").exists()
        assert (tmp_path / "d" / "audio").is_dir()
    url = f"sqlite:///{tmp_path / 'other.db'}"
    settings = load_settings(
        env={"VOICE_ASSIST_DATA_DIR": str(tmp_path / "d"), "VOICE_ASSIST_DATABASE_URL": url}
    )
    with Store.open(settings) as s:
        assert s.url == url
    assert (tmp_path / "other.db").exists()


def test_synthetic_call_round_trip(store: Store) -> None:
    rec = store.recorder("call-1", agent_id="a42", source="file", meta={"queue": "billing"})
    counts = synthetic_call(rec, call_id="call-1", duration_s=40, seed=3, episode_every_s=30)
    rec.close("hangup")
    store.flush()

    call = store.get_call("call-1")
    assert call.status == "ended"
    assert call.end_reason == "hangup"
    assert call.agent_id == "a42" and call.source == "file"
    assert call.meta == {"queue": "billing"}
    assert call.duration_ms == 40000
    assert call.max_distress is not None and call.max_distress > 0.6
    assert call.dropped_items == 0 and call.dropped_audio_ms == 0
    assert call.audio_state == "final"
    assert call.audio_frames == 40 * SR

    transcript = store.transcript("call-1")
    assert len(transcript) == counts["utterances"] > 4
    assert {u["channel"] for u in transcript} == {"customer", "agent"}
    assert [u["start_ms"] for u in transcript] == sorted(u["start_ms"] for u in transcript)
    first = transcript[0]
    assert first["words"] and first["words"][0]["start_ms"] >= first["start_ms"]

    # 4 Hz timeline: one row per 250 ms, both legs' pitch and loudness, distress max
    tl = store.timeline("call-1")
    assert len(tl["t_ms"]) == 160
    assert tl["t_ms"][:3] == [0, 250, 500]
    assert any(v is not None for v in tl["customer_pitch_st"])
    assert any(v is not None for v in tl["agent_pitch_st"])
    assert all(v is not None for v in tl["customer_loudness_db"])
    assert max(v for v in tl["distress"] if v is not None) == pytest.approx(call.max_distress)

    episodes = store.episodes("call-1")
    assert len(episodes) == counts["episodes"] >= 1
    assert episodes[0]["end_ms"] is None or episodes[0]["end_ms"] > episodes[0]["start_ms"]
    prompts = store.prompts("call-1")
    assert len(prompts) == counts["prompts"]
    p1 = prompts[0]
    assert p1["episode_id"] == episodes[0]["episode_id"]
    assert p1["shown_ms"] == p1["t_ms"] + 180
    assert p1["followed"] and p1["ack_action"] == "followed" and p1["clear_reason"] == "followed"
    assert p1["response_ms"] == p1["ack_ms"] - p1["t_ms"]
    empathy = store.empathy("call-1")
    assert empathy is not None and empathy["episodes"] == counts["episodes"]
    assert empathy["acknowledged"] == 1 and len(empathy["ack_latency_ms"]) == 1

    listing = store.list_calls()
    assert listing.total == 1
    assert listing.calls[0].episodes == counts["episodes"]
    assert listing.calls[0].acknowledged == 1

    # all events but prosody frames are kept in order, as wire messages
    msgs = list(store.iter_events("call-1"))
    assert msgs[0]["type"] == "call_started" and msgs[-1]["type"] == "call_ended"
    assert [m["seq"] for m in msgs] == sorted(m["seq"] for m in msgs)
    assert "prosody" not in {m["type"] for m in msgs}

    audio, sr = sf.read(store.audio_path("call-1"), dtype="float32", always_2d=True)
    assert sr == SR and audio.shape == (40 * SR, 2)
    wave = store.waveform("call-1")
    assert wave.hop_ms == 50 and len(wave.customer) == len(wave.agent) == 800
    assert wave.customer.max() > 0.2


def test_timeline_buckets_mean_pitch_and_max_distress(store: Store) -> None:
    rec = store.recorder("tl", agent_id="a", source="native")
    for t in range(0, 2000, 100):
        for ch, pitch in (("customer", 20.0 + t / 1000), ("agent", 12.0)):
            loud = -10.0 if ch == "customer" else math.nan
            rec.on_event(
                ev.ProsodyFrame(
                    call_id="tl", t_ms=t, channel=ch, voiced=ch == "customer" or t >= 1000,
                    features={"f0_st": pitch, "loudness_db": loud},
                )
            )  # fmt: skip
        rec.on_event(
            ev.DistressUpdate(
                call_id="tl", t_ms=t, channel="customer", score=t / 10000, level="calm",
                provisional=False, features={},
            )
        )  # fmt: skip
    rec.close()
    store.flush()
    tl = store.timeline("tl")
    assert tl["t_ms"] == [0, 250, 500, 750, 1000, 1250, 1500, 1750]
    # bucket 0 holds frames at 0, 100, 200 ms
    assert tl["customer_pitch_st"][0] == pytest.approx(20.1)
    assert tl["distress"][0] == pytest.approx(0.02)  # max of 0, .01, .02
    assert tl["customer_loudness_db"][0] == pytest.approx(-10.0)
    assert tl["agent_loudness_db"][0] is None  # NaN feature -> no value
    assert tl["agent_pitch_st"][0] is None  # unvoiced
    assert tl["agent_pitch_st"][4] == pytest.approx(12.0)


def test_audio_legs_aligned_and_shorter_leg_padded(store: Store) -> None:
    rec = store.recorder("aud", agent_id="a", source="native")
    cust = np.linspace(-0.5, 0.5, SR, dtype=np.float32)
    agent = np.full(SR // 2, 0.25, dtype=np.float32)
    for i in range(0, SR, 1600):
        rec.on_audio("customer", cust[i : i + 1600])
    rec.on_audio("agent", agent)
    rec.close()
    store.flush()
    data, _ = sf.read(store.audio_path("aud"), dtype="float32", always_2d=True)
    assert data.shape == (SR, 2)
    np.testing.assert_allclose(data[:, 0], cust, atol=1e-4)
    np.testing.assert_allclose(data[: SR // 2, 1], 0.25, atol=1e-4)
    assert np.all(data[SR // 2 :, 1] == 0)


def test_absent_leg_is_padded_as_it_goes(tmp_path: Path) -> None:
    """A mono source (no agent leg): the file grows anyway, silence in the agent channel."""
    with Store.open(StoreOptions(), data_dir=tmp_path) as s:
        rec = s.recorder("mono", agent_id="a", source="file")
        for _ in range(150):  # 15 s, more than the 10 s skew allowance
            rec.on_audio("customer", np.full(1600, 0.1, np.float32))
        s.flush()
        assert s.get_call("mono").audio_frames >= 4 * SR  # written before the end
        late = np.full(SR, 0.3, np.float32)  # agent's first second arrives late
        rec.on_audio("agent", late)
        rec.close()
        s.flush()
        data, _ = sf.read(s.audio_path("mono"), dtype="float32", always_2d=True)
    assert data.shape[0] == 15 * SR
    # the late agent samples covering already-written frames were dropped to keep alignment
    assert np.all(data[: 5 * SR, 1] == 0)


def test_call_ids_are_validated(store: Store) -> None:
    for bad in ("../etc/passwd", "a/b", "", "x" * 65, "sp ace", "dot.dot", "nul\0"):
        with pytest.raises(InvalidCallIdError):
            store.recorder(bad, agent_id="a", source="file")
        with pytest.raises(CallNotFoundError):
            store.get_call(bad)
    assert validate_call_id("A-z_09") == "A-z_09"
    rec = store.recorder(agent_id="a", source="file")
    assert len(rec.call_id) == 32
    rec.close()


def test_same_id_twice(store: Store) -> None:
    rec = store.recorder("dup", agent_id="a", source="file")
    with pytest.raises(StoreError, match="already being recorded"):
        store.recorder("dup", agent_id="b", source="file")
    rec.on_event(ev.CallStarted(call_id="dup", t_ms=0, agent_id="a", source="file"))
    rec.close()
    store.flush()
    again = store.recorder("dup", agent_id="b", source="file")  # stored before: refused
    again.on_event(ev.CallStarted(call_id="dup", t_ms=0, agent_id="b", source="file"))
    again.close()
    store.flush()
    assert store.get_call("dup").agent_id == "a"
    assert len(list(store.iter_events("dup"))) == 1


def test_events_of_other_calls_are_ignored(store: Store) -> None:
    rec = store.recorder("mine", agent_id="a", source="file")
    rec.on_event(ev.CallStarted(call_id="other", t_ms=0, agent_id="a", source="file"))
    rec.close()
    store.flush()
    assert list(store.iter_events("mine")) == []


def test_close_marks_open_calls_interrupted(tmp_path: Path) -> None:
    s = Store.open(StoreOptions(), data_dir=tmp_path)
    rec = s.recorder("open", agent_id="a", source="native")
    rec.on_audio("customer", np.zeros(1600, np.float32))
    rec.on_audio("agent", np.zeros(1600, np.float32))
    s.close()
    with Store.open(StoreOptions(), data_dir=tmp_path) as s2:
        call = s2.get_call("open")
        assert call.status == "interrupted"
        assert call.audio_state == "final"


def test_write_queue_policy() -> None:
    q = WriteQueue(4)
    from voice_assist.store.queue import Barrier

    assert all(q.put(Barrier(), essential=False) for _ in range(4))
    assert not q.put(Barrier(), essential=False)  # soft bound: low priority refused
    assert all(q.put(Barrier(), essential=True) for _ in range(4))  # essential up to 2x
    assert not q.put(Barrier(), essential=True)
    assert len(q.get_batch(3, 0.0) or []) == 3
    assert q.put(Barrier(), essential=True)
    q.close()
    assert not q.put(Barrier(), essential=True)
    assert len(q.get_batch(100, 0.0) or []) == 6
    assert q.get_batch(100, 0.0) is None


def test_full_queue_drops_are_counted_and_audio_stays_aligned(tmp_path: Path) -> None:
    """A writer that cannot keep up: low-priority rows and audio are dropped and counted,
    finals are kept, and the dropped audio becomes silence in the archive."""
    with Store.open(StoreOptions(queue_max_items=6), data_dir=tmp_path) as s:
        # a second writer on the same store, not started yet: it stands for a stalled disk
        writer = StoreWriter(
            s._write_engine, audio_dir=s.audio_dir, queue_max_items=6, timeline_hz=4.0,
            live_stale_s=60.0,
        )  # fmt: skip
        from voice_assist.store.queue import OpenCall

        writer.put(OpenCall("slow", "a", "native", {}, 0), essential=True)
        rec = CallRecorder(writer, "slow")
        for _ in range(5):  # 5 + open = 6 items: the queue is at its soft bound
            rec.on_audio("customer", np.full(1600, 0.5, np.float32))
        rec.on_audio("customer", np.full(1600, 0.5, np.float32))  # refused
        rec.on_audio("agent", np.full(1600, 0.5, np.float32))  # refused
        rec.on_event(
            ev.DistressUpdate(call_id="slow", t_ms=0, channel="customer", score=0.2,
                              level="calm", provisional=False, features={})
        )  # fmt: skip
        final = ev.TranscriptEvent(
            call_id="slow", t_ms=900, channel="customer", utterance_id="u1", is_final=True,
            text="still here", start_ms=0, end_ms=900,
        )  # fmt: skip
        rec.on_event(final)  # essential: accepted over the soft bound
        assert rec.dropped_items == 1
        assert rec.dropped_audio_samples == 3200
        writer.start()
        rec.on_audio("customer", np.full(1600, 0.5, np.float32))
        rec.on_audio("agent", np.full(1600, 0.5, np.float32))
        rec.close()
        assert writer.flush()
        writer.stop()
        call = s.get_call("slow")
        assert call.dropped_items == 1 and call.dropped_audio_ms == 200
        assert [u["text"] for u in s.transcript("slow")] == ["still here"]
        data, _ = sf.read(s.audio_path("slow"), dtype="float32", always_2d=True)
    # customer: 5 chunks, the dropped one as silence, 1 chunk; agent: its dropped first
    # chunk as silence, its second chunk, then padding to the customer's length
    assert data.shape[0] == 7 * 1600
    assert np.all(data[5 * 1600 : 6 * 1600, 0] == 0)
    assert np.all(data[6 * 1600 :, 0] > 0.4)
    assert np.all(data[:1600, 1] == 0) and np.all(data[1600:3200, 1] > 0.4)
    assert np.all(data[3200:, 1] == 0)


def test_archive_audio_off(tmp_path: Path) -> None:
    with Store.open(StoreOptions(archive_audio=False), data_dir=tmp_path) as s:
        rec = s.recorder("quiet", agent_id="a", source="file")
        rec.on_audio("customer", np.ones(1600, np.float32))
        rec.close()
        s.flush()
        assert s.get_call("quiet").audio_state == "none"
        assert not (tmp_path / "audio" / "quiet.flac").exists()
