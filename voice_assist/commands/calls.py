"""``voice-assist calls``: list stored calls."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

HELP = "list stored calls (newest first)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object with the calls")
    parser.add_argument("--agent", metavar="A", help="only calls of agent A")
    parser.add_argument("--limit", metavar="N", type=int, default=50, help="at most N (50)")
    parser.add_argument("--offset", metavar="N", type=int, default=0, help="skip N calls")
    parser.add_argument("--since", metavar="DATE", help="started on or after (ISO date/time)")
    parser.add_argument("--until", metavar="DATE", help="started before (ISO date/time)")
    parser.add_argument(
        "--min-distress", metavar="X", type=float, help="peak distress at least X (0..1)"
    )
    parser.add_argument(
        "--status", choices=("live", "ended", "interrupted"), help="only calls with this status"
    )


def _fmt_ms(ms: int) -> str:
    s = ms // 1000
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def run(args: argparse.Namespace) -> int:
    from voice_assist.config import load_settings
    from voice_assist.server.api_calls import parse_time_ms
    from voice_assist.store import Store

    settings = load_settings(args.config)
    with Store.open(settings) as store:
        page = store.list_calls(
            agent_id=args.agent,
            since_ms=parse_time_ms(args.since) if args.since else None,
            until_ms=parse_time_ms(args.until, end=True) if args.until else None,
            min_distress=args.min_distress,
            status=args.status,
            limit=args.limit,
            offset=args.offset,
        )
    if args.json:
        print(json.dumps(page.to_json(), indent=None, separators=(",", ":")))
        return 0
    if not page.calls:
        print("no stored calls")
        return 0
    header = f"{'call_id':<34} {'agent':<12} {'started (UTC)':<17} {'length':>8} "
    header += f"{'status':<11} {'distress':>8} {'acked':>6}"
    print(header)
    for c in page.calls:
        started = datetime.fromtimestamp(c.started_at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        distress = f"{c.max_distress:.2f}" if c.max_distress is not None else "-"
        acked = f"{c.acknowledged}/{c.episodes}" if c.episodes is not None else "-"
        status = c.status if c.error is None else "DAMAGED"
        print(
            f"{c.call_id:<34} {c.agent_id[:12]:<12} {started:<17} {_fmt_ms(c.duration_ms):>8} "
            f"{status:<11} {distress:>8} {acked:>6}"
        )
    shown = page.offset + len(page.calls)
    if page.next_offset is not None:
        print(f"({shown} of {page.total}; --offset {page.next_offset} for more)")
    return 0
