"""``voice-assist audit``: the access audit log, newest first (who read which stored call)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

HELP = "list the access audit log (who read which stored call, when, from where), newest first"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help='one JSON object {"records": [...]}')
    parser.add_argument("--call", metavar="ID", help="only reads of call ID")
    parser.add_argument("--since", metavar="DATE", help="on or after (epoch ms, ISO date/time)")
    parser.add_argument(
        "--limit", metavar="N", type=int, default=100, help="at most N rows (100; 1..10000)"
    )


def run(args: argparse.Namespace) -> int:
    from voice_assist.config import load_settings
    from voice_assist.errors import ConfigError
    from voice_assist.server import call_params
    from voice_assist.store import Store

    params = {"limit": str(args.limit)}
    if args.call:
        params["call"] = args.call
    if args.since:
        params["since"] = args.since
    try:
        query = call_params.audit_query(params)
    except call_params.BadRequest as exc:
        raise ConfigError(str(exc)) from exc
    with Store.open(load_settings(args.config), recover=False) as store:
        records = store.list_access(query)
    if args.json:
        print(json.dumps({"records": [r.to_json() for r in records]}, separators=(",", ":")))
        return 0
    print(f"{'when (UTC)':<19}  {'role':<10}  {'agent':<12}  {'token':<19}  "
          f"{'resource':<11}  {'call':<20}  client")  # fmt: skip
    for r in records:
        when = datetime.fromtimestamp(r.at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        what = r.call_id or (r.query or "")
        print(f"{when:<19}  {r.role:<10}  {r.agent_id or '-':<12}  {r.token_id or '-':<19}  "
              f"{r.resource:<11}  {what:<20}  {r.client or '-'}")  # fmt: skip
    return 0
