"""``voice-assist bench profile``: where a live call's CPU goes, stage by stage.

The server runs as deployed (``voice-assist serve``, its own process, the store on),
the calls come from the load generator of ``bench load`` (mixed ingresses, an overlay
per call, wall boards), and ``py-spy`` samples the server without stopping it
(``--nonblocking``, every thread, idle threads left out).  Each sample's stack is
put in one stage by the first rule of :data:`STAGES` that one of its frames matches,
so a decode called from the event loop counts as a decode, not as the loop.

The result per level (``--calls 1,3``): the server's CPU cores from ``/proc`` over
the recording, the share of on-CPU samples per stage and those shares as cores, the
top functions by own time, and per level a collapsed-stack file and an SVG flame
graph under ``--out`` (default ``artifacts/profile/``).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELP = "sample the live server under N calls with py-spy and split its CPU by stage"

STAGES: tuple[tuple[str, str], ...] = (
    ("final decodes", r"\bfinal \(.*asr/decoder\.py|_continue \(.*asr/decoder\.py"),
    ("partial decodes", r"\bpartial \(.*asr/decoder\.py"),
    ("VAD", r"asr/vad\.py"),
    ("prosody", r"voice_assist/prosody/"),
    ("distress", r"voice_assist/distress/"),
    ("coach", r"voice_assist/coach/"),
    ("store writes", r"voice_assist/store/"),
    ("ingress and audio decoding", r"server/(twilio|audiohook|native|legs|ingest)\.py|/audio/"),
    ("streaming ASR (framing, agreement)", r"voice_assist/asr/"),
    ("serialisation", r"voice_assist/wire\.py|json/encoder\.py|json/decoder\.py"),
    ("feeds and websockets", r"server/feeds\.py|server/outbox\.py|/websockets/|/uvicorn/|/h11/"),
    ("event routing", r"voice_assist/runtime/"),
    ("event loop and other", r"."),
)
"""(stage, regex on one frame): the first stage any frame of a stack matches wins."""

_FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--calls", default="1,3", help="comma-separated call levels (default 1,3)")
    p.add_argument("--call-s", type=float, default=40.0, help="seconds of audio per call")
    p.add_argument("--stagger-ms", type=int, default=1300, help="start offset between calls")
    p.add_argument("--supervisors", type=int, default=1, help="wall boards on every call")
    p.add_argument("--rate-hz", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--out", default="artifacts/profile", help="folder for stacks and SVGs")


def run(args: argparse.Namespace) -> int:
    if shutil.which("py-spy") is None and not Path(sys.executable).with_name("py-spy").exists():
        raise SystemExit("bench profile needs py-spy: pip install py-spy (in the dev extras)")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result))
    else:
        for level in result["levels"]:
            print(f"{level['calls']} call(s): server {level['server_cpu_cores']} cores")
            for thread, cores in level["threads_cores"].items():
                print(f"  thread {thread:31s} {cores:.3f} cores")
            for stage, row in level["stages"].items():
                print(f"  {stage:38s} {row['share']:6.1%}  {row['cores']:.3f} cores")
    return 0


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.load import ADMISSION_OFF, Bench, ServerProcess, _calls

    levels = [int(x) for x in str(args.calls).split(",") if x.strip()]
    ns = argparse.Namespace(**{"max_minutes": 60.0, "config": None, **vars(args)})
    bench = Bench(ns)
    out_dir = Path(args.out)
    result: dict[str, Any] = {
        "bench": "profile",
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "setup": {
            "call_s": args.call_s,
            "supervisors": args.supervisors,
            "rate_hz": args.rate_hz,
            "ingress_mix": "round-robin native, twilio, audiohook",
            "sampler": "py-spy record --nonblocking --threads (idle threads not sampled)",
        },
        "levels": [],
    }
    for n in levels:
        async with ServerProcess(bench, ADMISSION_OFF) as srv:
            assert srv.proc is not None
            raw = out_dir / f"server-{n}call.txt"
            duration_s = int(args.call_s + (n - 1) * args.stagger_ms / 1000)
            spy = _start_spy(srv.proc.pid, raw, args.rate_hz, duration_s)
            cpu0, t0 = _cpu_s(srv.proc.pid), time.monotonic()
            threads0 = thread_cpu_s(srv.proc.pid)
            busy0 = await _decode_busy(srv.health_url)
            calls = asyncio.create_task(
                _calls(
                    bench,
                    srv,
                    n,
                    start_gap_s=args.stagger_ms / 1000,
                    seconds=args.call_s,
                    supervisors=args.supervisors,
                    label=f"P{n}",
                )
            )
            await asyncio.to_thread(spy.wait)
            wall_s = time.monotonic() - t0
            cores = (_cpu_s(srv.proc.pid) - cpu0) / wall_s
            threads1 = thread_cpu_s(srv.proc.pid)
            busy1 = await _decode_busy(srv.health_url)
            thread_cores = {
                tid: (threads1[tid] - threads0.get(tid, 0.0)) / wall_s for tid in threads1
            }
            traces, _ = await calls
        stacks = read_collapsed(raw.read_text())
        busy = {k: busy1.get(k, 0.0) - busy0.get(k, 0.0) for k in busy1}
        level = summarize(stacks, cores, thread_cores, native_split(busy))
        level["decoder_busy_s"] = {k: round(v, 2) for k, v in busy.items()}
        level["calls"] = n
        level["server_cpu_cores_per_call"] = round(cores / n, 3)
        level["finals"] = sum(len(t.final_lags_ms()) for t in traces)
        level["stacks_file"] = str(raw)
        svg = out_dir / f"server-{n}call.svg"
        title = f"voice-assist serve, {n} live call(s), Python threads (decodes: see the JSON)"
        svg.write_text(flame_svg(stacks, title=title))
        level["flame_graph"] = str(svg)
        result["levels"].append(level)
    return result


def _start_spy(pid: int, out: Path, rate_hz: int, duration_s: int) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate_hz)]
    cmd += ["--duration", str(duration_s), "--format", "raw", "--output", str(out)]
    cmd += ["--nonblocking", "--threads"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _decode_busy(health_url: str) -> dict[str, float]:
    import httpx

    async with httpx.AsyncClient() as http:
        body = (await http.get(health_url, timeout=10)).json()
    return {str(k): float(v) for k, v in body.get("decode_busy_s", {}).items()}


def native_split(busy_s: dict[str, float]) -> dict[str, float]:
    """Shares of the decoder's busy seconds: partials vs finals (narrow ones included)."""
    partial = busy_s.get("partial", 0.0)
    final = sum(v for k, v in busy_s.items() if k.startswith("final"))
    total = partial + final
    if total <= 0:
        return {NATIVE: 1.0}
    return {"partial decodes": partial / total, "final decodes": final / total}


def thread_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of every thread of ``pid`` by thread id, from ``/proc``."""
    out: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- analysis (pure) -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stack:
    frames: tuple[str, ...]
    """Root first, each ``func (file:line)``; the first may be py-spy's thread frame."""
    count: int


def read_collapsed(text: str) -> list[Stack]:
    """py-spy's ``--format raw`` (Brendan Gregg's collapsed stacks): ``a;b;c 17``."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append(Stack(tuple(stack.split(";")), int(count)))
    return stacks


def stage_of(frames: tuple[str, ...]) -> str:
    for stage, pattern in _COMPILED:
        if any(pattern.search(f) for f in frames):
            return stage
    return STAGES[-1][0]


_COMPILED = tuple((name, re.compile(rx)) for name, rx in STAGES)


def _leaf_function(frame: str) -> str:
    m = _FRAME_RE.match(frame)
    if m is None:
        return frame
    file = m["file"]
    for marker in ("site-packages/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    if "voice_assist/" in file:
        file = "voice_assist/" + file.split("voice_assist/", 1)[1]
    return f"{m['func']} ({file})"


_THREAD_RE = re.compile(r"^thread \((?P<tid>\d+)\): (?P<name>.*)$")
NATIVE = "native threads (CTranslate2 decodes)"


def summarize(
    stacks: list[Stack],
    cores: float,
    thread_cores: dict[int, float],
    native_stages: dict[str, float] | None = None,
    top: int = 15,
) -> dict[str, Any]:
    """Cores per stage: each Python thread's measured cores split by its samples' stages.

    A sampler sees Python threads only; the CPU of the other threads of the process
    (CTranslate2 runs its decodes on threads of its own) is measured from ``/proc``
    and put in stages by ``native_stages`` (shares; default all :data:`NATIVE`), e.g. the
    decoder's busy time per kind.  ``top_own_time`` ranks functions by samples.
    """
    per_thread: dict[int, Counter[str]] = {}
    names: dict[int, str] = {}
    own: Counter[str] = Counter()
    for s in stacks:
        m = _THREAD_RE.match(s.frames[0]) if s.frames else None
        tid = int(m["tid"]) if m else -1
        names[tid] = m["name"] if m else "?"
        frames = s.frames[1:] if m else s.frames
        per_thread.setdefault(tid, Counter())[stage_of(frames)] += s.count
        if frames:
            own[_leaf_function(frames[-1])] += s.count
    stage_cores: dict[str, float] = {}
    threads: dict[str, float] = {}
    for tid, counts in per_thread.items():
        c = thread_cores.get(tid, 0.0)
        threads[names[tid]] = threads.get(names[tid], 0.0) + c
        n = sum(counts.values()) or 1
        for stage, k in counts.items():
            stage_cores[stage] = stage_cores.get(stage, 0.0) + c * k / n
    native = sum(c for tid, c in thread_cores.items() if tid not in per_thread)
    threads[NATIVE] = native
    for stage, share in (native_stages or {NATIVE: 1.0}).items():
        stage_cores[stage] = stage_cores.get(stage, 0.0) + native * share
    total = sum(stage_cores.values()) or 1.0
    samples = sum(s.count for s in stacks) or 1
    return {
        "server_cpu_cores": round(cores, 3),
        "samples": samples,
        "threads_cores": {
            k: round(v, 3) for k, v in sorted(threads.items(), key=lambda kv: -kv[1])
        },
        "stages": {
            name: {"cores": round(c, 3), "share": round(c / total, 4)}
            for name, c in sorted(stage_cores.items(), key=lambda kv: -kv[1])
            if c > 0
        },
        "top_own_time": [
            {"function": f, "share_of_samples": round(c / samples, 4)}
            for f, c in own.most_common(top)
        ],
    }


def flame_svg(stacks: list[Stack], *, title: str, width: int = 1200, row_px: int = 16) -> str:
    """A flame graph (root at the bottom) as one self-contained SVG, hover for names."""
    tree: dict[str, Any] = {"n": 0, "kids": {}}
    for s in stacks:
        node = tree
        node["n"] += s.count
        for frame in s.frames:
            node = node["kids"].setdefault(frame, {"n": 0, "kids": {}})
            node["n"] += s.count
    depth = _depth(tree)
    height = (depth + 2) * row_px
    total = tree["n"] or 1
    rects: list[str] = []

    def draw(node: dict[str, Any], x: float, level: int) -> None:
        for frame, kid in sorted(node["kids"].items()):
            w = width * kid["n"] / total
            if w >= 0.5:
                y = height - (level + 2) * row_px
                label = html.escape(_leaf_function(frame))
                hue = 10 + zlib.crc32(frame.split(" (")[0].encode()) % 50
                share = kid["n"] / total
                rects.append(
                    f'<g><title>{label} {share:.1%}</title><rect x="{x:.1f}" y="{y}" '
                    f'width="{w:.1f}" height="{row_px - 1}" fill="hsl({hue},80%,60%)"/>'
                    + (
                        f'<text x="{x + 2:.1f}" y="{y + row_px - 4}" font-size="11">'
                        f"{label[: int(w / 7)]}</text>"
                        if w > 35
                        else ""
                    )
                    + "</g>"
                )
                draw(kid, x, level + 1)
            x += w

    draw(tree, 0.0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace"><rect width="100%" height="100%" fill="#fff"/>'
        f'<text x="4" y="14" font-size="13">{html.escape(title)}: {total} samples</text>'
        + "".join(rects)
        + "</svg>"
    )


def _depth(node: dict[str, Any]) -> int:
    return 1 + max((_depth(k) for k in node["kids"].values()), default=0)
