"""``voice-assist bench live``: real-time calls through ``/v1/ingest``, timed on the overlay.

The server runs as its own process (``voice-assist serve``, a random secret and ingest
key, a throw-away data directory), exactly as deployed; this process plays N callers
over loopback (the bundled demo call at 1x, starts staggered) and, for each, an agent
overlay on ``/v1/agent``.  Per call it measures, on the overlay's side:

- ``episode_to_prompt_ms``: from the moment the audio that raised the distress episode
  was sent (media time ``t_ms`` of the episode on the real-time sending clock) to the
  prompt arriving on the overlay.  Target <= 300 ms.
- ``episode_msg_to_prompt_ms``: between the episode and the prompt messages on the
  overlay (the coach's own hop).
- ``utterance_end_to_prompt_ms``: from the end of the customer's distressed utterance
  (from the demo call's script) to the prompt on the overlay; negative when the prompt
  came while the customer was still speaking.  Target p95 <= 1.5 s.
- ``final_lag_ms``: end of an utterance (where its speech audibly stops in the demo
  call's audio, :mod:`benchmarks.speech_ends`) to its final transcript on the
  overlay (budget p95 <= 1.2 s), and overload events.

A level of N calls is *sustained* (kept in real time) when every call got its prompt
within both prompt targets, no overload was reported (the decoder never shed work) and
no sender was held back by more than 0.5 s; it is *within budget* when, on top, the
finals kept their p95 budget.  ``--levels 1,2,4`` ramps; the answer is the largest level
sustained.  Figures taken on a shared or busy machine are preliminary (the JSON says
the load average when it started).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.loadgen import stats
from benchmarks.speech_ends import call_ends_ms, end_within

HELP = "stream N real-time calls through /v1/ingest and time prompts on the overlay"

TARGET_EPISODE_TO_PROMPT_MS = 300
TARGET_UTTERANCE_END_TO_PROMPT_P95_MS = 1500
BUDGET_FINAL_LAG_P95_MS = 1200
MAX_SENDER_LATE_MS = 500


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--levels", default="1", help="comma-separated numbers of concurrent calls (default 1)"
    )
    p.add_argument(
        "--duration-ms",
        type=int,
        default=0,
        help="stream only this much of the demo call (0: all of it)",
    )
    p.add_argument("--stagger-ms", type=int, default=1500, help="start offset between calls")
    p.add_argument("--no-store", action="store_true", help="run the server without the call store")
    p.add_argument(
        "--stop-early", action="store_true", help="stop the ramp at the first failed level"
    )


@dataclass(slots=True)
class CallTrace:
    index: int
    agent_id: str
    call_id: str | None = None
    t0_wall_s: float = 0.0
    episode: tuple[float, dict[str, Any]] | None = None
    prompt: tuple[float, dict[str, Any]] | None = None
    finals: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    overloads: int = 0
    sender_late_ms: float = 0.0
    errors: list[Any] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result))
    else:
        for level in result["levels"]:
            print(
                f"{level['calls']:3d} calls: episode->prompt p95 "
                f"{level['episode_to_prompt_ms']['p95']} ms, utterance end->prompt p95 "
                f"{level['utterance_end_to_prompt_ms']['p95']} ms, final lag p95 "
                f"{level['final_lag_ms']['p95']} ms, overloads {level['overload_events']}, "
                f"sustained {level['sustained']}, within budget {level['within_budget']}"
            )
        print(f"sustained calls: {result['sustained_calls']}")
    return 0


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from voice_assist.server import auth
    from voice_assist.server.ingest_client import load_demo_call

    levels = [int(x) for x in str(args.levels).split(",") if x.strip()]
    call = load_demo_call()
    if args.duration_ms:
        call = call.cut(args.duration_ms)
    ends = call_ends_ms(call.audio, rate_hz=call.rate_hz)
    secret, key = auth.generate_secret(), auth.generate_ingest_key()
    load_before = os.getloadavg()
    out: dict[str, Any] = {
        "bench": "live",
        "call_ms": call.duration_ms,
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load_before],
        "preliminary": load_before[0] > 0.5 * (os.cpu_count() or 1),
        "targets": {
            "episode_to_prompt_ms": TARGET_EPISODE_TO_PROMPT_MS,
            "utterance_end_to_prompt_p95_ms": TARGET_UTTERANCE_END_TO_PROMPT_P95_MS,
            "final_lag_p95_ms": BUDGET_FINAL_LAG_P95_MS,
        },
        "levels": [],
    }
    with tempfile.TemporaryDirectory(prefix="va-bench-") as data_dir:
        port = _free_port()
        server = _start_server(args, port=port, secret=secret, key=key, data_dir=data_dir)
        try:
            await wait_healthy(f"http://127.0.0.1:{port}/healthz", server)
            base = f"ws://127.0.0.1:{port}"
            for n in levels:
                traces = await _run_level(
                    base, call, n, secret=secret, key=key, stagger_ms=args.stagger_ms
                )
                summary = _summarize(n, traces, call.utterances, ends)
                out["levels"].append(summary)
                if args.stop_early and not summary["sustained"]:
                    break
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    sustained = [lv["calls"] for lv in out["levels"] if lv["sustained"]]
    out["sustained_calls"] = max(sustained) if sustained else 0
    in_budget = [lv["calls"] for lv in out["levels"] if lv["within_budget"]]
    out["calls_within_all_budgets"] = max(in_budget) if in_budget else 0
    out["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(
    args: argparse.Namespace, *, port: int, secret: str, key: str, data_dir: str
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        VOICE_ASSIST_SECRET=secret, VOICE_ASSIST_INGEST_KEYS=key, VOICE_ASSIST_DATA_DIR=data_dir
    )
    cmd = [sys.executable, "-m", "voice_assist"]
    if getattr(args, "config", None):
        cmd += ["--config", args.config]
    cmd += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.no_store:
        cmd.append("--no-store")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)


async def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    """Poll ``url`` (a /healthz) until 200; fail if the server process exits or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode} while starting")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url, timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.25)
    raise RuntimeError("the server did not become healthy in time")


async def _run_level(
    base: str, call: Any, n: int, *, secret: str, key: str, stagger_ms: int
) -> list[CallTrace]:
    from voice_assist.server import auth

    tag = f"{n}-{int(time.time())}"
    traces = [CallTrace(index=i, agent_id=f"bench-{tag}-{i}") for i in range(n)]
    feeds = []
    for trace in traces:
        token = auth.sign_token(secret, role="agent", agent_id=trace.agent_id, ttl_s=3600)
        feeds.append(asyncio.create_task(_watch_overlay(f"{base}/v1/agent?token={token}", trace)))
    await asyncio.sleep(0.5)  # overlays connected before the calls start
    callers = [
        asyncio.create_task(
            _caller(f"{base}/v1/ingest", call, trace, key, delay_s=i * stagger_ms / 1000)
        )
        for i, trace in enumerate(traces)
    ]
    await asyncio.gather(*callers)
    await asyncio.sleep(2.0)  # last finals and the call_ended reach the overlays
    for task in feeds:
        task.cancel()
    await asyncio.gather(*feeds, return_exceptions=True)
    return traces


async def _caller(url: str, call: Any, trace: CallTrace, key: str, *, delay_s: float) -> None:
    from voice_assist.server.ingest_client import stream_call

    await asyncio.sleep(delay_s)

    def started(call_id: str, t0: float) -> None:
        trace.call_id, trace.t0_wall_s = call_id, t0

    try:
        result = await stream_call(
            url,
            api_key=key,
            agent_id=trace.agent_id,
            audio=call.audio,
            rate_hz=call.rate_hz,
            on_started=started,
        )
    except Exception as exc:  # a failed call is a result, not a crash of the bench
        trace.errors.append(f"{type(exc).__name__}: {exc}")
        return
    trace.sender_late_ms = result.late_ms_max
    trace.errors.extend(result.errors)


async def _watch_overlay(url: str, trace: CallTrace) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None) as ws:
        async for raw in ws:
            now = time.time()
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind == "episode" and msg.get("state") == "start" and trace.episode is None:
                trace.episode = (now, msg)
            elif (
                kind == "prompt"
                and msg.get("kind") == "pause_and_acknowledge"
                and trace.prompt is None
            ):
                trace.prompt = (now, msg)
            elif kind == "transcript" and msg.get("is_final"):
                trace.finals.append((now, msg))
            elif kind == "overload":
                trace.overloads += 1


def _summarize(
    n: int,
    traces: list[CallTrace],
    utterances: list[dict[str, Any]],
    ends: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """One level's figures; ``ends`` (per channel, ms) are where the call's speech
    audibly stops, the reference of ``final_lag_ms`` (else the finals' ``end_ms``, which
    lies after the voice activity detector's hang-over and the end pad)."""
    distressed = [
        u for u in utterances if u.get("label") == "distressed" and u["channel"] == "customer"
    ]
    episode_to_prompt, hop, utt_to_prompt, final_lag = [], [], [], []
    missing = 0
    for tr in traces:
        if tr.prompt is None or tr.episode is None or not tr.t0_wall_s:
            missing += 1
        else:
            prompt_wall, _ = tr.prompt
            ep_wall, ep = tr.episode
            episode_to_prompt.append(1000 * (prompt_wall - tr.t0_wall_s) - ep["t_ms"])
            hop.append(1000 * (prompt_wall - ep_wall))
            utt = next(
                (u for u in distressed if u["start_ms"] <= ep["t_ms"] <= u["end_ms"] + 2000),
                distressed[0] if distressed else None,
            )
            if utt is not None:
                utt_to_prompt.append(1000 * (prompt_wall - tr.t0_wall_s) - utt["end_ms"])
        for wall, msg in tr.finals:
            if tr.t0_wall_s:
                end_ms = msg["end_ms"]
                if ends is not None:
                    audible = end_within(ends.get(msg["channel"], []), msg["start_ms"], end_ms)
                    end_ms = audible if audible is not None else end_ms
                final_lag.append(1000 * (wall - tr.t0_wall_s) - end_ms)
    level: dict[str, Any] = {
        "calls": n,
        "prompts_missing": missing,
        "episode_to_prompt_ms": stats(episode_to_prompt),
        "episode_msg_to_prompt_ms": stats(hop),
        "utterance_end_to_prompt_ms": stats(utt_to_prompt),
        "final_lag_ms": stats(final_lag),
        "overload_events": sum(t.overloads for t in traces),
        "sender_late_ms_max": round(max((t.sender_late_ms for t in traces), default=0.0)),
        "errors": [e for t in traces for e in t.errors][:5],
    }
    e2p, u2p, lag = (
        level["episode_to_prompt_ms"],
        level["utterance_end_to_prompt_ms"],
        level["final_lag_ms"],
    )
    level["sustained"] = bool(
        missing == 0
        and not level["errors"]
        and e2p["max"] is not None
        and e2p["max"] <= TARGET_EPISODE_TO_PROMPT_MS
        and (u2p["p95"] is None or u2p["p95"] <= TARGET_UTTERANCE_END_TO_PROMPT_P95_MS)
        and level["overload_events"] == 0
        and level["sender_late_ms_max"] <= MAX_SENDER_LATE_MS
    )
    level["within_budget"] = bool(
        level["sustained"] and (lag["p95"] is None or lag["p95"] <= BUDGET_FINAL_LAG_P95_MS)
    )
    return level
