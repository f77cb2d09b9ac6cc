"""``voice-assist serve``: the live server (telephony ingress, overlay, wall board)."""

from __future__ import annotations

import argparse
import logging

HELP = "run the live server: audio ingress, agent overlay and supervisor wall board"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="interface to listen on (default: server.host)")
    p.add_argument("--port", type=int, default=None, help="TCP port (default: server.port)")
    p.add_argument("--no-store", action="store_true", help="do not keep calls in the call store")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from voice_assist.config import load_settings
    from voice_assist.server.app import create_app, install_log_redaction
    from voice_assist.server.local import uvicorn_config

    settings = load_settings(args.config)
    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port
    store = None
    if not args.no_store:
        from voice_assist.store import Store

        store = Store.open(settings)
    app = create_app(settings, store=store)
    install_log_redaction()
    log.warning("voice_assist server on http://%s:%d (pages: /overlay, /supervisor)", host, port)
    config = uvicorn_config(app, settings, host=host, port=port, verbose=args.verbose)
    uvicorn.Server(config).run()
    return 0
