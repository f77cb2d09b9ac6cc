"""``voice-assist demo``: the live server plus the bundled demo call streamed at real time."""

from __future__ import annotations

import argparse
import asyncio
import sys

HELP = "start the server and stream the bundled demo call into it; prints the page URLs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    p.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port)")
    p.add_argument("--agent-id", default="demo-agent", help="agent the demo call belongs to")
    p.add_argument(
        "--wait-s",
        type=float,
        default=20.0,
        help="wait up to this long for a page to connect before streaming (0: start at once)",
    )
    p.add_argument("--loop", action="store_true", help="stream the demo call again and again")
    p.add_argument(
        "--exit", action="store_true", help="stop the server when the call has been streamed"
    )
    p.add_argument("--no-store", action="store_true", help="do not keep the call in the call store")
    p.add_argument(
        "--duration-s", type=float, default=0.0, help="stream only this much of the call (0: all)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_demo(args))
    except KeyboardInterrupt:
        return 130


def _say(text: str = "") -> None:
    print(text, flush=True)


async def _demo(args: argparse.Namespace) -> int:
    import contextlib
    import dataclasses

    from voice_assist.config import load_settings
    from voice_assist.server import auth
    from voice_assist.server.app import create_app, install_log_redaction
    from voice_assist.server.ingest_client import load_demo_call, stream_call
    from voice_assist.server.local import LocalServer

    settings = load_settings(args.config)
    # A fresh secret and ingest key for this run only: never a fixed default.
    secret = auth.generate_secret()
    ingest_key = auth.generate_ingest_key()
    server_opts = dataclasses.replace(
        settings.server, secret=secret, ingest_keys=(ingest_key,), host=args.host, port=args.port
    )
    settings = dataclasses.replace(settings, server=server_opts)
    store = None
    if not args.no_store:
        from voice_assist.store import Store

        store = Store.open(settings)
    app = create_app(settings, store=store)
    install_log_redaction()
    call = load_demo_call()
    if args.duration_s > 0:
        call = call.cut(int(args.duration_s * 1000))

    _say("voice_assist demo: loading the speech model (a few seconds)...")
    async with LocalServer(
        app, settings, host=args.host, port=args.port, verbose=args.verbose
    ) as srv:
        ttl = settings.server.token_ttl_s
        agent_token = auth.sign_token(secret, role="agent", agent_id=args.agent_id, ttl_s=ttl)
        sup_token = auth.sign_token(secret, role="supervisor", ttl_s=ttl)
        _say()
        _say(f"  Home (links)  : {srv.base_url}/")
        _say(f"  Agent overlay : {srv.base_url}/overlay?token={agent_token}")
        _say(f"  Wall board    : {srv.base_url}/supervisor?token={sup_token}")
        if store is not None:  # the calls page, scorecards and replay read the store
            qa_token = auth.sign_token(secret, role="qa", ttl_s=ttl)
            _say(f"  Calls (QA)    : {srv.base_url}/calls?token={qa_token}")
        _say()
        _say(f"  Secret for this run (VOICE_ASSIST_SECRET): {secret}")
        _say(f"  Ingest key for this run: {ingest_key}")
        _say("  (both are random and die with this process)")
        _say()
        if args.wait_s > 0:
            _say(f"Open a page; the call starts when one connects (or in {args.wait_s:.0f} s).")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(srv.ctx.feed_connected.wait(), args.wait_s)
        while True:
            _say(f"Streaming the demo call ({call.duration_ms / 1000:.0f} s) at real time...")
            result = await stream_call(
                f"{srv.ws_url}/v1/ingest",
                api_key=ingest_key,
                agent_id=args.agent_id,
                audio=call.audio,
                rate_hz=call.rate_hz,
                custom={"demo": "true"},
            )
            if result.errors:
                print(f"voice-assist demo: server said {result.errors}", file=sys.stderr)
                return 1
            _say(f"Call {result.call_id} ended.")
            if store is not None:
                replay = f"{srv.base_url}/replay/{result.call_id}?token={sup_token}"
                _say(f"  Replay (tone timeline, empathy test): {replay}")
            if not args.loop:
                break
            await asyncio.sleep(3)
        if args.exit:
            return 0
        _say("The server keeps running so you can look around; Ctrl-C to stop.")
        await srv.serve_forever()
    return 0
