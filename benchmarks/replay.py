"""Replay benchmark: how fast a long stored call loads for the replay page, from localhost.

``voice-assist bench replay --json`` records a synthetic call (default 30 minutes, both
legs' audio archived) through the real recorder, serves the call routes under uvicorn on
127.0.0.1 and prints one JSON object:

* ``record_s`` / ``record_x_realtime``: wall time to record the call with backpressure
  (events and audio as fast as the writer takes them) and the ratio to the call length.
* ``replay_data_ms``: GET ``/api/calls/{id}/replay-data`` (cold, then p50/max of
  ``--repeat`` warm requests) and its size; ``detail_ms`` the same for the full
  ``/api/calls/{id}``.
* ``page_load_ms``: headless Chromium, navigation to the page drawn (``--browser``;
  skipped with a reason where ``/usr/bin/chromium`` or Playwright is missing).
* ``target_ms`` (2000) and ``ok``: the page (or, without a browser, replay-data) within it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HELP = "replay figures: record a synthetic long call, time replay-data and the replay page"

TARGET_MS = 2000.0
TOKEN = "bench-token"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--minutes", type=float, default=30.0, help="length of the synthetic call")
    p.add_argument("--repeat", type=int, default=5, help="warm requests to time")
    p.add_argument("--no-audio", action="store_true", help="do not archive audio")
    p.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    p.add_argument("--keep", type=Path, help="use (and keep) this data directory")


def _get(url: str) -> tuple[float, int]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as res:
        body = res.read()
    return (time.perf_counter() - t0) * 1000.0, len(body)


def _timed(url: str, repeat: int) -> dict[str, Any]:
    cold, size = _get(url)
    warm = [_get(url)[0] for _ in range(max(1, repeat))]
    return {
        "cold": round(cold, 1),
        "p50": round(statistics.median(warm), 1),
        "max": round(max(warm), 1),
        "bytes": size,
    }


def _page_load(base: str, call_id: str, repeat: int) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        return {"skipped": f"{CHROMIUM} not found"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    url = f"{base}/replay/{call_id}?token={TOKEN}"
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for _ in range(max(1, repeat) + 1):
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=30000)
                times.append((time.perf_counter() - t0) * 1000.0)
                state = page.evaluate("document.body.dataset.state")
                if state != "ready":
                    return {"error": f"page state {state}"}
        finally:
            browser.close()
    return {
        "cold": round(times[0], 1),
        "p50": round(statistics.median(times[1:]), 1),
        "max": round(max(times[1:]), 1),
    }


def run(args: argparse.Namespace) -> int:
    from voice_assist.config import StoreOptions
    from voice_assist.replay.localserver import calls_app, fixed_token_check, serve_in_thread
    from voice_assist.replay.synthetic import synthetic_call
    from voice_assist.store import Store

    tmp = None
    data_dir = args.keep
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="va-bench-replay-")
        data_dir = Path(tmp)
    call_id = f"bench-{int(time.time())}"
    try:
        store = Store.open(StoreOptions(), data_dir=data_dir)
        try:
            t0 = time.perf_counter()
            rec = store.recorder(call_id, agent_id="bench", source="file", backpressure=True)
            counts = synthetic_call(
                rec, call_id=call_id, duration_s=args.minutes * 60, audio=not args.no_audio
            )
            rec.close("hangup")
            store.flush(timeout_s=600)
            record_s = time.perf_counter() - t0
            flac = data_dir / "audio" / f"{call_id}.flac"
            db = data_dir / "calls.db"
            app = calls_app(store, fixed_token_check(TOKEN))
            with serve_in_thread(app) as base:
                replay = _timed(f"{base}/api/calls/{call_id}/replay-data", args.repeat)
                detail = _timed(f"{base}/api/calls/{call_id}", args.repeat)
                page: dict[str, Any] = (
                    _page_load(base, call_id, args.repeat)
                    if args.browser
                    else {"skipped": "run with --browser"}
                )
        finally:
            store.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    page_ms = page.get("p50")
    measured = page_ms if isinstance(page_ms, float) else replay["p50"]
    result = {
        "bench": "replay",
        "call_minutes": args.minutes,
        "events": counts["events"],
        "audio": not args.no_audio,
        "record_s": round(record_s, 2),
        "record_x_realtime": round(args.minutes * 60 / record_s, 1),
        "db_mb": round(db.stat().st_size / 1e6, 2) if db.exists() and args.keep else None,
        "flac_mb": round(flac.stat().st_size / 1e6, 2) if flac.exists() and args.keep else None,
        "replay_data_ms": replay,
        "detail_ms": detail,
        "page_load_ms": page,
        "target_ms": TARGET_MS,
        "ok": measured <= TARGET_MS,
        "cpu_count": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0
