"""The HTTP + websocket application: one Starlette app served by uvicorn.

Why Starlette: a small, well-kept ASGI toolkit (the base of FastAPI) that gives
websockets, static files, routing and lifespan in a few readable modules, with no
framework magic to learn; uvicorn is its usual production server.  The ingress
adapters stay sans-I/O, so a change of web stack touches only this package's glue.

Endpoints::

    GET  /healthz              200 {"status": "ok", load and admission figures} once the model
                               is loaded and warmed, else 503
    GET  /                     the landing page: links to the pages, a note on tokens
    GET  /overlay?token=       the agent's panel (agent token)
    GET  /supervisor?token=    the wall board (supervisor token)
    GET  /static/...           page assets (no data in them)
    GET  /v1/whoami            what a token says (401 when it is bad) - pages use it on reconnect
    WS   /v1/ingest            native audio ingress (ingest key)
    WS   /v1/twilio            Twilio Media Streams (key in ?key= or customParameters.api_key)
    WS   /v1/audiohook         Genesys AudioHook v2 (X-API-KEY)
    WS   /v1/agent             overlay feed (agent token)
    WS   /v1/supervisor        wall-board feed (supervisor token)

plus the stored-call routes of :mod:`voice_assist.server.api_calls` (calls page, replay,
scorecards; supervisor or QA token; ``DELETE /api/calls/{id}`` supervisor only) when a
store is open, with ``GET /api/audit`` (the access audit log; supervisor only).
A token on the store's revocation list is refused everywhere (401 ``token revoked``).
A websocket with missing or bad credentials is refused before the handshake completes
(HTTP 401, or 403 for a valid token of the wrong role) with a JSON reason; nothing
about any call is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from voice_assist.config import Settings
from voice_assist.errors import AuthError, ForbiddenError, VoiceAssistError
from voice_assist.server import auth
from voice_assist.server.api_calls import make_routes
from voice_assist.server.audiohook import AudioHookProtocol
from voice_assist.server.context import ServerContext
from voice_assist.server.feeds import AgentFeed, FeedConnection, SupervisorFeed, TranscriptTail
from voice_assist.server.guarded import PAGE_CSP
from voice_assist.server.ingest import IngressConnection
from voice_assist.server.ingress import IngressProtocol
from voice_assist.server.native import NativeProtocol
from voice_assist.server.revocation import RevocationCache
from voice_assist.server.twilio import TwilioProtocol

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # tokens ride in page URLs
]


def create_app(
    settings: Settings,
    *,
    engine: Any = None,
    store: Any = None,
    secret: str | None = None,
    role: str = "single",
    worker_id: str | None = None,
    media_url: str = "",
) -> Starlette:
    """Build the app.  Without ``engine`` it starts one in the background (``/healthz`` says when).

    ``role``: ``single`` (one process, the default), ``worker`` (also publishes its calls
    to Redis, :mod:`voice_assist.cluster.worker`) or ``gateway`` (no engine: serves the
    feeds, pages and stored calls of every worker's calls, :mod:`voice_assist.cluster.gateway`).

    ``secret`` overrides ``settings.server.secret``; when both are empty a random
    per-process secret is generated (tokens from ``voice-assist token`` then do not work,
    and the log says so).
    """
    secret = secret or settings.server.secret
    if not secret:
        secret = auth.generate_secret()
        log.warning(
            "no server.secret configured: using a random per-process secret; "
            "set VOICE_ASSIST_SECRET so `voice-assist token` can sign tokens for this server"
        )
    keys = auth.IngestKeys(settings.server.ingest_keys)
    if not keys:
        log.warning(
            "no ingest keys configured (VOICE_ASSIST_INGEST_KEYS): audio ingress is refused"
        )
    ctx = ServerContext(settings=settings, secret=secret, keys=keys, engine=engine, store=store)
    ctx.role = role
    if store is not None:
        ctx.revoked = RevocationCache(store.revoked_token_ids)
    owns_engine = engine is None
    links: list[Any] = []

    async def start() -> None:
        if role == "gateway":
            await _start_gateway(ctx, links)
            return
        if ctx.engine is None:
            await _start_engine(ctx)
        else:
            _start_tail(ctx)
        if role == "worker" and ctx.engine is not None:
            from voice_assist.cluster.roles import default_worker_id, start_worker_link

            links.append(
                await start_worker_link(
                    ctx.engine,
                    settings,
                    worker_id=worker_id or default_worker_id(),
                    media_url=media_url,
                )
            )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        starter: asyncio.Task[None] | None = None
        if ctx.engine is None or role != "single":
            starter = asyncio.create_task(start())
        else:
            _start_tail(ctx)
        try:
            yield
        finally:
            if starter is not None:
                starter.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await starter
            if ctx.tail is not None:
                await ctx.tail.stop()
            if owns_engine and ctx.engine is not None:
                await ctx.engine.close()
            for link in links:  # after the engine: its calls' last events go out first
                await link.close()

    routes: list[BaseRoute] = [
        Route("/healthz", _healthz(ctx)),
        Route("/", _index),
        Route("/overlay", _page(ctx, "overlay.html", "agent")),
        Route("/supervisor", _page(ctx, "supervisor.html", "supervisor")),
        Route("/v1/whoami", _whoami(ctx)),
        WebSocketRoute("/v1/ingest", _ingress(ctx, "native")),
        WebSocketRoute("/v1/twilio", _ingress(ctx, "twilio")),
        WebSocketRoute("/v1/audiohook", _ingress(ctx, "audiohook")),
        WebSocketRoute("/v1/agent", _feed(ctx, AgentFeed, "agent")),
        WebSocketRoute("/v1/supervisor", _feed(ctx, SupervisorFeed, "supervisor")),
    ]
    routes += _stored_call_routes(ctx)
    routes.append(
        Mount("/static", app=StaticFiles(directory=WEB_DIR, check_dir=False), name="static")
    )
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.ctx = ctx
    app.add_middleware(SecurityHeaders)
    return app


# -- engine ----------------------------------------------------------------------------------
async def _start_engine(ctx: ServerContext) -> None:
    from voice_assist.runtime.engine import Engine

    try:
        ctx.engine = await Engine.start(ctx.settings, store=ctx.store)
    except VoiceAssistError as exc:
        ctx.start_error = str(exc)
        log.error("engine failed to start: %s", exc)
        return
    _start_tail(ctx)
    log.info("engine ready")


def _start_tail(ctx: ServerContext) -> None:
    hub = ctx.hub
    assert hub is not None
    ctx.tail = TranscriptTail(hub.bus)
    ctx.tail.start()


async def _start_gateway(ctx: ServerContext, links: list[Any]) -> None:
    from voice_assist.cluster.roles import start_gateway

    store = ctx.store
    on_lost = None
    if store is not None:

        def on_lost(call_ids: list[str]) -> None:
            store.mark_interrupted(call_ids, "the worker running this call was lost")

    try:
        gateway = await start_gateway(ctx.settings, on_lost=on_lost)
    except VoiceAssistError as exc:
        ctx.start_error = str(exc)
        log.error("gateway failed to start: %s", exc)
        return
    links.append(gateway)
    ctx.gateway = gateway
    _start_tail(ctx)


# -- HTTP ------------------------------------------------------------------------------------
def _healthz(ctx: ServerContext) -> Callable[[Request], Awaitable[Response]]:
    async def healthz(request: Request) -> Response:
        if ctx.gateway is not None:
            code, figures = ctx.gateway.health()  # type: ignore[attr-defined]
            return JSONResponse(figures, status_code=code)
        if ctx.ready:
            engine = ctx.engine
            assert engine is not None
            pool = engine.pool
            admission = engine.admission()
            # a full worker says so, for the load balancer in front of a site's workers
            full = ctx.role == "worker" and not admission.admit
            return JSONResponse(
                {
                    "status": "full" if full else "ok",
                    "role": ctx.role,
                    "live_calls": len(engine.bus.live_calls()),
                    "ingest_connections": ctx.ingest_connections,
                    "feed_connections": ctx.feed_connections,
                    # load and admission: for load balancers, benchmarks and operators
                    "admission": admission.as_dict(),
                    "calls_refused": engine.calls_refused,
                    "decode_backlog_s": round(pool.backlog_s(), 3),
                    "decode_queued": pool.queued,
                    "partials_shed": pool.stats.partials_shed,
                    "partial_yields": pool.stats.partial_yields,
                    "decode_busy_s": {k: round(v, 3) for k, v in pool.stats.busy_s_by_kind.items()},
                    "decodes_done": {
                        "partial": pool.stats.partials_done,
                        "final": pool.stats.finals_done,
                    },
                    "tasks": len(asyncio.all_tasks()),
                    "threads": threading.active_count(),
                },
                status_code=503 if full else 200,
            )
        status = "failed" if ctx.start_error else "starting"
        body: dict[str, Any] = {"status": status}
        if ctx.start_error:
            body["error"] = ctx.start_error
        return JSONResponse(body, status_code=503)

    return healthz


async def _index(request: Request) -> Response:
    """The landing page: static (no data), its links carry a ``?token=`` it was opened with."""
    response = FileResponse(WEB_DIR / "index.html", media_type="text/html")
    response.headers["cache-control"] = "no-cache"
    response.headers["content-security-policy"] = PAGE_CSP
    return response


def _claims(
    ctx: ServerContext, conn: HTTPConnection, role: auth.Role | tuple[auth.Role, ...] | None
) -> auth.TokenClaims:
    token = auth.token_from(conn.query_params, conn.headers)
    claims = auth.verify_token(ctx.secret, token)
    if ctx.revoked.is_revoked(claims.token_id):
        raise AuthError("token revoked")
    auth.check_role(claims.role, role)
    return claims


def _status_for(exc: AuthError) -> int:
    return 403 if isinstance(exc, ForbiddenError) else 401


def _page(
    ctx: ServerContext, filename: str, role: auth.Role
) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        try:
            _claims(ctx, request, role)
        except AuthError as exc:
            return _denied_page(str(exc), _status_for(exc))
        response = FileResponse(WEB_DIR / filename, media_type="text/html")
        response.headers["cache-control"] = "no-store"
        response.headers["content-security-policy"] = PAGE_CSP
        return response

    return page


def _denied_page(reason: str, status: int) -> Response:
    reason = reason[:1].upper() + reason[1:]
    html = (
        "<!doctype html><meta charset=utf-8><title>voice_assist: access refused</title>"
        "<link rel=stylesheet href=/static/overlay.css>"
        f"<main class=denied><h1>Access refused</h1><p>{_escape(reason)}.</p>"
        "<p>Ask for a new link (<code>voice-assist token ...</code>).</p></main>"
    )
    response = Response(html, status_code=status, media_type="text/html")
    response.headers["content-security-policy"] = PAGE_CSP
    return response


def _whoami(ctx: ServerContext) -> Callable[[Request], Awaitable[Response]]:
    async def whoami(request: Request) -> Response:
        try:
            claims = _claims(ctx, request, None)
        except AuthError as exc:
            return JSONResponse({"error": str(exc)}, status_code=401)
        return JSONResponse(
            {"role": claims.role, "agent_id": claims.agent_id, "expires_at_s": claims.expires_at_s}
        )

    return whoami


def require_call_reader(conn: HTTPConnection) -> auth.TokenClaims:
    """Guard for the stored-call routes: a supervisor or QA token, else AuthError (401) or
    HTTP 403 (an agent token: agents see no stored call, their own included)."""
    ctx: ServerContext = conn.app.state.ctx
    try:
        return _claims(ctx, conn, auth.STORED_CALL_ROLES)
    except AuthError as exc:
        if _status_for(exc) == 403:
            raise HTTPException(403, detail=str(exc)) from exc
        raise


def require_supervisor(conn: HTTPConnection) -> auth.TokenClaims:
    """Guard for deleting stored calls: a supervisor token only (QA and agent tokens: 403)."""
    ctx: ServerContext = conn.app.state.ctx
    try:
        return _claims(ctx, conn, "supervisor")
    except AuthError as exc:
        if _status_for(exc) == 403:
            raise HTTPException(403, detail=str(exc)) from exc
        raise


def _stored_call_routes(ctx: ServerContext) -> list[BaseRoute]:
    """Stored-call REST and /replay pages; none when the server runs without a store."""
    if ctx.store is None:
        return []
    return make_routes(ctx.store, require_call_reader, require_supervisor)


# -- websockets ------------------------------------------------------------------------------
async def _deny(websocket: WebSocket, status: int, reason: str) -> None:
    """Refuse a websocket handshake with an HTTP status and a JSON reason."""
    await websocket.send_denial_response(JSONResponse({"error": reason}, status_code=status))


def _ingress(ctx: ServerContext, kind: str) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(websocket: WebSocket) -> None:
        if ctx.role == "gateway":
            await _deny(websocket, 421, "this is a feed gateway: send call media to a worker")
            return
        opts = ctx.settings.server
        candidate = auth.ingest_key_from(websocket.query_params, websocket.headers)
        fingerprint: str | None = None
        if candidate is not None or kind != "twilio":
            # Twilio may carry its key in the start message instead: checked there.
            try:
                fingerprint = ctx.keys.match(candidate)
            except AuthError as exc:
                log.warning("%s ingress refused: %s", kind, exc)
                await _deny(websocket, 401, str(exc))
                return
        if (
            fingerprint is not None
            and ctx.connections_per_key[fingerprint] >= opts.max_connections_per_key
        ):
            await _deny(websocket, 429, "too many connections for this API key")
            return
        if not ctx.ready:
            await _deny(websocket, 503, "server is starting: model not ready")
            return
        protocol = _protocol(ctx.settings, kind)
        await websocket.accept()
        await IngressConnection(websocket, protocol, ctx, key_fingerprint=fingerprint).run()

    return endpoint


def _protocol(settings: Settings, kind: str) -> IngressProtocol:
    opts = settings.server
    if kind == "twilio":
        return TwilioProtocol(
            track_map=opts.twilio_track_map, max_payload_bytes=opts.max_message_bytes
        )
    if kind == "audiohook":
        return AudioHookProtocol(
            send_events=opts.audiohook_send_events, max_payload_bytes=opts.max_message_bytes
        )
    return NativeProtocol(max_payload_bytes=opts.max_message_bytes)


def _feed(
    ctx: ServerContext, feed_cls: type[FeedConnection], role: auth.Role
) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(websocket: WebSocket) -> None:
        try:
            claims = _claims(ctx, websocket, role)
        except AuthError as exc:
            await _deny(websocket, _status_for(exc), str(exc))
            return
        if not ctx.ready:
            await _deny(websocket, 503, "server is starting: model not ready")
            return
        await websocket.accept()
        await feed_cls(websocket, ctx, claims).run()

    return endpoint


# -- middleware and logging ------------------------------------------------------------------
class SecurityHeaders:
    """Adds no-referrer (tokens ride in URLs) and nosniff to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


_SECRET_QUERY = re.compile(r"((?:token|key|api_key)=)[^&\s\"']+", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    """Masks ``token=`` / ``key=`` query values in uvicorn's access and websocket log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = _SECRET_QUERY.sub(r"\1***", record.msg)
        return True


def install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
