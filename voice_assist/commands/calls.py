"""``voice-assist calls``: list stored calls (table, ``--json`` or ``--csv``);
``voice-assist calls delete ID``: delete one call everywhere (rows and FLAC)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

HELP = (
    "list stored calls (newest first); filter, sort, search transcripts, export CSV; "
    "'calls delete ID' deletes one"
)
DELETE_HELP = "delete one stored call everywhere: its rows in every table and its FLAC"

FIGURES = (
    "duration_s, distress, episodes, acknowledged, unacknowledged, prompts, followed, "
    "dismissed, expired, script, talk_ratio, overtalk_s"
)
SORTS = (
    "started, agent, duration, distress, episodes, acknowledged, unacknowledged, prompts, "
    "followed, dismissed, expired, script, talk_ratio, overtalk, status"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object with the calls")
    out.add_argument("--csv", action="store_true", help="CSV, one row per call (all pages)")
    parser.add_argument("--agent", metavar="A", help="only calls of agent A")
    parser.add_argument(
        "--limit", metavar="N", type=int, help="at most N (50; with --csv 10000, at most 100000)"
    )
    parser.add_argument("--offset", metavar="N", type=int, default=0, help="skip N calls")
    parser.add_argument("--since", metavar="DATE", help="started on or after (ISO date/time)")
    parser.add_argument("--until", metavar="DATE", help="started before (ISO date/time)")
    parser.add_argument(
        "--status", choices=("live", "ended", "interrupted"), help="only calls with this status"
    )
    parser.add_argument(
        "-q", "--search", metavar="TEXT", help='transcript search: words, "phrases", prefix*'
    )
    parser.add_argument(
        "--min-distress", metavar="X", type=float, help="peak distress at least X (0..1)"
    )
    parser.add_argument(
        "--min",
        metavar="FIGURE=X",
        action="append",
        default=[],
        help=f"a lower bound (repeatable); FIGURE: {FIGURES}",
    )
    parser.add_argument(
        "--max", metavar="FIGURE=X", action="append", default=[], help="an upper bound, the same"
    )
    parser.add_argument("--sort", metavar="KEY", default="started", help=f"sort by: {SORTS}")
    parser.add_argument("--asc", action="store_true", help="smallest first (default: largest)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    delete = actions.add_parser("delete", help=DELETE_HELP, description=DELETE_HELP)
    delete.add_argument("call_id", metavar="ID", help="the call to delete (not a live one)")
    delete.add_argument(
        "--json", action="store_true", help="one JSON object: rows per table, audio file, bytes"
    )


def _fmt_ms(ms: int) -> str:
    s = ms // 1000
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _bounds(args: argparse.Namespace) -> dict[str, tuple[float | None, float | None]]:
    bounds: dict[str, list[float | None]] = {}
    if args.min_distress is not None:
        bounds["distress"] = [args.min_distress, None]
    for side, items in ((0, args.min), (1, args.max)):
        for item in items:
            name, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"{item!r}: give FIGURE=X, e.g. episodes=1")
            try:
                value = float(raw)
            except ValueError as exc:
                raise ValueError(f"{item!r}: {raw!r} is not a number") from exc
            bounds.setdefault(name.strip(), [None, None])[side] = value
    return {k: (v[0], v[1]) for k, v in bounds.items()}


def run_delete(args: argparse.Namespace) -> int:
    from voice_assist.config import load_settings
    from voice_assist.errors import CallLiveError, CallNotFoundError
    from voice_assist.store import Store

    settings = load_settings(args.config)
    with Store.open(settings) as store:
        try:
            deleted = store.delete_call(args.call_id)
        except (CallNotFoundError, CallLiveError) as exc:
            code = "call_live" if isinstance(exc, CallLiveError) else "call_not_found"
            if args.json:
                print(json.dumps({"error": code, "detail": str(exc)}))
            else:
                print(f"voice-assist calls delete: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(deleted.to_json(), separators=(",", ":")))
        return 0
    rows = ", ".join(f"{name} {n}" for name, n in deleted.rows.items() if n)
    audio = (
        f"; audio {deleted.audio_file} ({deleted.audio_bytes} bytes)"
        if deleted.audio_file
        else "; no audio file"
    )
    print(f"deleted call {deleted.call_id}: {sum(deleted.rows.values())} rows ({rows}){audio}")
    return 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "delete":
        return run_delete(args)
    from voice_assist.config import load_settings
    from voice_assist.server.call_params import CSV_MAX_ROWS, parse_time_ms
    from voice_assist.store import Store
    from voice_assist.store.listing import MAX_PAGE, CallQuery, csv_lines

    limit = args.limit if args.limit is not None else (10_000 if args.csv else 50)
    try:
        if not 1 <= limit <= (CSV_MAX_ROWS if args.csv else MAX_PAGE):
            raise ValueError(f"--limit must be 1..{CSV_MAX_ROWS if args.csv else MAX_PAGE}")
        query = CallQuery(
            agent_id=args.agent,
            since_ms=parse_time_ms(args.since) if args.since else None,
            until_ms=parse_time_ms(args.until, end=True) if args.until else None,
            status=args.status,
            bounds=_bounds(args),
            search=args.search or None,
            sort=args.sort,
            descending=not args.asc,
            limit=limit,
            offset=max(0, args.offset),
        )
    except ValueError as exc:
        print(f"voice-assist calls: {exc}", file=sys.stderr)
        return 2

    settings = load_settings(args.config)
    with Store.open(settings) as store:
        if args.csv:
            for line in csv_lines(store.iter_calls(query, max_rows=limit)):
                sys.stdout.write(line)
            return 0
        page = store.list_calls(query)
    if args.json:
        print(json.dumps(page.to_json(), indent=None, separators=(",", ":")))
        return 0
    if not page.calls:
        print("no stored calls" if page.total == 0 else f"none past --offset ({page.total} in all)")
        return 0
    header = f"{'call_id':<34} {'agent':<12} {'started (UTC)':<17} {'length':>8} "
    header += f"{'status':<11} {'distress':>8} {'acked':>6} {'dism':>4} {'script':>6}"
    print(header)
    for c in page.calls:
        started = datetime.fromtimestamp(c.started_at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        distress = f"{c.max_distress:.2f}" if c.max_distress is not None else "-"
        acked = f"{c.acknowledged}/{c.episodes}" if c.episodes is not None else "-"
        status = c.status if c.error is None else "DAMAGED"
        dismissed = "-" if c.n_dismissed is None else str(c.n_dismissed)
        script = "-" if c.n_script is None else str(c.n_script)
        print(
            f"{c.call_id:<34} {c.agent_id[:12]:<12} {started:<17} {_fmt_ms(c.duration_ms):>8} "
            f"{status:<11} {distress:>8} {acked:>6} {dismissed:>4} {script:>6}"
        )
        if c.match is not None:
            print(f"{'':<34}   {c.match['channel']}: {c.match['text'][:90]}")
    shown = page.offset + len(page.calls)
    if page.next_offset is not None:
        print(f"({shown} of {page.total}; --offset {page.next_offset} for more)")
    return 0
