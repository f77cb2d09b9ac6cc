"""A Starlette app with the call routes, served by uvicorn in a background thread.

For the replay page test, the replay benchmark and ``voice-assist report --serve``-style
tooling: it binds ``127.0.0.1`` on a free port and stops cleanly.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from voice_assist.errors import AuthError
from voice_assist.server.api_calls import SupervisorCheck, make_routes
from voice_assist.store.reader import StoreReader


def fixed_token_check(token: str) -> SupervisorCheck:
    """A stand-in supervisor check: ``Authorization: Bearer <token>`` or ``?token=<token>``."""

    def check(conn: HTTPConnection) -> None:
        header = conn.headers.get("authorization", "")
        given = (
            header[7:] if header.lower().startswith("bearer ") else conn.query_params.get("token")
        )
        if given != token:
            raise AuthError("a valid supervisor token is required")

    return check


def calls_app(store: StoreReader, check: SupervisorCheck) -> Starlette:
    return Starlette(routes=make_routes(store, check))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(app: Starlette, *, timeout_s: float = 10.0) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1; yields the base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-calls", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the local server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
