"""``voice-assist token agent AGENT_ID`` / ``token supervisor`` / ``token qa``: sign a token;
``voice-assist token revoke TOKEN_OR_ID [--reason TEXT]``: put it on the store's revocation
list (servers refuse it within :data:`~voice_assist.server.revocation.REFRESH_S` seconds).

An agent token opens that agent's overlay; a supervisor token the wall board, stored calls,
replay and scorecards; a QA token stored calls, replay and scorecards but no live feed.
"""

from __future__ import annotations

import argparse
import sys

HELP = (
    "print a signed token: agent (overlay), supervisor (wall board, calls), qa (calls only); "
    "'token revoke TOKEN_OR_ID' revokes one"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "role",
        choices=("agent", "supervisor", "qa", "revoke"),
        help="who the token is for, or revoke",
    )
    p.add_argument(
        "agent_id",
        nargs="?",
        metavar="AGENT_ID|TOKEN_OR_ID",
        help="the agent (agent tokens only); for revoke: the token, or its id (jti or fp-...)",
    )
    p.add_argument("--reason", default="", help="revoke: why (kept in the revocation list)")
    p.add_argument("--json", action="store_true", help="revoke: print the entry as JSON")
    p.add_argument(
        "--ttl-s", type=int, default=None, help="lifetime in seconds (default: server.token_ttl_s)"
    )
    p.add_argument(
        "--url",
        action="store_true",
        help="print the page URL with the token (overlay, wall board or, for qa, the calls "
        "page; uses server.host and server.port)",
    )


def run_revoke(args: argparse.Namespace) -> int:
    import json

    from voice_assist.config import load_settings
    from voice_assist.server.auth import token_id
    from voice_assist.store import Store

    given = (args.agent_id or "").strip()
    if not given:
        print("voice-assist token revoke: give the token or its id", file=sys.stderr)
        return 2
    tid = token_id(given) if "." in given else given
    with Store.open(load_settings(args.config), recover=False) as store:
        entry = store.revoke_token(tid, reason=args.reason)
    if args.json:
        print(json.dumps(entry.to_json(), separators=(",", ":")))
    else:
        print(f"revoked token {entry.token_id}" + (f" ({entry.reason})" if entry.reason else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.role == "revoke":
        return run_revoke(args)
    from voice_assist.config import load_settings
    from voice_assist.errors import ConfigError
    from voice_assist.server.auth import sign_token

    settings = load_settings(args.config)
    opts = settings.server
    if not opts.secret:
        raise ConfigError(
            "no server secret configured: set VOICE_ASSIST_SECRET (or server.secret in the "
            "config file) to the secret the server runs with"
        )
    if args.role == "agent" and not args.agent_id:
        print("voice-assist token: an agent token needs AGENT_ID", file=sys.stderr)
        return 2
    if args.role != "agent" and args.agent_id:
        print(f"voice-assist token: a {args.role} token takes no AGENT_ID", file=sys.stderr)
        return 2
    token = sign_token(
        opts.secret,
        role=args.role,
        agent_id=args.agent_id if args.role == "agent" else None,
        ttl_s=args.ttl_s if args.ttl_s is not None else opts.token_ttl_s,
    )
    if args.url:
        page = {"agent": "overlay", "supervisor": "supervisor", "qa": "calls"}[args.role]
        print(f"http://{opts.host}:{opts.port}/{page}?token={token}")
    else:
        print(token)
    return 0
