"""Call store on a real PostgreSQL server: a throwaway cluster started by the test.

Needs the Debian ``postgresql`` package (``/usr/lib/postgresql/*/bin``) and, when run as
root, the ``postgres`` user (the cluster runs as that user via runuser).  Skipped with the
reason otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import wait_for
from test_store_shared import (
    check_claimed_once,
    collide_on_one_id,
    insert_stale_live,
    race_to_open,
    skewed_workers_agree,
    sweep_at_once,
)

from voice_assist.config import StoreOptions
from voice_assist.errors import CallNotFoundError
from voice_assist.replay.query import replay_data
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.store import CorruptCallError, Store
from voice_assist.store.migrations import LATEST
from voice_assist.store.pg_local import LocalPostgres, PostgresUnavailable

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    try:
        pg = LocalPostgres().start()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield pg.url
    finally:
        pg.stop()


def test_postgres_round_trip(pg_url: str, tmp_path: Path) -> None:
    opts = StoreOptions(database_url=pg_url)
    with Store.open(opts, data_dir=tmp_path) as store:
        with store.engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
            assert (
                conn.execute(sa.text("select max(version) from schema_version")).scalar() == LATEST
            )
        for i, agent in enumerate(("a1", "a2", "a1")):
            rec = store.recorder(f"pg-{i}", agent_id=agent, source="file", backpressure=True)
            synthetic_call(rec, call_id=f"pg-{i}", duration_s=20 + 10 * i, seed=i,
                           episode_every_s=15)  # fmt: skip
            rec.close("hangup")
        store.flush()
        assert store.failed_statements == 0

        page = store.list_calls(agent_id="a1")
        assert page.total == 2 and [c.call_id for c in page.calls] == ["pg-2", "pg-0"]
        assert store.list_calls(limit=1, offset=1).calls[0].call_id == "pg-1"
        assert store.list_calls(min_distress=2.0).total == 0

        call = store.get_call("pg-1")
        assert call.status == "ended" and call.duration_ms == 30000
        assert call.audio_state == "final" and call.audio_frames == 30 * 16000
        assert store.transcript("pg-1")[0]["words"]
        assert len(store.timeline("pg-1")["t_ms"]) == 120
        assert store.prompts("pg-1")[0]["followed"]
        assert store.empathy("pg-1") is not None
        assert len(store.waveform("pg-1").customer) == 600
        assert [m["type"] for m in store.iter_events("pg-1")][-1] == "call_ended"
        data = replay_data(store, "pg-1")
        assert data["audio"]["available"] and data["summary"]["episodes"] >= 1
        with pytest.raises(CallNotFoundError):
            store.get_call("nope")

        with store.engine.begin() as conn:
            conn.execute(sa.text("update calls set meta = '{x' where id = 'pg-0'"))
        with pytest.raises(CorruptCallError):
            store.get_call("pg-0")
        assert {c.call_id: c.error is not None for c in store.list_calls().calls}["pg-0"]

        # a call left live by a dead process is marked interrupted by the next start
        rec = store.recorder("pg-live", agent_id="a3", source="native")
        synthetic_call(rec, call_id="pg-live", duration_s=5, audio=False)
        store.flush()
    with store.engine.begin() as conn:  # as if the writer had died: status back to live
        conn.execute(sa.text("update calls set status = 'live' where id = 'pg-live'"))
    with Store.open(StoreOptions(database_url=pg_url, live_stale_s=0.0), data_dir=tmp_path) as s2:
        assert s2.get_call("pg-live").status == "interrupted"
        assert s2.get_call("pg-1").status == "ended"  # migrations ran again: nothing lost


def test_postgres_calls_page_queries_agree_with_sqlite(pg_url: str, tmp_path: Path) -> None:
    """Figures, filters, sorts, transcript search (tsvector) and scorecards: the same calls
    and numbers from PostgreSQL as from SQLite, for the same stored calls."""
    import dataclasses

    from benchmarks.calls_page import fill_store
    from voice_assist.store.listing import CallQuery

    with sa.create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS calls_page"))
        conn.execute(sa.text("CREATE DATABASE calls_page"))
    url = sa.make_url(pg_url).set(database="calls_page").render_as_string(hide_password=False)
    now_ms = 1_750_000_000_000
    stores = {}
    for name, options in (("pg", StoreOptions(database_url=url)), ("sqlite", StoreOptions())):
        s = Store.open(options, data_dir=tmp_path / name)
        rec = s.recorder("pg-real", agent_id="a1", source="file", backpressure=True,
                         started_at_ms=now_ms - 1000)  # fmt: skip
        synthetic_call(rec, call_id="pg-real", duration_s=100, audio=False, episode_every_s=45)
        rec.close("hangup")
        s.flush()
        fill_store(s.engine, 250, seed=2, now_ms=now_ms, weeks=5, agents=("a1", "a2", "a3"))
        stores[name] = s
    pg, lite = stores["pg"], stores["sqlite"]
    try:
        assert pg.search_method() == "tsvector" and lite.search_method() == "fts5"
        with pg.engine.connect() as conn:
            indexes = conn.execute(sa.text("select indexname from pg_indexes")).scalars().all()
        assert "ix_utterances_text_tsv" in indexes and "ix_calls_unacknowledged" in indexes
        real = pg.get_call("pg-real")  # the figures the writer set at the call's end
        wall_clock = {"ended_at_ms": real.ended_at_ms}
        assert real == dataclasses.replace(lite.get_call("pg-real"), **wall_clock)
        assert (real.n_episodes, real.n_followed, real.n_dismissed) == (2, 1, 1)
        queries = [
            CallQuery(limit=500),
            CallQuery(agent_id="a2", sort="duration", descending=False, limit=500),
            CallQuery(bounds={"unacknowledged": (1, None)}, sort="unacknowledged", limit=500),
            CallQuery(bounds={"distress": (None, 0.4), "script": (1, None)}, sort="script"),
            CallQuery(bounds={"overtalk_s": (5, None), "talk_ratio": (0.3, 0.7)}, sort="overtalk"),
            CallQuery(status="interrupted", sort="distress", limit=500),
            CallQuery(since_ms=now_ms - 14 * 86_400_000, sort="agent", limit=500, offset=20),
            CallQuery(search="refund", limit=500),
            CallQuery(search='"third time" manager', limit=500),
            CallQuery(search="technic* router", sort="dismissed", limit=500),
            CallQuery(search='"charged twice on"', agent_id="a3", limit=500),
        ]
        for q in queries:
            a, b = pg.list_calls(q), lite.list_calls(q)
            assert a.total == b.total, q
            assert [c.call_id for c in a.calls] == [c.call_id for c in b.calls], q
            assert [c.match for c in a.calls] == [c.match for c in b.calls], q
        pg_agents = [a.to_json() for a in pg.agents()]
        assert pg_agents == [a.to_json() for a in lite.agents()]
        card = pg.agent_scorecard("a2", since_ms=now_ms - 21 * 86_400_000, until_ms=now_ms)
        same = lite.agent_scorecard("a2", since_ms=now_ms - 21 * 86_400_000, until_ms=now_ms)
        assert card.to_json() == same.to_json() and card.figures.calls > 0
    finally:
        pg.close()
        lite.close()


def test_postgres_delete_and_retention(pg_url: str, tmp_path: Path) -> None:
    from voice_assist.errors import CallLiveError
    from voice_assist.store import schema
    from voice_assist.store.listing import CallQuery
    from voice_assist.store.retention import DAY_MS, RetentionPolicy

    now_ms = 1_760_000_000_000
    with Store.open(StoreOptions(database_url=pg_url), data_dir=tmp_path) as store:
        for cid, age_days in (("pgdel-1", 1), ("pgdel-old", 40), ("pgdel-mid", 10)):
            rec = store.recorder(cid, agent_id="d1", source="file", backpressure=True,
                                 started_at_ms=now_ms - age_days * DAY_MS)  # fmt: skip
            synthetic_call(rec, call_id=cid, duration_s=15, seed=2, episode_every_s=10)
            rec.close("hangup")
        store.flush()

        def rows(cid: str) -> int:
            with store.engine.connect() as conn:
                return sum(
                    conn.execute(
                        sa.select(sa.func.count()).select_from(t)
                        .where((t.c.id if t is schema.calls else t.c.call_id) == cid)
                    ).scalar_one()
                    for t in (*schema.CALL_TABLES, schema.calls)
                )  # fmt: skip

        word = max((w for u in store.transcript("pgdel-1") for w in u["text"].split()), key=len)
        assert "pgdel-1" in [c.call_id for c in store.list_calls(CallQuery(search=word)).calls]
        total = rows("pgdel-1")
        deleted = store.delete_call("pgdel-1")
        assert sum(deleted.rows.values()) == total and deleted.audio_bytes > 0
        assert rows("pgdel-1") == 0 and not (store.audio_dir / "pgdel-1.flac").exists()
        assert "pgdel-1" not in [c.call_id for c in store.list_calls(CallQuery(search=word)).calls]
        with pytest.raises(CallNotFoundError):
            replay_data(store, "pgdel-1")

        policy = RetentionPolicy(retention_days=30, audio_retention_days=7,
                                 clock=lambda: now_ms / 1000)  # fmt: skip
        result = store.sweep_retention(policy)
        assert [d.call_id for d in result.deleted] == ["pgdel-old"]
        assert "pgdel-mid" in result.audio_deleted
        assert rows("pgdel-old") == 0 and not (store.audio_dir / "pgdel-old.flac").exists()
        assert store.get_call("pgdel-mid").audio_state == "deleted"

        rec = store.recorder("pgdel-live", agent_id="d1", source="native")
        synthetic_call(rec, call_id="pgdel-live", duration_s=3, audio=False)
        store.flush()
        with pytest.raises(CallLiveError):
            store.delete_call("pgdel-live")
        rec.close("hangup")


def _fresh_database(pg_url: str, name: str) -> str:
    """The URL of a new, empty database ``name`` on the test cluster."""
    with sa.create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    return sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def test_postgres_two_workers_one_call_id(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collide_on_one_id(_fresh_database(pg_url, "shared_ids"), tmp_path, caplog)


def test_postgres_two_workers_race_to_open(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    race_to_open(_fresh_database(pg_url, "race_ids"), tmp_path, caplog)


def test_postgres_two_sweepers_claim_each_call_once(pg_url: str, tmp_path: Path) -> None:
    """Both sweeps are held at a row lock until both are waiting, then released: a sweep
    that selected first and updated after would hand all 20 calls to both."""
    url = _fresh_database(pg_url, "sweepers")
    Store.open(StoreOptions(database_url=url), data_dir=tmp_path, recover=False).close()
    engine = sa.create_engine(url)
    ids = [f"stale-{i:02d}" for i in range(20)]
    try:
        insert_stale_live(engine, ids)
        watching = engine.execution_options(isolation_level="AUTOCOMMIT")
        with engine.connect() as holder, watching.connect() as watcher:
            holder.execute(sa.text("select id from calls for update"))
            waiting = sa.text(
                "select count(*) from pg_stat_activity "
                "where wait_event_type = 'Lock' and datname = current_database()"
            )

            def release_once_both_wait() -> None:
                assert wait_for(lambda: watcher.execute(waiting).scalar_one() == 2)
                holder.rollback()

            first, second = sweep_at_once((engine, engine), meanwhile=release_once_both_wait)
        check_claimed_once(engine, ids, first, second)
    finally:
        engine.dispose()


def test_postgres_heartbeats_use_database_time(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    skewed_workers_agree(
        _fresh_database(pg_url, "skew"),
        tmp_path,
        monkeypatch,
        "select (extract(epoch from clock_timestamp()) * 1000)::bigint",
    )
