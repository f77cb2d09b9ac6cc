"""The call listing in the store: per-call figures, filters, sorts, search, scorecards,
and the version-2 migration that brings them to an older database (SQLite)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarks.calls_page import fill_store
from voice_assist.config import StoreOptions
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.store import Store, migrations, schema, scorecard, search
from voice_assist.store.database import make_engine
from voice_assist.store.listing import CallQuery
from voice_assist.store.writer import mark_stale_calls

NOW_MS = 1_750_000_000_000  # a Sunday evening (UTC); the bulk calls lie in the 8 weeks before


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store.open(StoreOptions(), data_dir=tmp_path_factory.mktemp("calls"))
    calls = (("rec-a", "alice", 100), ("rec-b", "bob", 60), ("rec-c", "alice", 150))
    for i, (cid, agent, seconds) in enumerate(calls):
        rec = s.recorder(cid, agent_id=agent, source="file", backpressure=True,
                         started_at_ms=NOW_MS - (i + 1) * 3_600_000)  # fmt: skip
        synthetic_call(rec, call_id=cid, duration_s=seconds, seed=i, audio=False,
                       agent_id=agent, episode_every_s=45 if agent == "alice" else 500)  # fmt: skip
        rec.close("hangup")
    s.flush()
    fill_store(s.engine, 400, seed=3, now_ms=NOW_MS, weeks=8, agents=("q1", "q2", "q3"))
    yield s
    s.close()


def all_calls(store: Store) -> list:
    return list(store.iter_calls(CallQuery(), max_rows=10_000))


def test_figures_set_when_a_recorded_call_ends_match_its_rows(store: Store) -> None:
    for cid in ("rec-a", "rec-b", "rec-c"):
        call = store.get_call(cid)
        prompts = store.prompts(cid)
        empathy = store.empathy(cid)
        assert call.n_episodes == len(store.episodes(cid))
        assert call.n_prompts == len(prompts)
        assert call.n_followed == sum(p["followed"] for p in prompts)
        assert call.n_dismissed == sum(
            not p["followed"] and "dismissed" in (p["ack_action"], p["clear_reason"])
            for p in prompts
        )
        assert call.n_expired == sum(
            p["clear_reason"] == "expired" and not p["followed"] and p["ack_action"] != "dismissed"
            for p in prompts
        )
        assert call.n_script == sum(p["kind"] == "script" for p in prompts)
        episodes = empathy["episodes"] if empathy else 0
        acked = empathy["acknowledged"] if empathy else 0
        assert (call.n_acknowledged, call.n_unacknowledged) == (acked, episodes - acked)
        metrics = list(store.iter_events(cid, types=["metrics"]))
        assert call.agent_talk_ratio == pytest.approx(metrics[-1]["agent_talk_ratio"])
        assert call.overtalk_ms == metrics[-1]["overtalk_ms"]
    alice = store.get_call("rec-c")
    assert alice.n_episodes == 3  # the outcomes cycle: followed, dismissed, expired
    assert alice.n_followed and alice.n_dismissed and alice.n_expired


def test_a_call_left_live_is_summarised_when_marked_interrupted(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as s:
        rec = s.recorder("left-live", agent_id="a", source="native")
        synthetic_call(rec, call_id="left-live", duration_s=40, audio=False, episode_every_s=15)
        s.flush()
        assert s.get_call("left-live").n_prompts is None  # live: no figures yet
        engine = make_engine(s.url, immediate=True)
        assert mark_stale_calls(engine, stale_s=0.0, exclude=set()) == ["left-live"]
        engine.dispose()
        call = s.get_call("left-live")
        assert call.status == "interrupted"
        assert call.n_episodes == len(s.episodes("left-live")) >= 1
        assert call.n_prompts == len(s.prompts("left-live"))
        listed = s.list_calls(CallQuery(status="interrupted", bounds={"episodes": (1, None)}))
        assert [c.call_id for c in listed.calls] == ["left-live"]


@pytest.mark.parametrize(
    ("name", "lo", "hi"),
    [("duration_s", 200, 400), ("distress", 0.7, None), ("episodes", 1, None),
     ("unacknowledged", 1, None), ("dismissed", 1, 2), ("script", 2, None),
     ("acknowledged", None, 0), ("talk_ratio", 0.4, 0.6), ("overtalk_s", 5, None)],
)  # fmt: skip
def test_bounds_select_exactly_the_calls_inside(
    store: Store, name: str, lo: float | None, hi: float | None
) -> None:
    column = {"duration_s": "duration_ms", "distress": "max_distress", "talk_ratio":
              "agent_talk_ratio", "overtalk_s": "overtalk_ms"}.get(name, f"n_{name}")  # fmt: skip
    scale = 1000 if name in ("duration_s", "overtalk_s") else 1

    def inside(c: object) -> bool:
        v = getattr(c, column)
        if v is None:
            return name == "distress" and lo is None
        return (lo is None or v >= lo * scale) and (hi is None or v <= hi * scale)

    want = {c.call_id for c in all_calls(store) if inside(c)}
    got = store.list_calls(CallQuery(bounds={name: (lo, hi)}, limit=500))
    assert {c.call_id for c in got.calls} == want and got.total == len(want)
    assert 0 < len(want) < 403  # the bound means something on this store


@pytest.mark.parametrize(
    "sort", ["agent", "duration", "distress", "episodes", "unacknowledged", "dismissed",
             "script", "talk_ratio", "overtalk", "status", "followed"],
)  # fmt: skip
@pytest.mark.parametrize("descending", [True, False])
def test_sorts_order_in_the_database_nulls_last(store: Store, sort: str, descending: bool) -> None:
    column = {"duration": "duration_ms", "distress": "max_distress", "agent": "agent_id",
              "status": "status", "talk_ratio": "agent_talk_ratio",
              "overtalk": "overtalk_ms"}.get(sort, f"n_{sort}")  # fmt: skip
    q = CallQuery(sort=sort, descending=descending, limit=500)
    got = list(store.iter_calls(q, max_rows=500))
    values = [getattr(c, column) for c in got]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=descending)
    assert all(v is None for v in values[len(present) :])
    # ties: newest first, and pages join up with nothing lost or repeated
    pages = [c.call_id for off in (0, 150, 300) for c in
             store.list_calls(replace_query(q, offset=off, limit=150)).calls]  # fmt: skip
    assert pages == [c.call_id for c in got]


def replace_query(q: CallQuery, **kw: object) -> CallQuery:
    import dataclasses

    return dataclasses.replace(q, **kw)  # type: ignore[arg-type]


def test_newest_first_paging_agent_and_period(store: Store) -> None:
    everything = all_calls(store)
    starts = [c.started_at_ms for c in everything]
    assert starts == sorted(starts, reverse=True) and len(everything) == 403
    page = store.list_calls(CallQuery(limit=50, offset=400))
    assert page.total == 403 and len(page.calls) == 3 and page.next_offset is None
    q1 = store.list_calls(CallQuery(agent_id="q1", limit=500))
    assert {c.agent_id for c in q1.calls} == {"q1"} and q1.total == len(q1.calls)
    since, until = NOW_MS - 14 * scorecard.DAY_MS, NOW_MS - 7 * scorecard.DAY_MS
    week = store.list_calls(CallQuery(since_ms=since, until_ms=until, limit=500))
    assert week.total == sum(since <= c.started_at_ms < until for c in everything)
    assert store.list_calls(CallQuery(status="interrupted")).total == sum(
        c.status == "interrupted" for c in everything
    )


# -- search --------------------------------------------------------------------------------------


def test_parse_query() -> None:
    P = search.parse_query
    assert [str(t) for t in P('Refund "Charged TWICE" technic*')] == [
        "refund", '"charged twice"', "technic*"
    ]  # fmt: skip
    assert [t.words for t in P("don't, OR NEAR(x) ;drop")] == [
        ("don", "t"), ("or",), ("near", "x"), ("drop",)
    ]  # fmt: skip
    assert [str(t) for t in P('refund refund "unclosed phrase')] == ["refund", '"unclosed phrase"']
    for bad in ("", "   ", '"" ** ;;', "x" * 201, " ".join("abcdefghi")):
        with pytest.raises(search.SearchQueryError):
            P(bad)


def _ids(store: Store, text: str, **kw: object) -> set[str]:
    return {c.call_id for c in store.iter_calls(CallQuery(search=text, **kw), max_rows=1000)}  # type: ignore[arg-type]


def _by_hand(store: Store, text: str) -> set[str]:
    """Calls whose final utterances contain every term of ``text`` (a Python reading)."""
    import re

    terms = search.parse_query(text)
    u = schema.utterances
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(u.c.call_id, u.c.text)).all()
    words: dict[str, list[list[str]]] = {}
    for cid, t in rows:
        words.setdefault(cid, []).append(re.findall(r"\w+", t.lower()))

    def has(utts: list[list[str]], term: search.Term) -> bool:
        n = len(term.words)
        for ws in utts:
            for i in range(len(ws) - n + 1):
                head, last = ws[i : i + n - 1], ws[i + n - 1]
                ok_last = last.startswith(term.words[-1]) if term.prefix else last == term.words[-1]
                if list(term.words[:-1]) == head and ok_last:
                    return True
        return False

    return {cid for cid, utts in words.items() if all(has(utts, t) for t in terms)}


@pytest.mark.parametrize(
    "text",
    ["refund", "REFUND", "refunds", "refu*", '"third time"', '"time third"', "manager router",
     "charged twice", "technic*", "fed up", "zebra", '"order number is"', "pull account"],
)  # fmt: skip
def test_search_finds_calls_with_every_term(store: Store, text: str) -> None:
    assert store.search_method() == "fts5"
    assert _ids(store, text) == _by_hand(store, text)


def test_search_with_filters_snippets_and_an_injection(store: Store) -> None:
    page = store.list_calls(CallQuery(search="charged twice", agent_id="q2", sort="distress"))
    assert page.calls and all(c.agent_id == "q2" for c in page.calls)
    for c in page.calls:
        assert c.match is not None and "charged" in c.match["text"].lower()
    for nasty in ('"; DROP TABLE calls; --', "NEAR(refund manager)", "refund OR", "*", "a AND"):
        with contextlib.suppress(ValueError):  # no word in it: refused before any SQL
            store.list_calls(CallQuery(search=nasty))
    assert store.list_calls(CallQuery()).total == 403


def test_search_index_follows_corrections_and_deletes(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as s:
        rec = s.recorder("fix", agent_id="a", source="file", backpressure=True)
        synthetic_call(rec, call_id="fix", duration_s=20, audio=False)
        rec.close()
        s.flush()
        assert _ids(s, "flamingo") == set()
        with s.engine.begin() as conn:
            u = schema.utterances
            first = conn.execute(sa.select(sa.func.min(u.c.id)).where(u.c.call_id == "fix"))
            conn.execute(
                sa.update(u).where(u.c.id == first.scalar()).values(text="a pink flamingo")
            )
        assert _ids(s, "flamingo") == {"fix"}
        with s.engine.begin() as conn:
            conn.execute(sa.delete(schema.calls).where(schema.calls.c.id == "fix"))
            left = conn.exec_driver_sql(
                "SELECT count(*) FROM utterances_fts WHERE utterances_fts MATCH 'flamingo'"
            ).scalar()
        assert left == 0 and _ids(s, "flamingo") == set()


def test_like_fallback_gives_the_same_calls_for_whole_words(store: Store) -> None:
    store._search_method = "like"
    try:
        for text in ("charged twice", '"third time"', "manager"):
            assert _ids(store, text) == _by_hand(store, text)
    finally:
        store._search_method = None


# -- scorecards ----------------------------------------------------------------------------------


def test_quantile_and_weeks() -> None:
    assert scorecard.quantile([], 0.5) is None
    assert scorecard.quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert scorecard.quantile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.1
    monday = 1_749_427_200_000  # 2025-06-09 00:00 UTC, a Monday
    assert scorecard.week_start_ms(scorecard.week_of(monday + 6 * scorecard.DAY_MS)) == monday
    assert scorecard.week_start_ms(scorecard.week_of(monday - 1)) == monday - scorecard.WEEK_MS


def test_agent_figures_add_up_the_calls(store: Store) -> None:
    rows = [c for c in all_calls(store) if c.status != "live"]
    agents = {a.agent_id: a for a in store.agents()}
    assert set(agents) == {"alice", "bob", "q1", "q2", "q3"}
    for agent_id, a in agents.items():
        mine = [c for c in rows if c.agent_id == agent_id]
        f = a.figures
        assert f.calls == len(mine)
        assert f.talk_ms == sum(c.duration_ms for c in mine)
        assert f.episodes == sum(c.n_episodes for c in mine)
        assert f.dismissed == sum(c.n_dismissed for c in mine)
        assert f.script_nudges == sum(c.n_script for c in mine)
        acked = sum(c.n_acknowledged for c in mine)
        total = acked + sum(c.n_unacknowledged for c in mine)
        assert f.share_acknowledged == (pytest.approx(acked / total) if total else None)
        lat = sorted(v for c in mine for v in (store.empathy(c.call_id) or {}).get(
            "ack_latency_ms", []))  # fmt: skip
        assert f.ack_median_ms == scorecard.quantile([float(v) for v in lat], 0.5)
        weighted = [(c.agent_talk_ratio, c.duration_ms) for c in mine if c.agent_talk_ratio]
        if weighted:
            want = sum(r * d for r, d in weighted) / sum(d for _, d in weighted)
            assert f.talk_ratio == pytest.approx(want)
        assert f.script_per_hour == pytest.approx(f.script_nudges / (f.talk_ms / 3_600_000))


def test_one_agent_by_week_with_empty_weeks(store: Store) -> None:
    card = store.agent_scorecard("q1")
    weeks = card.weeks
    steps = {b.start_ms - a.start_ms for a, b in zip(weeks, weeks[1:], strict=False)}
    assert len(weeks) >= 8 and steps == {scorecard.WEEK_MS}
    assert sum(w.figures.calls for w in weeks) == card.figures.calls
    assert sum(w.figures.episodes for w in weeks) == card.figures.episodes
    for w in weeks:
        assert time.gmtime(w.start_ms / 1000).tm_wday == 0  # Monday
    since = NOW_MS - 28 * scorecard.DAY_MS
    recent = store.agent_scorecard("q1", since_ms=since, until_ms=NOW_MS)
    q = CallQuery(agent_id="q1", since_ms=since, until_ms=NOW_MS)
    assert recent.figures.calls == store.list_calls(q).total
    assert 4 <= len(recent.weeks) <= 5  # the period's weeks, empty ones too
    behind = recent.behind()["unacknowledged"]
    assert behind == {"agent": "q1", "since": since, "until": NOW_MS,
                      "min_unacknowledged": 1, "sort": "unacknowledged"}  # fmt: skip
    nobody = store.agent_scorecard("nobody")
    assert nobody.figures.calls == 0 and nobody.weeks == []


# -- migration -----------------------------------------------------------------------------------


def _version_1_metadata() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "calls", md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.String(128), nullable=False, index=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger, nullable=False, index=True),
        sa.Column("ended_at_ms", sa.BigInteger),
        sa.Column("duration_ms", sa.BigInteger, nullable=False, default=0),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("end_reason", sa.Text),
        sa.Column("max_distress", sa.Float, index=True),
        sa.Column("meta", sa.Text, nullable=False, default="{}"),
        sa.Column("audio_state", sa.String(16), nullable=False, default="none"),
        sa.Column("audio_frames", sa.BigInteger, nullable=False, default=0),
        sa.Column("heartbeat_at_ms", sa.BigInteger, nullable=False),
        sa.Column("dropped_items", sa.Integer, nullable=False, default=0),
        sa.Column("dropped_audio_ms", sa.BigInteger, nullable=False, default=0),
    )  # fmt: skip
    for table in schema.metadata.tables.values():
        if table.name != "calls" and table not in schema.AUDIT_TABLES:  # those: version 3
            table.to_metadata(md)
    return md


def test_a_version_1_database_gets_figures_and_search(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'calls.db'}", immediate=True)
    v1 = _version_1_metadata()
    with engine.begin() as conn:
        v1.create_all(conn)
        conn.execute(schema.schema_version.insert(), [{"version": 1, "description": "v1",
                                                       "applied_at_ms": 0}])  # fmt: skip
        conn.execute(v1.tables["calls"].insert(), [{
            "id": "old", "agent_id": "a", "source": "native", "started_at_ms": NOW_MS,
            "duration_ms": 90_000, "status": "ended", "meta": "{}", "audio_state": "none",
            "audio_frames": 0, "heartbeat_at_ms": 0, "dropped_items": 0, "dropped_audio_ms": 0,
        }])  # fmt: skip
        conn.execute(schema.utterances.insert(), [
            {"call_id": "old", "utterance_id": "c1", "channel": "customer", "start_ms": 0,
             "end_ms": 2000, "text": "my parcel never came", "words": "[]"},
        ])  # fmt: skip
        conn.execute(schema.prompts.insert(), [
            {"call_id": "old", "prompt_id": p, "t_ms": 1000, "kind": kind, "severity": "info",
             "text": "", "suggested_phrase": "", "evidence": "{}", "ttl_ms": 20000,
             "ack_action": ack, "clear_reason": clear}
            for p, kind, ack, clear in (("p1", "pause_and_acknowledge", "dismissed", "dismissed"),
                                        ("p2", "script", None, "expired"))
        ])  # fmt: skip
        conn.execute(schema.empathy.insert(), [
            {"call_id": "old", "t_ms": 0, "episodes": 2, "acknowledged": 1,
             "ack_latency_ms": "[2500]"},
        ])  # fmt: skip
        body = {"type": "metrics", "agent_talk_ratio": 0.61, "overtalk_ms": 4200}
        conn.execute(schema.events.insert(), [
            {"call_id": "old", "seq": 1, "t_ms": 0, "type": "metrics", "body": json.dumps(body)},
        ])  # fmt: skip
    engine.dispose()

    with Store.open(StoreOptions(), data_dir=tmp_path) as s:
        with s.engine.connect() as conn:
            versions = conn.execute(sa.text("select version from schema_version order by 1"))
            assert list(versions.scalars()) == [1, 2, 3] == [1, 2, migrations.LATEST]
        call = s.get_call("old")
        assert (call.n_prompts, call.n_dismissed, call.n_expired, call.n_script) == (2, 1, 1, 1)
        assert (call.n_acknowledged, call.n_unacknowledged) == (1, 1)
        assert call.agent_talk_ratio == pytest.approx(0.61) and call.overtalk_ms == 4200
        assert _ids(s, "parcel") == {"old"}
        assert s.agents()[0].figures.ack_median_ms == 2500
