"""Several server processes (workers) sharing one call database, here one SQLite file.

Each worker has its own :class:`Store` (engines, writer thread) on the same database and
data directory; two in one test process stand in for two processes.  The helpers take a
URL, and :mod:`test_store_postgres` runs them against a real PostgreSQL server too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa

from voice_assist import events as ev
from voice_assist.config import StoreOptions
from voice_assist.store import Store, schema, writer
from voice_assist.store.database import make_engine
from voice_assist.store.recorder import CallRecorder
from voice_assist.store.writer import mark_stale_calls

SR = 16000
COLLISION = "is already stored (another process or an earlier call); this call is not recorded"


def _record(store: Store, call_id: str, agent: str, *, tone: float, seconds: int) -> CallRecorder:
    """Start ``call_id`` as ``agent``: its call_started event and ``seconds`` of a constant
    ``tone`` on both legs (left open: the caller ends it with :func:`_end`)."""
    rec = store.recorder(call_id, agent_id=agent, source="native", backpressure=True)
    rec.on_event(ev.CallStarted(call_id=call_id, t_ms=0, agent_id=agent, source="native"))
    samples = np.full(seconds * SR, tone, np.float32)
    rec.on_audio("customer", samples)
    rec.on_audio("agent", samples)
    return rec


def _end(rec: CallRecorder, *, seconds: int) -> None:
    rec.on_event(
        ev.CallEnded(call_id=rec.call_id, t_ms=seconds * 1000, reason="hangup",
                     duration_ms=seconds)
    )  # fmt: skip
    rec.close("hangup")


def collide_on_one_id(url: str, data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Worker B opens a call id worker A is recording: B logs the collision and stores
    nothing, not a row, not an event, not a byte of A's audio archive."""
    caplog.set_level(logging.ERROR, logger="voice_assist.store.writer")
    opts = StoreOptions(database_url=url)
    with Store.open(opts, data_dir=data_dir) as a, Store.open(opts, data_dir=data_dir) as b:
        first = _record(a, "shared-1", "first", tone=0.25, seconds=2)
        a.flush()
        flac = a.audio_dir / "shared-1.flac"
        before = flac.read_bytes()

        second = _record(b, "shared-1", "second", tone=0.75, seconds=3)
        b.flush()
        assert flac.read_bytes() == before  # not reopened, not truncated
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [f"store: call id shared-1 {COLLISION}"]
        _end(second, seconds=3)
        b.flush()
        assert a.get_call("shared-1").status == "live"  # B's end did not end A's call

        _end(first, seconds=2)
        a.flush()
        call = a.get_call("shared-1")
        assert (call.agent_id, call.status, call.audio_frames) == ("first", "ended", 2 * SR)
        bodies = list(a.iter_events("shared-1"))
        assert [m["type"] for m in bodies] == ["call_started", "call_ended"]
        assert bodies[0]["agent_id"] == "first" and bodies[1]["duration_ms"] == 2
        audio, rate = sf.read(str(a.audio_path("shared-1")), dtype="float32")
        assert rate == SR and audio.shape == (2 * SR, 2)
        assert np.allclose(audio, 0.25, atol=1e-3)
        assert a.failed_statements == b.failed_statements == 0


def race_to_open(url: str, data_dir: Path, caplog: pytest.LogCaptureFixture, n: int = 10) -> None:
    """Two workers open the same ``n`` ids at once: each id is recorded by exactly one,
    and every loser says so in the collision message (not a generic database error)."""
    caplog.set_level(logging.ERROR, logger="voice_assist.store.writer")
    opts = StoreOptions(database_url=url)
    ids = [f"race-{i}" for i in range(n)]
    with Store.open(opts, data_dir=data_dir) as a, Store.open(opts, data_dir=data_dir) as b:
        start = threading.Barrier(2)

        def open_all(store: Store, agent: str) -> None:
            start.wait()
            tone = 0.25 if agent == "a" else 0.75
            recs = [_record(store, cid, agent, tone=tone, seconds=1) for cid in ids]
            store.flush()
            for rec in recs:
                _end(rec, seconds=1)
            store.flush()

        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(open_all, a, "a"), pool.submit(open_all, b, "b")]:
                f.result(timeout=120)
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert sorted(errors) == sorted(f"store: call id {cid} {COLLISION}" for cid in ids)
        for cid in ids:
            call = a.get_call(cid)
            assert call.status == "ended" and call.agent_id in ("a", "b")
            [started, _] = a.iter_events(cid)
            assert started["agent_id"] == call.agent_id
            audio, _ = sf.read(str(a.audio_path(cid)), dtype="float32")
            assert np.allclose(audio, 0.25 if call.agent_id == "a" else 0.75, atol=1e-3)


def insert_stale_live(engine: sa.Engine, ids: list[str]) -> None:
    """Calls left ``live`` by a dead worker: heartbeats from 1970."""
    with engine.begin() as conn:
        conn.execute(schema.calls.insert(), [{
            "id": cid, "agent_id": "gone", "source": "native", "started_at_ms": 0,
            "duration_ms": 0, "status": "live", "meta": "{}", "audio_state": "none",
            "audio_frames": 0, "heartbeat_at_ms": 0, "dropped_items": 0, "dropped_audio_ms": 0,
        } for cid in ids])  # fmt: skip


def sweep_at_once(
    engines: tuple[sa.Engine, sa.Engine], *, meanwhile: Callable[[], None] = lambda: None
) -> tuple[list[str], list[str]]:
    """Two :func:`mark_stale_calls` from two threads, released together; ``meanwhile``
    runs while they are under way (to hold them at a lock, say)."""
    start = threading.Barrier(2)

    def sweep(engine: sa.Engine) -> list[str]:
        start.wait()
        return mark_stale_calls(engine, stale_s=60.0, exclude=set())

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(sweep, e) for e in engines]
        meanwhile()
        first, second = (f.result(timeout=120) for f in futures)
    return first, second


def check_claimed_once(
    engine: sa.Engine, ids: list[str], first: list[str], second: list[str]
) -> None:
    """Every stale call went to exactly one sweeper, and is interrupted and summarised."""
    assert set(first) | set(second) == set(ids)
    assert not set(first) & set(second)
    c = schema.calls
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.c.status, c.c.n_prompts).where(c.c.id.in_(ids))).all()
    assert rows and all(r.status == "interrupted" and r.n_prompts == 0 for r in rows)


def skewed_workers_agree(
    url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, server_now_sql: str
) -> None:
    """A worker whose clock is an hour slow stamps heartbeats on the database's clock, and
    one an hour fast does not see that fresh call as stale."""
    real_now_ms = writer.now_ms
    with Store.open(StoreOptions(database_url=url), data_dir=data_dir) as store:
        monkeypatch.setattr(writer, "now_ms", lambda: real_now_ms() - 3_600_000)
        rec = _record(store, "skewed", "slow", tone=0.1, seconds=1)
        store.flush()
        with store.engine.connect() as conn:
            server_now = conn.execute(sa.text(server_now_sql)).scalar_one()
            beat = conn.execute(
                sa.select(schema.calls.c.heartbeat_at_ms).where(schema.calls.c.id == "skewed")
            ).scalar_one()
        assert abs(int(server_now) - beat) < 5000

        monkeypatch.setattr(writer, "now_ms", lambda: real_now_ms() + 3_600_000)
        engine = make_engine(store.url, immediate=True)
        try:
            assert mark_stale_calls(engine, stale_s=60.0, exclude=set()) == []
            time.sleep(0.01)
            assert mark_stale_calls(engine, stale_s=0.0, exclude={"skewed"}) == []
        finally:
            engine.dispose()
        assert store.get_call("skewed").status == "live"
        _end(rec, seconds=1)


# -- SQLite ------------------------------------------------------------------------------------


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'calls.db'}"


def test_sqlite_two_workers_one_call_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    collide_on_one_id(_sqlite_url(tmp_path), tmp_path, caplog)


def test_sqlite_two_workers_race_to_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    race_to_open(_sqlite_url(tmp_path), tmp_path, caplog)


def test_sqlite_two_sweepers_claim_each_call_once(tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path)
    Store.open(StoreOptions(database_url=url), data_dir=tmp_path, recover=False).close()
    engines = (make_engine(url, immediate=True), make_engine(url, immediate=True))
    try:
        ids = [f"stale-{i:02d}" for i in range(20)]
        insert_stale_live(engines[0], ids)
        first, second = sweep_at_once(engines)
        check_claimed_once(engines[0], ids, first, second)
    finally:
        for e in engines:
            e.dispose()


def test_sqlite_heartbeats_use_database_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    skewed_workers_agree(
        _sqlite_url(tmp_path),
        tmp_path,
        monkeypatch,
        "select CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    )
