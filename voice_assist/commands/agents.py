"""``voice-assist agents [AGENT_ID]``: agent scorecards over a period (table or ``--json``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "agent scorecards: empathy test, prompts, script nudges, talk ratio over a period"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("agent_id", nargs="?", metavar="AGENT_ID", help="one agent, with weeks")
    p.add_argument("--since", metavar="DATE", help="calls started on or after (ISO date/time)")
    p.add_argument("--until", metavar="DATE", help="calls started before (ISO date/time)")
    p.add_argument("--json", action="store_true", help="one JSON object (what /api/agents says)")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _s(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}s"


def _num(x: float | None, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


COLUMNS: list[tuple[str, int, Any]] = [
    ("calls", 5, lambda f: str(f["calls"])),
    ("hours", 6, lambda f: f"{f['talk_ms'] / 3_600_000:.1f}"),
    ("episodes", 8, lambda f: str(f["episodes"])),
    ("acked", 5, lambda f: _pct(f["share_acknowledged"])),
    ("ack p50", 7, lambda f: _s(f["ack_median_ms"])),
    ("ack p90", 7, lambda f: _s(f["ack_p90_ms"])),
    ("fol/dis/exp", 11, lambda f: f"{f['followed']}/{f['dismissed']}/{f['expired']}"),
    ("script/h", 8, lambda f: _num(f["script_per_hour"])),
    ("talk", 4, lambda f: _pct(f["talk_ratio"])),
    ("overtalk", 8, lambda f: _pct(f["overtalk_share"])),
]


def _row(label: str, width: int, figures: dict[str, Any]) -> str:
    cells = [f"{fn(figures):>{w}}" for _, w, fn in COLUMNS]
    return f"{label[:width]:<{width}} " + " ".join(cells)


def _header(label: str, width: int) -> str:
    return f"{label:<{width}} " + " ".join(f"{name:>{w}}" for name, w, _ in COLUMNS)


def run(args: argparse.Namespace) -> int:
    from voice_assist.config import load_settings
    from voice_assist.server.call_params import BadRequest, parse_time_ms
    from voice_assist.store import Store

    try:
        since_ms = parse_time_ms(args.since) if args.since else None
        until_ms = parse_time_ms(args.until, end=True) if args.until else None
    except BadRequest as exc:
        print(f"voice-assist agents: {exc}", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    with Store.open(settings) as store:
        if args.agent_id:
            card = store.agent_scorecard(args.agent_id, since_ms=since_ms, until_ms=until_ms)
            body: dict[str, Any] = card.to_json()
        else:
            agents = store.agents(since_ms=since_ms, until_ms=until_ms)
            body = {
                "since_ms": since_ms,
                "until_ms": until_ms,
                "agents": [a.to_json() for a in agents],
            }
    if args.json:
        print(json.dumps(body, separators=(",", ":")))
        return 0
    if args.agent_id:
        if not body["figures"]["calls"]:
            print(f"no stored calls of agent {args.agent_id} in this period")
            return 0
        print(_header("week of", 10))
        for week in body["weeks"]:
            print(_row(week["week_start"], 10, week))
        print(_row("all", 10, body["figures"]))
        return 0
    if not body["agents"]:
        print("no stored calls in this period")
        return 0
    width = max(8, *(len(a["agent_id"]) for a in body["agents"]))
    width = min(width, 24)
    print(_header("agent", width))
    for a in body["agents"]:
        print(_row(a["agent_id"], width, a))
    return 0
