"""``voice-assist serve``: the live server (telephony ingress, overlay, wall board).

Roles: ``single`` (default: one process carries everything), ``worker`` (carries the
calls whose media it receives, publishes them to Redis) and ``gateway`` (serves the
overlay, wall board, REST API and replay of every worker's calls).  ``--workers N``
runs a one-machine site: N workers sharing the media port plus a gateway.
"""

from __future__ import annotations

import argparse
import logging

HELP = "run the live server: audio ingress, agent overlay and supervisor wall board"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="interface to listen on (default: server.host)")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="TCP port (default: server.port); with "
        "--workers, the gateway's port (pages, feeds, REST)",
    )
    p.add_argument("--no-store", action="store_true", help="do not keep calls in the call store")
    p.add_argument(
        "--role",
        choices=("single", "worker", "gateway"),
        default="single",
        help="single: one process (default); worker: calls, published to Redis; "
        "gateway: feeds and pages for every worker's calls (needs cluster.redis_url)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="one-machine site: N worker processes on --media-port plus a gateway on --port",
    )
    p.add_argument(
        "--media-port",
        type=int,
        default=None,
        help="with --workers: the telephony port the workers share (default: port + 1)",
    )
    p.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind with SO_REUSEPORT so several workers share one port (the kernel spreads calls)",
    )
    p.add_argument(
        "--own-port",
        type=int,
        default=None,
        help="with --reuse-port: also a port of this worker alone (health checks, "
        "a load balancer's address for it)",
    )
    p.add_argument("--worker-id", default=None, help="worker role: its id (default: host-pid)")
    p.add_argument(
        "--redis-url",
        default=None,
        help="Redis of the site (default: cluster.redis_url, VOICE_ASSIST_REDIS_URL); "
        "with --workers and none set, a private redis-server is started",
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from voice_assist.config import load_settings
    from voice_assist.server.app import create_app, install_log_redaction
    from voice_assist.server.local import uvicorn_config

    overrides = {"cluster": {"redis_url": args.redis_url}} if args.redis_url else None
    settings = load_settings(args.config, overrides=overrides)
    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port
    if args.workers:
        from voice_assist.cluster.site import run_site

        media_port = port + 1 if args.media_port is None else args.media_port
        return run_site(args, settings, host=host, port=port, media_port=media_port)
    store = None
    if not args.no_store:
        from voice_assist.store import Store

        store = Store.open(settings)
    app = create_app(
        settings,
        store=store,
        role=args.role,
        worker_id=args.worker_id,
        media_url=f"ws://{host}:{args.own_port or port}",
    )
    install_log_redaction()
    if args.role == "worker":
        log.warning("voice_assist worker on ws://%s:%d (media ingress)", host, port)
    else:
        log.warning(
            "voice_assist %s on http://%s:%d (pages: /overlay, /supervisor)",
            "gateway" if args.role == "gateway" else "server",
            host,
            port,
        )
    config = uvicorn_config(app, settings, host=host, port=port, verbose=args.verbose)
    server = uvicorn.Server(config)
    if args.reuse_port:
        from voice_assist.cluster.site import reuse_port_socket

        sockets = [reuse_port_socket(host, port)]
        if args.own_port:
            sockets.append(reuse_port_socket(host, args.own_port))
        server.run(sockets=sockets)
    else:
        server.run()
    return 0
