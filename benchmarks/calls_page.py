"""Calls page benchmark: the listing, search and scorecard queries on a store of 10,000 calls.

``voice-assist bench calls-page --json`` fills a fresh store (SQLite in a temporary
directory, or ``--database-url``) with ``--calls`` synthetic calls, serves the call
routes under uvicorn on 127.0.0.1, and times representative requests of the calls page
and the scorecards: the first page, deep offsets, each filter, each sort, transcript
search (a common word, a rare one, a phrase, a prefix, combined with filters and deep),
a CSV page and the scorecards.  Each request is made ``--repeat`` times after one
untimed warm-up; it prints one JSON object:

* ``fill_s``: how long the store took to fill, and ``rows`` per table;
* ``queries``: per request, its total (calls matched), and p50/p95/max of ``server_ms``
  (the endpoint's ``Server-Timing``: query and rendering, no HTTP) and ``round_trip_ms``
  (HTTP on loopback);
* ``worst_p95_ms`` (the slowest request's p95 server time), ``target_ms`` (300) and
  ``ok``.

How the store is filled: rows are inserted in bulk with SQL (``calls``, ``utterances``,
``episodes``, ``prompts``, ``empathy`` and one ``metrics`` event per call, in the shapes
the writer gives them), then the per-call figures are computed by the very statement the
writer runs when a call ends (:func:`voice_assist.store.summary.summary_update`), and the
search index is kept by the database's own triggers.  Recording 10,000 calls through the
real writer would take hours of synthetic audio; what the page reads is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

HELP = "calls page figures: fill a store with 10,000 calls, time listing, search, scorecards"

TARGET_MS = 300.0
TOKEN = "bench-token"
DAY_MS = 86_400_000

AGENTS = tuple(f"agent-{i:02d}" for i in range(1, 26))
CUSTOMER_LINES = (
    "I have been waiting for my refund for {n} weeks now",
    "this is the third time I am calling about the same problem",
    "nobody has called me back and I am really fed up with this",
    "the internet keeps dropping every evening when I need it",
    "I was charged twice on my {month} bill and I want the money back",
    "can you tell me when the technician is going to come",
    "my order number is {order} and it never arrived",
    "I moved house in {month} and the router still is not working",
    "I want to speak to a manager about the {product}",
    "okay that sounds fine thank you",
    "the {product} stopped working after the update",
    "I am on a fixed income and this charge of {n} pounds really hurts",
    "my husband passed away and the account is still in his name",
    "I lost my job last month so I cannot pay the full amount",
    "I just want this sorted out please",
)
AGENT_LINES = (
    "thanks for calling how can I help you today",
    "let me pull up your account",
    "I can see where that would be extremely frustrating",
    "I am sorry this has taken so long let me fix it now",
    "I have raised a priority ticket for the technician",
    "the refund has been approved and will arrive in {n} days",
    "can I have your account number please",
    "I understand",
    "fantastic",
    "I am so sorry to hear about your loss",
    "let me check what happened with order {order}",
    "the {product} has a known fault and we will replace it",
    "is there anything else I can help you with",
)
PRODUCTS = ("router", "broadband box", "mobile plan", "smart meter", "set top box", "landline")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--calls", type=int, default=10_000, help="calls in the store (10000)")
    p.add_argument("--repeat", type=int, default=20, help="timed requests per query (20)")
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic calls")
    p.add_argument("--database-url", help="an empty database to fill instead of SQLite")
    p.add_argument("--keep", type=Path, help="use (and keep) this data directory")


# -- the synthetic store ---------------------------------------------------------------------


def _line(template: str, rng: np.random.Generator) -> str:
    return template.format(
        n=int(rng.integers(2, 12)),
        month=MONTHS[int(rng.integers(len(MONTHS)))],
        order=int(rng.integers(100_000, 999_999)),
        product=PRODUCTS[int(rng.integers(len(PRODUCTS)))],
    )


def fill_store(
    engine: Any,
    n_calls: int,
    *,
    seed: int = 7,
    now_ms: int | None = None,
    weeks: int = 26,
    agents: tuple[str, ...] = AGENTS,
    id_prefix: str = "bulk",
) -> dict[str, int]:
    """Insert ``n_calls`` synthetic stored calls over the ``weeks`` before ``now_ms``.

    Deterministic for a seed and ``now_ms``.  Returns the rows inserted per table.
    About 3% of the calls are ``interrupted``; distressed calls have episodes whose
    prompts were followed, dismissed or left to expire, and agents draw script nudges.
    """
    import sqlalchemy as sa

    from voice_assist import events as ev
    from voice_assist.store import schema
    from voice_assist.store.summary import summary_update
    from voice_assist.wire import to_wire

    rng = np.random.default_rng(seed)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    span_ms = weeks * 7 * DAY_MS
    agent_p = rng.dirichlet(np.ones(len(agents)) * 2.0)
    counts = dict.fromkeys(("calls", "utterances", "episodes", "prompts", "empathy", "events"), 0)
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in counts}

    def flush(conn: sa.Connection) -> None:
        for name, table in (("calls", schema.calls), ("utterances", schema.utterances),
                            ("episodes", schema.episodes), ("prompts", schema.prompts),
                            ("empathy", schema.empathy), ("events", schema.events)):  # fmt: skip
            if rows[name]:
                conn.execute(table.insert(), rows[name])
                counts[name] += len(rows[name])
                rows[name].clear()

    with engine.begin() as conn:
        for i in range(n_calls):
            cid = f"{id_prefix}-{i:06d}"
            agent = agents[int(rng.choice(len(agents), p=agent_p))]
            started = now - int(rng.uniform(0, span_ms))
            duration = int(np.clip(rng.lognormal(np.log(240_000), 0.6), 30_000, 1_800_000))
            interrupted = rng.random() < 0.03
            peak = float(np.clip(rng.beta(2, 3) * 1.3, 0, 1))
            rows["calls"].append({
                "id": cid, "agent_id": agent, "source": "native", "started_at_ms": started,
                "ended_at_ms": started + duration, "duration_ms": duration,
                "status": "interrupted" if interrupted else "ended",
                "end_reason": "the process recording this call stopped before it ended"
                if interrupted else "hangup",
                "max_distress": peak, "meta": "{}", "audio_state": "none", "audio_frames": 0,
                "heartbeat_at_ms": started + duration, "dropped_items": 0, "dropped_audio_ms": 0,
            })  # fmt: skip
            n_utt = int(np.clip(duration // 9000, 4, 40))
            t = 500
            step = max(1, (duration - 1000) // n_utt)
            for k in range(n_utt):
                channel = "agent" if k % 2 == 0 else "customer"
                lines = AGENT_LINES if channel == "agent" else CUSTOMER_LINES
                text = _line(lines[int(rng.integers(len(lines)))], rng)
                rows["utterances"].append({
                    "call_id": cid, "utterance_id": f"{channel[0]}{k}", "channel": channel,
                    "start_ms": t, "end_ms": t + int(step * 0.8), "text": text, "words": "[]",
                })  # fmt: skip
                t += step
            n_ep = 1 + int(rng.poisson(2.0 * (peak - 0.6))) if peak >= 0.6 else 0
            acked, latencies = 0, []
            for e in range(n_ep):
                start = int(rng.uniform(0.1, 0.9) * duration)
                rows["episodes"].append({
                    "call_id": cid, "episode_id": f"ep{e + 1}", "start_ms": start,
                    "end_ms": min(duration, start + 20_000), "peak": peak,
                    "cause": '["prosody:loud"]',
                })  # fmt: skip
                outcome = rng.choice(3, p=[0.55, 0.2, 0.25])
                ack = ("followed", "dismissed", None)[outcome]
                clear = ("followed", "dismissed", "expired")[outcome]
                react = int(rng.gamma(3.0, 1500.0))
                if outcome == 0:
                    acked += 1
                    latencies.append(react)
                rows["prompts"].append({
                    "call_id": cid, "prompt_id": f"p{e + 1}", "t_ms": start + 120,
                    "kind": "pause_and_acknowledge", "severity": "urgent",
                    "text": "Pause and acknowledge",
                    "suggested_phrase": "I can hear how hard this is",
                    "evidence": "{}", "ttl_ms": 20_000, "episode_id": f"ep{e + 1}",
                    "shown_ms": start + 300, "ack_action": ack,
                    "ack_ms": start + react if ack else None, "cleared_ms": start + react + 200,
                    "clear_reason": clear,
                })  # fmt: skip
            for s in range(int(rng.poisson(0.3))):
                t_ms = int(rng.uniform(0, duration))
                rows["prompts"].append({
                    "call_id": cid, "prompt_id": f"s{s + 1}", "t_ms": t_ms, "kind": "script",
                    "severity": "info", "text": "Sounds scripted", "suggested_phrase": "",
                    "evidence": "{}", "ttl_ms": 20_000, "episode_id": None, "shown_ms": t_ms,
                    "ack_action": None, "ack_ms": None, "cleared_ms": t_ms + 20_000,
                    "clear_reason": "expired",
                })  # fmt: skip
            if n_ep:
                rows["empathy"].append({
                    "call_id": cid, "t_ms": duration, "episodes": n_ep, "acknowledged": acked,
                    "ack_latency_ms": json.dumps(latencies),
                })  # fmt: skip
            metrics = ev.CallMetrics(
                call_id=cid, t_ms=duration, distress=peak / 2, distress_slope_per_s=0.0,
                level="calm", agent_talk_ratio=float(rng.beta(5, 5)),
                agent_words_per_min=150.0, overtalk_ms=int(rng.exponential(4000)), silence_ms=0,
            )  # fmt: skip
            body = to_wire(metrics, seq=1)
            rows["events"].append({
                "call_id": cid, "seq": 1, "t_ms": duration, "type": body["type"],
                "body": json.dumps(body, separators=(",", ":")),
            })  # fmt: skip
            if len(rows["utterances"]) > 20_000:
                flush(conn)
        flush(conn)
        conn.execute(summary_update(None))
    return counts


# -- timing ------------------------------------------------------------------------------------


def _get(url: str) -> tuple[float, float, bytes]:
    """(round trip ms, server ms, body)."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as res:
        body = res.read()
        timing = res.headers.get("server-timing", "")
    rtt = (time.perf_counter() - t0) * 1000.0
    server = float(timing.split("dur=")[1]) if "dur=" in timing else rtt
    return rtt, server, body


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _queries(now_ms: int, rare: str, n_calls: int) -> dict[str, str]:
    week = 7 * DAY_MS
    deep = max(0, n_calls - 50)
    since, until = now_ms - 6 * week, now_ms - 4 * week
    q = urllib.parse.urlencode
    half = n_calls // 2
    combined = {"agent": "agent-03", "since": since, "min_episodes": 1, "sort": "duration"}
    phrase = '"third time"'
    by_duration = {"sort": "duration", "order": "asc", "offset": half}
    filtered = {"q": "refund", "agent": "agent-03", "sort": "distress"}
    return {
        "newest": "/api/calls",
        "deep_offset": f"/api/calls?{q({'offset': deep})}",
        "agent": "/api/calls?agent=agent-07",
        "agent_deep": f"/api/calls?{q({'agent': 'agent-07', 'offset': 200})}",
        "date_range": f"/api/calls?{q({'since': since, 'until': until})}",
        "distress_sorted": "/api/calls?min_distress=0.7&sort=distress",
        "unacknowledged": "/api/calls?min_unacknowledged=1&sort=unacknowledged",
        "dismissed": "/api/calls?min_dismissed=1&sort=dismissed",
        "script_sorted": "/api/calls?sort=script",
        "duration_asc_deep": f"/api/calls?{q(by_duration)}",
        "interrupted": "/api/calls?status=interrupted",
        "combined": f"/api/calls?{q(combined)}",
        "search_common": "/api/calls?q=refund",
        "search_rare": f"/api/calls?{q({'q': rare})}",
        "search_phrase": f"/api/calls?{q({'q': phrase})}",
        "search_prefix": "/api/calls?q=technic*",
        "search_two_words": "/api/calls?q=manager+router",
        "search_filtered": f"/api/calls?{q(filtered)}",
        "search_deep": f"/api/calls?{q({'q': 'refund', 'offset': n_calls // 5})}",
        "csv_500": "/api/calls.csv?limit=500",
        "agents": "/api/agents",
        "agents_period": f"/api/agents?{q({'since': now_ms - 4 * week})}",
        "agent_scorecard": "/api/agents/agent-07",
    }  # fmt: skip


def measure(base: str, paths: dict[str, str], repeat: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, path in paths.items():
        _, _, body = _get(base + path)  # warm-up, untimed
        total: int | None = None
        if path.startswith("/api/calls?") or path == "/api/calls":
            total = int(json.loads(body)["total"])
        rtts, servers = [], []
        for _ in range(max(1, repeat)):
            rtt, server, _ = _get(base + path)
            rtts.append(rtt)
            servers.append(server)
        out[name] = {
            "path": path,
            "total": total,
            "server_ms": {
                "p50": round(statistics.median(servers), 1),
                "p95": round(_pct(servers, 0.95), 1),
                "max": round(max(servers), 1),
            },
            "round_trip_ms": {
                "p50": round(statistics.median(rtts), 1),
                "p95": round(_pct(rtts, 0.95), 1),
            },
        }
    return out


def run(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from voice_assist.config import StoreOptions
    from voice_assist.replay.localserver import calls_app, fixed_token_check, serve_in_thread
    from voice_assist.store import Store, schema

    tmp = None
    data_dir = args.keep
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="va-bench-calls-")
        data_dir = Path(tmp)
    now_ms = int(time.time() * 1000)
    try:
        store = Store.open(StoreOptions(database_url=args.database_url or ""), data_dir=data_dir)
        try:
            t0 = time.perf_counter()
            rows = fill_store(store.engine, args.calls, seed=args.seed, now_ms=now_ms)
            fill_s = time.perf_counter() - t0
            if store.engine.dialect.name == "postgresql":
                with store.engine.connect() as conn:  # what autovacuum does after a bulk load
                    conn.execute(sa.text("ANALYZE"))
                    conn.commit()
            with store.engine.connect() as conn:
                u = schema.utterances
                rare_text = conn.execute(
                    sa.select(u.c.text).where(u.c.text.like("%order number is%")).limit(1)
                ).scalar()
                backend = conn.dialect.name
            rare = next((w for w in (rare_text or "").split() if w.isdigit()), "zzz")
            with serve_in_thread(calls_app(store, fixed_token_check(TOKEN))) as base:
                queries = measure(base, _queries(now_ms, rare, args.calls), args.repeat)
            search_method = store.search_method()
        finally:
            store.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    worst = max(queries.items(), key=lambda kv: kv[1]["server_ms"]["p95"])
    result = {
        "bench": "calls-page",
        "calls": args.calls,
        "backend": backend,
        "search": search_method,
        "fill_s": round(fill_s, 1),
        "rows": rows,
        "repeat": args.repeat,
        "queries": queries,
        "worst_p95_ms": worst[1]["server_ms"]["p95"],
        "worst_query": worst[0],
        "target_ms": TARGET_MS,
        "ok": worst[1]["server_ms"]["p95"] <= TARGET_MS,
        "cpu_count": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for name, q in queries.items():
            print(f"{name:>20}: {q['server_ms']}  (total {q['total']})")
        print(f"worst p95 {result['worst_p95_ms']} ms ({result['worst_query']}); ok={result['ok']}")
    return 0
