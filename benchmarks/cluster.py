"""``voice-assist bench cluster``: the scale-out site measured end to end on this machine.

Real processes on loopback: a ``redis-server`` started here, ``voice-assist serve
--workers N`` (N workers sharing one SO_REUSEPORT media port, a gateway) on a shared
store (a throwaway PostgreSQL cluster started here, :mod:`voice_assist.store.pg_local`;
``--sqlite`` for one shared SQLite file, ``--database-url`` for an existing one), the load generator
of :mod:`benchmarks.loadgen` (real speech at 1x over native, Twilio and AudioHook
round-robin).  Overlays and wall boards connect to the **gateway**, never to the
worker of their call.  Phases:

1. **one process** (``serve``, no Redis): one call, for the overlay's prompt latency
   the gateway is compared with.
2. **ramp, 1 worker** and **ramp, 2 workers**: N = 1 .. ``--max-calls`` calls per level
   with the budget of ``bench load``; the knee of each, the split of calls across
   workers, and the wall board's view checked against the store: every stored
   supervisor-subset event of every call arrived, in order, none twice; the time from a
   call's start to its first appearance on the wall board.
3. **faults** (2 workers): ``--fault-calls`` calls; ``kill -9`` of the worker carrying
   calls ``--kill-after-s`` in (its calls must leave the wall board as ``worker_lost``
   within 5 s and be marked interrupted in the store), then a restart of Redis
   (workers hold their events and reconnect; the outage each saw is reported); every
   other call must end cleanly with its stored events equal to what the wall board got.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HELP = "scale-out: knee with 1 and 2 workers, gateway feeds, worker loss and Redis restart"

SUPERVISOR_KINDS = (
    "call_started",
    "metrics",
    "alert",
    "prompt",
    "prompt_clear",
    "empathy",
    "episode",
    "overload",
    "call_ended",
)
"""The wall board's always-sent types (server.feeds) that the store also keeps."""
LOST_WITHIN_S = 5.0
ACKS = 5


def _int_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers: {text!r}")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--max-calls", type=int, default=3, help="largest ramp level (default 3)")
    p.add_argument(
        "--levels",
        type=_int_list,
        default=None,
        help="ramp these call counts instead of 1..--max-calls (e.g. 8,12,16,20)",
    )
    p.add_argument(
        "--ramp-workers",
        type=_int_list,
        default=[1, 2],
        help="worker counts whose ramps run (default 1,2)",
    )
    p.add_argument("--no-faults", action="store_true", help="skip the fault phase")
    p.add_argument("--call-s", type=float, default=45.0, help="seconds of audio per call")
    p.add_argument("--stagger-ms", type=int, default=1300, help="start offset between calls")
    p.add_argument("--fault-calls", type=int, default=3, help="calls in the fault phase")
    p.add_argument("--kill-after-s", type=float, default=12.0, help="kill -9 a worker this late")
    p.add_argument("--redis-restart-after-s", type=float, default=22.0, help="restart Redis then")
    p.add_argument(
        "--database-url", default="", help="the store (default: a PostgreSQL started here)"
    )
    p.add_argument("--sqlite", action="store_true", help="one shared SQLite file instead")
    p.add_argument("--skip-single", action="store_true", help="skip the one-process baseline")
    p.add_argument("--faults-only", action="store_true", help="only the fault phase (reruns)")
    p.add_argument("--max-minutes", type=float, default=14.0, help="bound on the whole run")


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result))
    else:
        for name in ("one_worker", "two_workers"):
            r = result.get(name) or {}
            print(f"{name}: knee {r.get('knee_calls')} calls; split {r.get('split_at_top')}")
        f = result.get("faults") or {}
        print(f"worker killed: calls gone from the wall board in {f.get('lost_calls_gone_s')} s")
        print(f"redis restart: outage {f.get('redis_outage_s')} s; intact {f.get('others_intact')}")
    return 0


@dataclass(slots=True)
class WallBoard:
    """Every wall-board message of interest: per call, (type, t_ms), with arrival times."""

    events: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    ended: dict[str, tuple[float, str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


async def watch_wall(url: str, board: WallBoard, ready: asyncio.Event) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    try:
        async with connect(url, max_size=None, open_timeout=30) as ws:
            await ws.send(json.dumps({"type": "subscribe", "calls": "*"}))
            ready.set()
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    msg = json.loads(raw)
                    kind, call_id = msg.get("type"), msg.get("call_id")
                    if kind == "snapshot":
                        for c in msg.get("calls", []):
                            board.first_seen.setdefault(c["call_id"], time.time())
                        continue
                    if not call_id or kind not in SUPERVISOR_KINDS:
                        continue
                    board.first_seen.setdefault(call_id, time.time())
                    board.events.setdefault(call_id, []).append((kind, int(msg["t_ms"])))
                    if kind == "call_ended":
                        board.ended[call_id] = (time.time(), str(msg.get("reason")))
    except Exception as exc:
        ready.set()
        board.errors.append(f"{type(exc).__name__}: {exc}"[:200])


class Site:
    """``voice-assist serve --workers N`` (or plain ``serve``) with its own data directory."""

    def __init__(self, bench: Any, workers: int, redis_url: str, database_url: str) -> None:
        from voice_assist.cluster.site import free_port

        self.bench, self.workers = bench, workers
        self.redis_url, self.database_url = redis_url, database_url
        self.port, self.media_port = free_port(), free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="va-cluster-")
        self.proc: subprocess.Popen[bytes] | None = None
        self._spread: Iterator[str] = iter(())

    @property
    def ws(self) -> str:
        """Media ingress for the next caller: one process itself; a site's workers in
        turn, each on its own port (as a load balancer in front of them would)."""
        if not self.workers:
            return f"ws://127.0.0.1:{self.port}"
        return next(self._spread)

    @property
    def feed_ws(self) -> str:  # overlays and wall boards: the gateway
        return f"ws://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    @property
    def data_dir(self) -> Path:
        return Path(self.tmp.name)

    async def __aenter__(self) -> Site:
        from benchmarks.live import wait_healthy
        from benchmarks.load import ADMISSION_OFF, _spawn

        env = dict(os.environ)
        env.update(
            VOICE_ASSIST_SECRET=self.bench.secret,
            VOICE_ASSIST_INGEST_KEYS=self.bench.key,
            VOICE_ASSIST_DATA_DIR=self.tmp.name,
            VOICE_ASSIST_SERVER__MAX_CONNECTIONS_PER_KEY="1000",
            VOICE_ASSIST_REDIS_URL=self.redis_url,
        )
        env.update(ADMISSION_OFF)  # the ramp finds the knee, as in bench load
        if self.database_url:
            env["VOICE_ASSIST_DATABASE_URL"] = self.database_url
        cmd = [
            sys.executable,
            "-m",
            "voice_assist",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.workers:
            cmd += ["--workers", str(self.workers), "--media-port", str(self.media_port)]
        self.proc = _spawn(cmd, env)
        await wait_healthy(self.health_url, self.proc)
        if self.workers:  # the gateway is up: wait for every worker's liveness key
            deadline = time.monotonic() + 300
            while len(workers := (await self.health()).get("workers", {})) < self.workers:
                assert time.monotonic() < deadline, "workers did not come up"
                await asyncio.sleep(0.5)
            self._spread = itertools.cycle(sorted(w["media_url"] for w in workers.values()))
        return self

    async def health(self) -> dict[str, Any]:
        import httpx

        async with httpx.AsyncClient() as http:
            r = await http.get(self.health_url, timeout=5)
            return dict(r.json())

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(self.proc.wait, 60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.tmp.cleanup()

    @contextlib.contextmanager
    def store(self) -> Iterator[Any]:
        """The site's store, opened as one more process would."""
        from voice_assist.config import load_settings
        from voice_assist.store import Store

        env = {"VOICE_ASSIST_DATA_DIR": self.tmp.name}
        if self.database_url:
            env["VOICE_ASSIST_DATABASE_URL"] = self.database_url
        store = Store.open(load_settings(env=env))
        try:
            yield store
        finally:
            store.close()

    def stored_events(self, call_ids: list[str]) -> dict[str, list[tuple[str, int]]]:
        with self.store() as store:
            return {
                cid: [
                    (m["type"], int(m["t_ms"]))
                    for m in store.iter_events(cid, types=SUPERVISOR_KINDS)
                ]
                for cid in call_ids
            }

    def statuses(self, call_ids: list[str]) -> dict[str, str]:
        with self.store() as store:
            return {cid: store.get_call(cid).status for cid in call_ids}


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (the site's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid] + _children(pid)
    for p in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _children(pid: int) -> list[str | int]:
    out: list[str | int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def compare(board: WallBoard, stored: dict[str, list[tuple[str, int]]]) -> dict[str, Any]:
    """The wall board against the store, per call: complete, in order, no duplicates
    (an event counted more often than the store has it)."""
    missing = dup = disorder = total = 0
    for cid, want in stored.items():
        got = board.events.get(cid, [])
        total += len(want)
        have, need = collections.Counter(got), collections.Counter(want)
        dup += sum((have - need).values())
        missing += sum((need - have).values())
        common = [e for e in got if e in need]
        disorder += int(common != [e for e in want if e in have])
    return {
        "stored_events": total,
        "missing": missing,
        "duplicates": dup,
        "calls_out_of_order": disorder,
        "complete": total > 0 and missing == 0 and dup == 0 and disorder == 0,
    }


async def _level(bench: Any, site: Site, n: int, label: str) -> dict[str, Any]:
    from benchmarks import load

    board = WallBoard()
    ready = asyncio.Event()
    wall = asyncio.create_task(
        watch_wall(f"{site.feed_ws}/v1/supervisor?token={bench.supervisor_token()}", board, ready)
    )
    await asyncio.wait_for(ready.wait(), 30)
    split: dict[str, int] = {}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                for w, loadfig in (await site.health()).get("workers", {}).items():
                    split[w] = max(split.get(w, 0), int(loadfig.get("live_calls", 0)))
            await asyncio.sleep(1.0)

    assert site.proc is not None
    sampler = asyncio.create_task(sample())
    cpu0, t0 = tree_cpu_s(site.proc.pid), time.monotonic()
    traces, _ = await load._calls(
        bench,
        site,
        n,
        start_gap_s=bench.args.stagger_ms / 1000,
        seconds=bench.args.call_s,
        label=label,
    )
    cores = (tree_cpu_s(site.proc.pid) - cpu0) / (time.monotonic() - t0)
    stop.set()
    await sampler
    wall.cancel()
    await asyncio.gather(wall, return_exceptions=True)
    judged = load._judge(traces)
    ids = [t.call_id for t in traces if t.call_id]
    seen_s = [board.first_seen[c] - t.t0 for t in traces if (c := t.call_id) in board.first_seen]
    level = {
        "calls": n,
        **judged,
        "site_cpu_cores": round(cores, 3),
        "calls_per_worker_max": sorted(split.values(), reverse=True),
        "wall_board_vs_store": compare(board, await asyncio.to_thread(site.stored_events, ids)),
        "wall_board_seen_after_start_s_max": round(max(seen_s, default=0.0), 3),
        "wall_board_errors": board.errors,
    }
    level["within_budget"] = not judged["over_budget"] and not judged["refused"]
    return level


async def _ramp(bench: Any, site: Site, label: str) -> dict[str, Any]:
    levels, knee, broken = [], 0, False
    for n in bench.args.levels or range(1, bench.args.max_calls + 1):
        if bench.remaining_s() < bench.args.call_s + 60:
            break
        level = await _level(bench, site, n, f"{label}{n}")
        levels.append(level)
        broken = broken or not level["within_budget"]
        if not broken:
            knee = n  # every level up to this one within budget
    top = levels[-1] if levels else {}
    return {
        "knee_calls": knee,
        "levels": levels,
        "split_at_top": top.get("calls_per_worker_max"),
        "wall_board_complete": all(lv["wall_board_vs_store"]["complete"] for lv in levels),
    }


async def _faults(bench: Any, site: Site, redis: Any) -> dict[str, Any]:
    from benchmarks import load

    args = bench.args
    board = WallBoard()
    ready = asyncio.Event()
    wall = asyncio.create_task(
        watch_wall(f"{site.feed_ws}/v1/supervisor?token={bench.supervisor_token()}", board, ready)
    )
    await asyncio.wait_for(ready.wait(), 30)
    calls = asyncio.create_task(
        load._calls(
            bench,
            site,
            args.fault_calls,
            start_gap_s=args.stagger_ms / 1000,
            seconds=args.call_s,
            label="fault",
        )
    )
    acks = await _acks(bench, site, f"load-{bench.run_tag}-fault-0", within_s=args.kill_after_s)
    health = await site.health()
    victim = max(health["workers"].values(), key=lambda w: w["live_calls"])
    victim_calls = set(await _calls_of(site, board, victim["worker_id"]))
    killed_at = time.time()
    os.kill(int(victim["pid"]), signal.SIGKILL)
    await asyncio.sleep(max(0.0, args.redis_restart_after_s - args.kill_after_s))
    t_restart = time.monotonic()
    await asyncio.to_thread(redis.restart)
    restart_s = time.monotonic() - t_restart
    traces, _ = await calls
    wall.cancel()
    await asyncio.gather(wall, return_exceptions=True)
    after = await site.health()
    gone = [board.ended[c][0] - killed_at for c in victim_calls if c in board.ended]
    reasons = sorted({board.ended[c][1] for c in victim_calls if c in board.ended})
    others = [t for t in traces if t.call_id and t.call_id not in victim_calls]
    other_ids = [str(t.call_id) for t in others]
    stored = await asyncio.to_thread(site.stored_events, other_ids)
    statuses = await asyncio.to_thread(site.statuses, sorted(victim_calls) + other_ids)
    intact = compare(board, stored)
    return {
        "calls": args.fault_calls,
        **acks,
        "killed_worker_calls": len(victim_calls),
        "lost_calls_gone_s": round(max(gone), 3) if gone else None,
        "lost_calls_gone_within_5s": bool(gone)
        and len(gone) == len(victim_calls)
        and max(gone) <= LOST_WITHIN_S,
        "lost_call_reasons": reasons,
        "lost_calls_stored_status": sorted({statuses[c] for c in victim_calls}),
        "other_calls": len(others),
        "other_calls_errors": [e for t in others for e in t.errors][:5],
        "other_calls_ended_cleanly": all(t.ended for t in others),
        "other_calls_stored_status": sorted({statuses[c] for c in other_ids}),
        "others_intact": intact,
        "redis_restart_s": round(restart_s, 3),
        "redis_outage_s": {
            w: f.get("redis_last_outage_s") for w, f in after.get("workers", {}).items()
        },
        "events_dropped_by_workers": sum(
            int(f.get("dropped", 0)) for f in after.get("workers", {}).values()
        ),
        "gateway_after": {
            k: after.get(k)
            for k in ("status", "relay_last_outage_s", "duplicates_dropped", "calls_lost")
        },
    }


async def _acks(bench: Any, site: Site, agent_id: str, *, within_s: float) -> dict[str, Any]:
    """An overlay on the gateway acks its call's prompt ``ACKS`` times (a made-up prompt id
    each: the worker records any ack of its live call); how long until each is back on the
    overlay (via the worker and the stream) and until it is a row in the store."""

    from benchmarks import loadgen

    deadline = time.monotonic() + within_s
    echoed: list[float] = []
    stored: list[float] = []
    url = f"{site.feed_ws}/v1/agent?token={bench.agent_token(agent_id)}"

    def has_ack(call_id: str, prompt_id: str) -> bool:
        rows = store.iter_events(call_id, types=("prompt_ack",))
        return any(m.get("prompt_id") == prompt_id for m in rows)

    with site.store() as store, contextlib.suppress(TimeoutError):
        await _ack_rounds(ws_url=url, deadline=deadline, echoed=echoed, stored=stored,
                          has_ack=has_ack)  # fmt: skip
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    return {
        "acks_sent": ACKS,
        "ack_on_overlay_ms": loadgen.stats([1000 * x for x in echoed]),
        "ack_stored_ms": loadgen.stats([1000 * x for x in stored]),
        "acks_stored": len(stored),
    }


async def _ack_rounds(
    *, ws_url: str, deadline: float, echoed: list[float], stored: list[float], has_ack: Any
) -> None:
    from websockets.asyncio.client import connect

    async with connect(ws_url, max_size=None) as ws:
        call_id = None
        while call_id is None and time.monotonic() < deadline:
            msg = json.loads(await ws.recv())
            if msg.get("type") == "snapshot" and msg.get("calls"):
                call_id = msg["calls"][0]["call_id"]
            elif msg.get("type") == "call_started":
                call_id = msg["call_id"]
        for k in range(ACKS):
            if call_id is None or time.monotonic() > deadline - 1.5:
                break
            prompt_id = f"bench-ack-{k}"
            t0 = time.monotonic()
            body = {"type": "prompt_ack", "call_id": call_id, "prompt_id": prompt_id}
            await ws.send(json.dumps({**body, "action": "shown"}))
            while time.monotonic() - t0 < 3:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 3))
                if msg.get("type") == "prompt_ack" and msg.get("prompt_id") == prompt_id:
                    echoed.append(time.monotonic() - t0)
                    break
            while time.monotonic() - t0 < 3:
                if await asyncio.to_thread(has_ack, call_id, prompt_id):
                    stored.append(time.monotonic() - t0)
                    break
                await asyncio.sleep(0.02)


async def _calls_of(site: Site, board: WallBoard, worker_id: str) -> list[str]:
    """The live calls of one worker, from the Redis live-call hash."""
    import redis.asyncio as aioredis

    from voice_assist.cluster.redis_bus import text

    client = aioredis.from_url(site.redis_url)
    try:
        rows = await client.hgetall("va:live")
        return [text(k) for k, v in rows.items() if json.loads(v)["worker_id"] == worker_id]
    finally:
        await client.aclose()


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.load import Bench

    bench = Bench(args)
    t_start = time.monotonic()
    with contextlib.ExitStack() as stack:
        if not args.database_url and not args.sqlite:
            from voice_assist.store.pg_local import LocalPostgres

            args.database_url = stack.enter_context(LocalPostgres()).url
        return await _phases(args, bench, t_start)


async def _phases(args: argparse.Namespace, bench: Any, t_start: float) -> dict[str, Any]:
    from voice_assist.cluster.site import RedisServer

    out: dict[str, Any] = {
        "bench": "cluster",
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "setup": {
            "call_s": args.call_s,
            "store": "sqlite (one file, shared)" if args.sqlite else "postgresql",
            "bus": "redis-server (started here, loopback)",
            "feeds": "overlays and wall board on the gateway, calls on the workers",
        },
        "notes": [],
    }
    with RedisServer() as redis:
        if not (args.skip_single or args.faults_only):
            async with Site(bench, 0, redis.url, args.database_url) as single:
                lv = await _level(bench, single, 1, "single")
            out["one_process"] = {
                k: lv[k] for k in ("final_lag_ms", "prompt_ms", "distress_lag_ms", "site_cpu_cores")
            }
        sizes = (("one_worker", 1), ("two_workers", 2))
        ramps = [(name, w) for name, w in sizes if w in args.ramp_workers]
        for name, workers in () if args.faults_only else ramps:
            async with Site(bench, workers, redis.url, args.database_url) as site:
                out[name] = await _ramp(bench, site, name[:3])
            await asyncio.to_thread(redis.restart)  # a clean stream per site
        if args.no_faults:
            out["notes"].append("fault phase skipped: --no-faults")
        elif bench.remaining_s() > args.call_s + 90:
            async with Site(bench, 2, redis.url, args.database_url) as site:
                out["faults"] = await _faults(bench, site, redis)
        else:
            out["notes"].append("fault phase skipped: --max-minutes")
    if args.faults_only:
        out["duration_s"] = round(time.monotonic() - t_start, 1)
        return out
    ramped = [name for name in ("one_worker", "two_workers") if name in out]
    for name in ramped:
        out[f"knee_{name}"] = out[name]["knee_calls"]
    if "two_workers" in out:
        two = out["two_workers"]
        out["split_two_workers"] = two["split_at_top"]
        top2 = next((lv for lv in two["levels"] if lv["calls"] == two["knee_calls"]), None)
        if top2 is not None:
            out["at_knee_two_workers"] = {
                k: top2[k]
                for k in ("final_lag_ms", "prompt_ms", "distress_lag_ms", "site_cpu_cores",
                          "wall_board_seen_after_start_s_max")
            }  # fmt: skip
    # the overlay on a gateway against one process, one call each (same run)
    single_prompt = (out.get("one_process") or {}).get("prompt_ms", {}).get("p95")
    for name in ramped:
        first = next((lv for lv in out[name]["levels"] if lv["calls"] == 1), None)
        gw_prompt = first["prompt_ms"]["p95"] if first else None
        if single_prompt is not None and gw_prompt is not None:
            out[f"prompt_p95_gateway_minus_one_process_ms_{name}"] = round(
                gw_prompt - single_prompt, 1
            )
    out["wall_board_complete"] = all(out[name]["wall_board_complete"] for name in ramped)
    out["duration_s"] = round(time.monotonic() - t_start, 1)
    return out
