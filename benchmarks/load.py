"""``voice-assist bench load``: the latency knee, shedding past it, and a soak for leaks.

The server runs as its own process (``voice-assist serve``, a random secret and ingest
key, a throw-away data directory, the call store on), exactly as deployed; this process
is the loopback load generator (:mod:`benchmarks.loadgen`).  Three phases:

1. **Ramp** (admission control off, ``asr.admit_*`` = 0, so the server takes every
   call): N = 1, 2, ... ``--max-calls`` simultaneous calls, started ``--stagger-ms``
   apart, mixing native, Twilio and AudioHook ingress round-robin over two real
   recordings (the bundled demo call, which has a distress episode, and the 16 kHz
   benchmark call), ``--call-s`` seconds each at real time, each with its agent's
   overlay, plus ``--supervisors`` wall boards on every call.  A level is *within
   budget* (docs/design.md, "Latency budget") when the final transcripts' p95 lag
   (end of utterance -> overlay) is <= 1.2 s, every episode's prompt reached the
   overlay <= 300 ms after the audio that raised it (p95), distress updates lag
   <= 250 ms (p95), no call was refused or failed, no overload was reported and no
   sender fell 0.5 s behind.  The **knee** is the largest N within budget; the ramp
   stops at the first level over it.
2. **Shed** (admission control as configured, a fresh server): the knee's calls start
   as in the ramp; ``--shed-after-s`` later (time for the server to measure them)
   ``max(2, knee)`` more callers arrive ``--shed-interval-s`` apart.  Past the knee the
   server must refuse new calls with a clear reason (native: ``error`` + close 1013
   ``overloaded``; Twilio: close 1013; AudioHook: ``disconnect``), and the calls it
   admitted must keep the budget: ``sheds_beyond_knee``.
3. **Soak** (admission off: compressed calls cost ``--soak-speed`` times the decoder):
   ``--soak-calls`` short calls (``--soak-call-s`` of audio at ``--soak-speed`` x real
   time, ``--soak-concurrency`` at a time, every ingress, an overlay per call; one in
   ``SOAK_SPEECH_EVERY`` with speech, the rest quiet line noise) back to back.  The
   server's RSS and open descriptors are sampled every 10 calls; their least-squares
   slope per 100 calls (after the first 20% as warm-up) and its threads and asyncio
   tasks before and after are reported.

CPU and RSS per call come from ``/proc/<server pid>`` (Linux); figures taken on a shared
or busy machine are preliminary (the JSON says the load average at the start).  The
defaults finish in about 6-9 minutes on 2 cores; ``--max-minutes`` bounds the whole run
(phases that would not fit are skipped and say so).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from benchmarks.live import wait_healthy

HELP = "latency knee of simultaneous calls, load shedding past it, and a leak soak"

BUDGET_FINAL_P95_MS = 1200
BUDGET_PROMPT_MS = 300
BUDGET_DISTRESS_P95_MS = 250
MAX_SENDER_LATE_MS = 500
SOAK_SPEECH_EVERY = 5
SOAK_WARMUP_SHARE = 0.2
SETTLE_S = 3.0
ADMISSION_OFF = {
    "VOICE_ASSIST_ASR__ADMIT_MAX_UTILIZATION": "0",
    "VOICE_ASSIST_ASR__ADMIT_MAX_FINAL_WAIT_MS": "0",
    "VOICE_ASSIST_SERVER__ADMIT_MAX_LOOP_LAG_MS": "0",
    "VOICE_ASSIST_SERVER__ADMIT_MAX_CPU_SHARE": "0",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--max-calls", type=int, default=6, help="largest ramp level (default 6)")
    p.add_argument(
        "--call-s", type=float, default=45.0, help="seconds of audio per call (default 45)"
    )
    p.add_argument(
        "--stagger-ms", type=int, default=1300, help="start offset between calls of a level"
    )
    p.add_argument("--supervisors", type=int, default=2, help="wall boards during the ramp")
    p.add_argument(
        "--knee", type=int, default=None, help="skip the ramp and take this knee (for reruns)"
    )
    p.add_argument(
        "--shed-after-s",
        type=float,
        default=25.0,
        help="shed phase: seconds of the knee's calls before more arrive",
    )
    p.add_argument(
        "--shed-interval-s", type=float, default=3.0, help="shed phase: arrival interval"
    )
    p.add_argument("--soak-calls", type=int, default=200, help="soak calls (0: no soak)")
    p.add_argument("--soak-call-s", type=float, default=3.0, help="seconds of audio per call")
    p.add_argument("--soak-speed", type=float, default=4.0, help="soak pace, x real time")
    p.add_argument("--soak-concurrency", type=int, default=6, help="soak calls at a time")
    p.add_argument("--no-shed", action="store_true", help="skip the shed phase")
    p.add_argument(
        "--max-minutes", type=float, default=10.0, help="bound on the whole run (default 10)"
    )


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result))
    else:
        for level in result["levels"]:
            print(
                f"{level['calls']:2d} calls: final p95 {level['final_lag_ms']['p95']} ms, "
                f"prompt p95 {level['prompt_ms']['p95']} ms, distress p95 "
                f"{level['distress_lag_ms']['p95']} ms, within budget {level['within_budget']}"
                + (f" ({'; '.join(level['over_budget'])})" if level["over_budget"] else "")
            )
        print(f"knee: {result['knee_calls']} calls; sheds beyond it: {result['sheds_beyond_knee']}")
        print(
            f"soak: RSS {result['soak_rss_slope_mb_per_100_calls']} MB/100 calls, "
            f"fds {result['soak_fds_slope_per_100_calls']}/100 calls"
        )
    return 0


# -- orchestration -------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from benchmarks import loadgen
        from voice_assist.config import PROJECT_ROOT
        from voice_assist.server import auth

        self.args = args
        self.secret, self.key = auth.generate_secret(), auth.generate_ingest_key()
        self.clips = loadgen.load_clips(PROJECT_ROOT)
        self.prepared: dict[tuple[str, str, float], loadgen.Prepared] = {}
        self.deadline = time.monotonic() + args.max_minutes * 60
        self.run_tag = os.urandom(3).hex()

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def prepared_for(self, source: str, clip_index: int, seconds: float) -> Any:
        from benchmarks import loadgen

        clip = self.clips[clip_index % len(self.clips)]
        key = (source, clip.name, seconds)
        if key not in self.prepared:
            self.prepared[key] = loadgen.prepare(source, clip.cut(seconds))
        return self.prepared[key]

    def agent_token(self, agent_id: str) -> str:
        from voice_assist.server import auth

        return auth.sign_token(self.secret, role="agent", agent_id=agent_id, ttl_s=7200)

    def supervisor_token(self) -> str:
        from voice_assist.server import auth

        return auth.sign_token(self.secret, role="supervisor", ttl_s=7200)


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    t_start = time.monotonic()
    load_before = os.getloadavg()
    out: dict[str, Any] = {
        "bench": "load",
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load_before],
        "preliminary": load_before[0] > 0.5 * (os.cpu_count() or 1),
        "budget": {
            "final_transcript_p95_ms": BUDGET_FINAL_P95_MS,
            "prompt_after_episode_ms": BUDGET_PROMPT_MS,
            "distress_update_p95_ms": BUDGET_DISTRESS_P95_MS,
            "sender_late_ms": MAX_SENDER_LATE_MS,
        },
        "setup": {
            "call_s": args.call_s,
            "stagger_ms": args.stagger_ms,
            "supervisors": args.supervisors,
            "ingress_mix": "round-robin native, twilio, audiohook",
            "clips": [c.name for c in bench.clips],
            "server": "voice-assist serve (separate process, store on), loopback",
        },
        "levels": [],
        "notes": [],
    }
    # 1. ramp --------------------------------------------------------------------------------
    if args.knee is not None:
        knee = args.knee
        out["notes"].append(f"ramp skipped: knee given as {knee}")
    else:
        knee = 0
        async with ServerProcess(bench, ADMISSION_OFF) as srv:
            for n in range(1, args.max_calls + 1):
                if bench.remaining_s() < args.call_s + n * args.stagger_ms / 1000 + 60:
                    out["notes"].append(f"ramp stopped before {n} calls: --max-minutes")
                    break
                level = await _level(bench, srv, n)
                out["levels"].append(level)
                if not level["within_budget"]:
                    break
                knee = n
    out["knee_calls"] = knee
    at_knee = next((lv for lv in out["levels"] if lv["calls"] == knee), None)
    if at_knee is not None:
        out["at_knee"] = {
            k: at_knee[k]
            for k in (
                "final_lag_ms",
                "prompt_ms",
                "distress_lag_ms",
                "partial_gap_ms",
                "decode_backlog_s_max",
                "decode_queued_max",
                "decoder_utilization_max",
                "measured_call_cost",
                "server_cpu_cores",
                "cpu_cores_per_call",
                "rss_mb_per_call",
                "rss_mb_peak",
            )
        }
        out["final_transcript_ms"] = {k: at_knee["final_lag_ms"][k] for k in ("p50", "p95")}
        out["prompt_latency_ms"] = {k: at_knee["prompt_ms"][k] for k in ("p50", "p95")}
        out["cpu_cores_per_call"] = at_knee["cpu_cores_per_call"]
        out["rss_mb_per_call"] = at_knee["rss_mb_per_call"]
        out["decode_backlog_s_max"] = at_knee["decode_backlog_s_max"]
    # 2. shed ---------------------------------------------------------------------------------
    out["sheds_beyond_knee"] = False
    extra = max(2, knee)
    shed_s = args.shed_after_s + extra * args.shed_interval_s + args.call_s + 60
    if args.no_shed:
        out["notes"].append("shed phase skipped (--no-shed)")
    elif bench.remaining_s() < shed_s + 30:
        out["notes"].append("shed phase skipped: --max-minutes")
    else:
        async with ServerProcess(bench, {}) as srv:
            shed = await _shed(bench, srv, knee, extra)
        out["shed"] = shed
        out["sheds_beyond_knee"] = shed["sheds_beyond_knee"]
    # 3. soak ---------------------------------------------------------------------------------
    out["soak_rss_slope_mb_per_100_calls"] = None
    out["soak_fds_slope_per_100_calls"] = None
    if args.soak_calls > 0:
        if bench.remaining_s() < 60:
            out["notes"].append("soak skipped: --max-minutes")
        else:
            # calls at soak_speed x real time cost that many times the decoder: admission
            # would (rightly) refuse most of them; the soak is about leaks, so it is off
            async with ServerProcess(bench, ADMISSION_OFF) as srv:
                soak = await _soak(bench, srv)
            out["soak"] = soak
            for key in (
                "soak_rss_slope_mb_per_100_calls",
                "soak_fds_slope_per_100_calls",
                "threads_before",
                "threads_after",
                "tasks_before",
                "tasks_after",
            ):
                out[key] = soak[key]
    out["duration_s"] = round(time.monotonic() - t_start, 1)
    out["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


class ServerProcess:
    """``voice-assist serve`` on a free loopback port with a throw-away data directory."""

    def __init__(self, bench: Bench, env: dict[str, str]) -> None:
        self.bench = bench
        self.env = env
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    async def __aenter__(self) -> ServerProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="va-load-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        env = dict(os.environ)
        env.update(
            VOICE_ASSIST_SECRET=self.bench.secret,
            VOICE_ASSIST_INGEST_KEYS=self.bench.key,
            VOICE_ASSIST_DATA_DIR=self._tmp.name,
            VOICE_ASSIST_SERVER__MAX_CONNECTIONS_PER_KEY="1000",
        )
        env.update(self.env)
        cmd = [sys.executable, "-m", "voice_assist"]
        if getattr(self.bench.args, "config", None):
            cmd += ["--config", self.bench.args.config]
        cmd += ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = _spawn(cmd, env)
        await wait_healthy(self.health_url, self.proc)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 30)
        if self._tmp is not None:
            self._tmp.cleanup()


def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)


# -- one group of calls --------------------------------------------------------------------------
async def _calls(
    bench: Bench,
    srv: Any,
    n: int,
    *,
    start_gap_s: float = 0.0,
    starts_s: list[float] | None = None,
    seconds: float,
    speed: float = 1.0,
    supervisors: int = 0,
    clip_for: Callable[[int], int] | None = None,
    label: str,
) -> tuple[list[Any], list[Any]]:
    """Run ``n`` calls (each with its overlay) started ``start_gap_s`` apart (or at
    ``starts_s``, seconds from now); bounded in time."""
    starts = starts_s if starts_s is not None else [i * start_gap_s for i in range(n)]
    from benchmarks import loadgen

    traces = []
    for i in range(n):
        source = loadgen.SOURCES[i % len(loadgen.SOURCES)]
        clip_index = clip_for(i) if clip_for else i % len(bench.clips)
        prep = bench.prepared_for(source, clip_index, seconds)
        traces.append(
            (
                prep,
                loadgen.CallTrace(
                    index=i,
                    source=source,
                    clip=prep.clip.name,
                    agent_id=f"load-{bench.run_tag}-{label}-{i}",
                    expects_prompt=prep.clip.has_episode and seconds >= 43,
                    speech_ends_ms=prep.clip.speech_ends_ms,
                ),
            )
        )
    sups = [loadgen.SupervisorTrace() for _ in range(supervisors)]
    feeds = getattr(srv, "feed_ws", srv.ws)  # a cluster's gateway; else the server itself
    watchers: list[asyncio.Task[None]] = []
    ready = []
    for sup in sups:
        ev = asyncio.Event()
        ready.append(ev)
        url = f"{feeds}/v1/supervisor?token={bench.supervisor_token()}"
        watchers.append(asyncio.create_task(loadgen.watch_supervisor(url, sup, ev)))
    for _, trace in traces:
        ev = asyncio.Event()
        ready.append(ev)
        url = f"{feeds}/v1/agent?token={bench.agent_token(trace.agent_id)}"
        watchers.append(asyncio.create_task(loadgen.watch_overlay(url, trace, ev)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 30)

    async def caller(i: int, prep: Any, trace: Any) -> None:
        await asyncio.sleep(starts[i])
        await loadgen.run_call(srv.ws, prep, trace, key=bench.key, speed=speed)

    bound = max(starts, default=0.0) + seconds / speed + 2 * loadgen.STOP_TIMEOUT_S + 30
    callers = [asyncio.create_task(caller(i, p, t)) for i, (p, t) in enumerate(traces)]
    done, pending = await asyncio.wait(callers, timeout=bound)
    for task in pending:
        task.cancel()
        traces[callers.index(task)][1].errors.append("timed out")
    await asyncio.sleep(SETTLE_S)  # last finals and call_ended reach the overlays
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, *pending, return_exceptions=True)
    return [t for _, t in traces], sups


def _judge(traces: list[Any]) -> dict[str, Any]:
    from benchmarks import loadgen

    accepted = [t for t in traces if t.accepted]
    finals = [x for t in accepted for x in t.final_lags_ms()]
    distress = [x for t in accepted for x in t.distress_lags_ms()]
    prompts = [p for t in accepted if (p := t.prompt_ms()) is not None]
    gaps = [x for t in accepted for x in t.partial_gaps_ms()]
    missing = sum(1 for t in accepted if t.expects_prompt and t.prompt is None)
    summary: dict[str, Any] = {
        "accepted": len(accepted),
        "refused": sum(1 for t in traces if t.refused is not None),
        "final_lag_ms": loadgen.stats(finals),
        "prompt_ms": loadgen.stats(prompts),
        "prompts_missing": missing,
        "distress_lag_ms": loadgen.stats(distress),
        "partial_gap_ms": loadgen.stats(gaps),
        "overload_events": sum(t.overloads for t in accepted),
        "sender_late_ms_max": round(1000 * max((t.late_s for t in accepted), default=0.0)),
        "calls_not_ended_cleanly": sum(1 for t in accepted if not t.ended),
        "errors": [e for t in traces for e in t.errors][:5],
    }
    over = []
    if summary["final_lag_ms"]["p95"] is not None and (
        summary["final_lag_ms"]["p95"] > BUDGET_FINAL_P95_MS
    ):
        over.append(f"final p95 {summary['final_lag_ms']['p95']} ms")
    if summary["prompt_ms"]["p95"] is not None and summary["prompt_ms"]["p95"] > BUDGET_PROMPT_MS:
        over.append(f"prompt p95 {summary['prompt_ms']['p95']} ms")
    if missing:
        over.append(f"{missing} prompt(s) missing")
    if (
        summary["distress_lag_ms"]["p95"] is not None
        and summary["distress_lag_ms"]["p95"] > BUDGET_DISTRESS_P95_MS
    ):
        over.append(f"distress p95 {summary['distress_lag_ms']['p95']} ms")
    if summary["overload_events"]:
        over.append(f"{summary['overload_events']} overload event(s)")
    if summary["sender_late_ms_max"] > MAX_SENDER_LATE_MS:
        over.append(f"sender {summary['sender_late_ms_max']} ms late")
    if summary["errors"] or summary["calls_not_ended_cleanly"]:
        over.append("call errors")
    summary["over_budget"] = over
    return summary


def _resources(
    monitor: Any, idle: Any, n: int, wall_s: float, rusage_cpu_s: float
) -> dict[str, Any]:
    procs, health = monitor.procs, monitor.health
    last = procs[-1] if procs else idle
    cpu_cores = (last.cpu_s - idle.cpu_s) / max(wall_s, 1e-6)
    rss_peak = max((p.rss_mb for p in procs), default=idle.rss_mb)
    admissions = [h.get("admission", {}) for h in health]
    costs = [a["call_cost"] for a in admissions if a.get("call_cost") is not None]
    return {
        "server_cpu_cores": round(cpu_cores, 3),
        "cpu_cores_per_call": round(cpu_cores / max(n, 1), 3),
        "load_generator_cpu_cores": round(rusage_cpu_s / max(wall_s, 1e-6), 3),
        "rss_mb_idle": round(idle.rss_mb, 1),
        "rss_mb_peak": round(rss_peak, 1),
        "rss_mb_per_call": round((rss_peak - idle.rss_mb) / max(n, 1), 2),
        "fds_peak": max((p.fds for p in procs), default=idle.fds),
        "threads_peak": max((p.threads for p in procs), default=idle.threads),
        "decode_backlog_s_max": max((h.get("decode_backlog_s", 0.0) for h in health), default=0.0),
        "decode_queued_max": max((h.get("decode_queued", 0) for h in health), default=0),
        "decoder_utilization_max": max(
            (a.get("utilization", 0.0) for a in admissions), default=0.0
        ),
        "final_wait_p90_s_max": max(
            (a.get("final_wait_p90_s") or 0.0 for a in admissions), default=0.0
        ),
        "measured_call_cost": round(costs[-1], 4) if costs else None,
        "partials_shed": max((h.get("partials_shed", 0) for h in health), default=0),
        "partial_yields": max((h.get("partial_yields", 0) for h in health), default=0),
    }


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _level(bench: Bench, srv: ServerProcess, n: int) -> dict[str, Any]:
    from benchmarks import loadgen

    assert srv.proc is not None
    monitor = loadgen.Monitor(srv.proc.pid, srv.health_url)
    idle, _ = await monitor.snapshot()
    cpu0, t0 = _cpu_self(), time.time()
    monitor.start()
    traces, sups = await _calls(
        bench,
        srv,
        n,
        start_gap_s=bench.args.stagger_ms / 1000,
        seconds=bench.args.call_s,
        supervisors=bench.args.supervisors,
        label=f"L{n}",
    )
    await monitor.stop()
    wall = time.time() - t0
    level: dict[str, Any] = {"calls": n, **_judge(traces)}
    level.update(_resources(monitor, idle, n, wall - SETTLE_S, _cpu_self() - cpu0))
    level["supervisor_messages"] = [s.messages for s in sups]
    level["supervisors_dropped"] = sum(1 for s in sups if s.dropped)
    if level["refused"]:
        level["over_budget"].append(f"{level['refused']} call(s) refused")
    level["within_budget"] = not level["over_budget"]
    return level


async def _shed(bench: Bench, srv: ServerProcess, knee: int, extra: int) -> dict[str, Any]:
    from benchmarks import loadgen

    args = bench.args
    assert srv.proc is not None
    monitor = loadgen.Monitor(srv.proc.pid, srv.health_url)
    monitor.start()
    # the knee's calls as in the ramp; once they run, more callers arrive one by one
    starts = [i * args.stagger_ms / 1000 for i in range(knee)]
    starts += [args.shed_after_s + j * args.shed_interval_s for j in range(extra)]
    traces, _ = await _calls(
        bench,
        srv,
        knee + extra,
        starts_s=starts,
        seconds=args.call_s,
        supervisors=1,
        label="shed",
    )
    await monitor.stop()
    judged = _judge(traces)
    refusals = [
        {"call": t.index, "source": t.source, "reason": t.refused, "close_code": t.close_code}
        for t in traces
        if t.refused is not None
    ]
    clear = all(r["reason"] and "overload" in r["reason"].lower() for r in refusals)
    admitted_ok = not [o for o in judged["over_budget"] if "refused" not in o]
    return {
        "calls_at_knee": knee,
        "late_arrivals": extra,
        "late_arrivals_after_s": args.shed_after_s,
        "arrival_interval_s": args.shed_interval_s,
        "admitted_calls": judged["accepted"],
        "refused_calls": len(refusals),
        "refusals": refusals[:6],
        "refusals_clear": clear,
        "admitted_within_budget": admitted_ok,
        "admitted": {k: v for k, v in judged.items() if k not in ("accepted", "refused")},
        "admission_at_end": monitor.health[-1].get("admission") if monitor.health else None,
        "sheds_beyond_knee": bool(refusals) and clear and admitted_ok,
    }


async def _soak(bench: Bench, srv: ServerProcess) -> dict[str, Any]:
    from benchmarks import loadgen

    args = bench.args
    assert srv.proc is not None
    monitor = loadgen.Monitor(srv.proc.pid, srv.health_url)
    quiet = loadgen.Clip(
        "line_noise",
        (0.002 * _noise(int(args.soak_call_s * 8000) + 8000)).astype("float32"),
        8000,
        False,
    )
    bench.clips.append(quiet)
    quiet_index = len(bench.clips) - 1
    samples: list[tuple[int, Any, dict[str, Any]]] = []
    counters = {"started": 0, "done": 0, "refused": 0}
    failures: list[str] = []
    t0 = time.monotonic()
    budget_s = max(30.0, bench.remaining_s() - 20)
    sup = loadgen.SupervisorTrace()
    sup_ready = asyncio.Event()
    sup_task = asyncio.create_task(
        loadgen.watch_supervisor(
            f"{srv.ws}/v1/supervisor?token={bench.supervisor_token()}", sup, sup_ready
        )
    )
    await asyncio.wait_for(sup_ready.wait(), 30)
    samples.append((0, *(await monitor.snapshot())))

    async def worker() -> None:
        while counters["started"] < args.soak_calls and time.monotonic() - t0 < budget_s:
            i = counters["started"]
            counters["started"] += 1
            source = loadgen.SOURCES[i % len(loadgen.SOURCES)]
            clip = 0 if i % SOAK_SPEECH_EVERY == 0 else quiet_index
            prep = bench.prepared_for(source, clip, args.soak_call_s)
            trace = loadgen.CallTrace(
                index=i,
                source=source,
                clip=prep.clip.name,
                agent_id=f"soak-{bench.run_tag}-{i}",
                expects_prompt=False,
                speech_ends_ms=prep.clip.speech_ends_ms,
            )
            ready = asyncio.Event()
            url = f"{srv.ws}/v1/agent?token={bench.agent_token(trace.agent_id)}"
            overlay = asyncio.create_task(loadgen.watch_overlay(url, trace, ready))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 30)
            await asyncio.wait_for(
                loadgen.run_call(srv.ws, prep, trace, key=bench.key, speed=args.soak_speed),
                args.soak_call_s / args.soak_speed + 2 * loadgen.STOP_TIMEOUT_S + 30,
            )
            overlay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await overlay
            if trace.refused is not None:
                counters["refused"] += 1
            elif trace.errors or not trace.ended:
                failures.append(f"{source}: {'; '.join(trace.errors) or 'not ended'}"[:200])
            counters["done"] += 1
            if counters["done"] % 10 == 0:
                samples.append((counters["done"], *(await monitor.snapshot())))

    workers = [asyncio.create_task(worker()) for _ in range(max(1, args.soak_concurrency))]
    results = await asyncio.gather(*workers, return_exceptions=True)
    failures += [f"worker: {r!r}"[:200] for r in results if isinstance(r, BaseException)]
    await asyncio.sleep(SETTLE_S)
    proc, health = await monitor.snapshot()
    samples.append((counters["done"], proc, health))
    sup_task.cancel()
    await asyncio.gather(sup_task, return_exceptions=True)
    done = counters["done"]
    running = samples[1:-1]  # sampled while calls ran (the first and last are idle)
    warm = [s for s in running if s[0] >= SOAK_WARMUP_SHARE * done] or running
    xs = [float(s[0]) for s in warm]
    late = [s for s in running if s[0] >= done / 2] or running
    before = samples[0]  # idle, one wall board connected: as after the settle
    warmed = running[0] if running else before  # threads start lazily with the first calls
    return {
        "calls": done,
        "call_s": args.soak_call_s,
        "speed": args.soak_speed,
        "concurrency": args.soak_concurrency,
        "speech_every": SOAK_SPEECH_EVERY,
        "duration_s": round(time.monotonic() - t0, 1),
        "refused": counters["refused"],
        "failed": len(failures),
        "failures": failures[:5],
        "supervisor_messages": sup.messages,
        "supervisor_dropped": sup.dropped,
        "soak_rss_slope_mb_per_100_calls": loadgen.slope_per_100(xs, [s[1].rss_mb for s in warm]),
        "soak_rss_slope_second_half_mb_per_100_calls": loadgen.slope_per_100(
            [float(s[0]) for s in late], [s[1].rss_mb for s in late]
        ),
        "soak_fds_slope_per_100_calls": loadgen.slope_per_100(xs, [float(s[1].fds) for s in warm]),
        "samples_at_calls": [s[0] for s in samples],
        "rss_mb": [round(s[1].rss_mb, 1) for s in samples],
        "fds": [s[1].fds for s in samples],
        "threads": [s[1].threads for s in samples],
        "tasks": [s[2].get("tasks") for s in samples],
        "rss_mb_idle_before_after": [round(before[1].rss_mb, 1), round(proc.rss_mb, 1)],
        "fds_idle_before_after": [before[1].fds, proc.fds],
        "threads_idle_at_start": before[1].threads,
        "threads_before": warmed[1].threads,
        "threads_after": proc.threads,
        "tasks_before": before[2].get("tasks"),
        "tasks_after": health.get("tasks"),
        "live_calls_after": health.get("live_calls"),
        "connections_after": {
            "ingest": health.get("ingest_connections"),
            "feeds": health.get("feed_connections"),
        },
    }


def _noise(n: int) -> Any:
    import numpy as np

    return np.random.default_rng(7).standard_normal((n, 2))


__all__ = ["HELP", "add_arguments", "run"]
