"""HTTP and websocket routes for stored calls: listing, detail, audio, replay page and feed.

Mount the result of :func:`make_routes` in the server's Starlette app::

    routes = [..., *make_routes(store, require_supervisor)]

``require_supervisor(conn)`` is the server's token check: it gets the
:class:`~starlette.requests.HTTPConnection` (a Request, or the WebSocket for the replay
feed), may be sync or async, and raises :class:`~voice_assist.errors.AuthError` (or a
Starlette ``HTTPException``) to refuse.  The replay page itself is static and public;
everything it loads goes through the check (its token comes as ``?token=``, which the
page passes on as a Bearer header, and as ``?token=`` on the audio URL).

Routes: ``GET /api/calls`` (``agent``, ``since``/``until`` as epoch ms or ISO date/time,
``min_distress``, ``max_distress``, ``status``, ``limit`` <= 500, ``offset``),
``GET /api/calls/{id}`` (call, transcript with words, 4 Hz timeline, episodes, prompts,
empathy), ``GET /api/calls/{id}/audio`` (stereo FLAC, Range requests),
``GET /api/calls/{id}/replay-data`` (reduced for display, ``points`` 100..20000),
``GET /replay/{id}`` (page) with ``/replay/assets/replay.{js,css}``, and the websocket
``/v1/replay/{id}?speed=1..64|max&start_ms=0``: the stored events as overlay-protocol
messages paced at ``speed``, then ``{"type": "replay_end"}`` and close 1000; the client
may send ``{"type": "pause"}``, ``{"type": "resume"}``, ``{"type": "speed", "speed": x}``.

Errors are JSON ``{"error": code, "detail": message}``: 400 ``bad_request``,
401 ``unauthorized``, 404 ``call_not_found``/``audio_missing``, 409 ``audio_live``,
500 ``call_damaged``/``audio_damaged``/``store_error``.  On the websocket: an
``{"type": "error", "code": ...}`` message, then close 4400/4401/4404/4500.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voice_assist.errors import AuthError, CallNotFoundError, StoreError
from voice_assist.replay.feed import (
    ReplayControl,
    replay_end_message,
    replay_feed,
)
from voice_assist.replay.query import DEFAULT_MAX_POINTS, replay_data
from voice_assist.store.archive import AudioArchiveError
from voice_assist.store.ids import CALL_ID_RE
from voice_assist.store.reader import CorruptCallError, StoreReader

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ASSETS = {"replay.js": "text/javascript", "replay.css": "text/css"}

SupervisorCheck = Callable[[HTTPConnection], object]
"""Raises AuthError/HTTPException to refuse; its return value (or awaitable) is ignored."""


class BadRequest(ValueError):
    pass


def error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _store_error_response(exc: StoreError) -> JSONResponse:
    if isinstance(exc, CallNotFoundError):
        return error(404, "call_not_found", str(exc))
    if isinstance(exc, AudioArchiveError):
        status = {"audio_missing": 404, "audio_live": 409}.get(exc.code, 500)
        return error(status, exc.code, str(exc))
    if isinstance(exc, CorruptCallError):
        return error(500, exc.code, str(exc))
    log.error("store error: %s", exc)
    return error(500, "store_error", str(exc))


def parse_time_ms(value: str, *, end: bool = False) -> int:
    """Epoch milliseconds from ``1712345678000``, ``2024-04-05`` or an ISO datetime (UTC if naive).

    A bare date given as an ``end`` bound means the end of that day.
    """
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            dt = datetime(d.year, d.month, d.day, tzinfo=UTC)
            return int(dt.timestamp() * 1000) + (86_400_000 if end else 0)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"not a date or time: {value!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a number, not {raw!r}") from exc
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be finite")
    return value


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer, not {raw!r}") from exc
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return value


async def _authorize(check: SupervisorCheck, conn: HTTPConnection) -> JSONResponse | None:
    """None when ``check`` lets ``conn`` through, else the JSON refusal (401 or 403)."""
    try:
        result = check(conn)
        if inspect.isawaitable(result):
            await result
    except AuthError as exc:
        return error(401, "unauthorized", str(exc) or "a supervisor token is required")
    except HTTPException as exc:
        code = "forbidden" if exc.status_code == 403 else "unauthorized"
        return error(exc.status_code, code, str(exc.detail))
    return None


def _call_id(conn: HTTPConnection) -> str:
    return str(conn.path_params["call_id"])


def _list_query(store: StoreReader, request: Request) -> Any:
    q = request.query_params
    since = q.get("since") or q.get("from")
    until = q.get("until") or q.get("to")
    return store.list_calls(
        agent_id=q.get("agent") or None,
        since_ms=parse_time_ms(since) if since else None,
        until_ms=parse_time_ms(until, end=True) if until else None,
        min_distress=_float_param(request, "min_distress"),
        max_distress=_float_param(request, "max_distress"),
        status=q.get("status") or None,
        limit=_int_param(request, "limit", 50, 1, 500),
        offset=_int_param(request, "offset", 0, 0, 10**9),
    )


def _call_detail(store: StoreReader, call_id: str) -> dict[str, Any]:
    call = store.get_call(call_id)
    return {
        "call": call.to_json(),
        "transcript": store.transcript(call_id),
        "timeline": store.timeline(call_id),
        "episodes": store.episodes(call_id),
        "prompts": store.prompts(call_id),
        "empathy": store.empathy(call_id),
        "audio_url": f"/api/calls/{call_id}/audio",
    }


def _compact_json(data: dict[str, Any]) -> Response:
    body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
    return Response(body, media_type="application/json")


class CallEndpoints:
    """The stored-call HTTP endpoints, bound to one store and one supervisor check.

    Each endpoint authorizes, runs its store query on a worker thread (the store is
    synchronous) and renders the result; :meth:`_guarded` maps the failures to the
    JSON errors of the module docstring in one place.
    """

    def __init__(self, store: StoreReader, check: SupervisorCheck) -> None:
        self.store = store
        self.check = check
        self._page_html = (WEB_DIR / "replay.html").read_text(encoding="utf-8")

    async def _guarded(
        self, request: Request, work: Callable[[], Any], render: Callable[[Any], Response]
    ) -> Response:
        denied = await _authorize(self.check, request)
        if denied is not None:
            return denied
        try:
            result = await run_in_threadpool(work)
        except BadRequest as exc:
            return error(400, "bad_request", str(exc))
        except StoreError as exc:
            return _store_error_response(exc)
        return render(result)

    async def list_calls(self, request: Request) -> Response:
        return await self._guarded(
            request,
            lambda: _list_query(self.store, request),
            lambda page: JSONResponse(page.to_json()),
        )

    async def call_detail(self, request: Request) -> Response:
        call_id = _call_id(request)
        return await self._guarded(request, lambda: _call_detail(self.store, call_id), JSONResponse)

    async def call_audio(self, request: Request) -> Response:
        call_id = _call_id(request)

        def render(path: Path) -> Response:
            return FileResponse(
                path,
                media_type="audio/flac",
                filename=f"{call_id}.flac",
                content_disposition_type="inline",
            )

        return await self._guarded(request, lambda: self.store.audio_path(call_id), render)

    async def call_replay_data(self, request: Request) -> Response:
        call_id = _call_id(request)

        def work() -> dict[str, Any]:
            points = _int_param(request, "points", DEFAULT_MAX_POINTS, 100, 20000)
            data = replay_data(self.store, call_id, max_points=points)
            data["audio_url"] = f"/api/calls/{call_id}/audio"
            return data

        return await self._guarded(request, work, _compact_json)

    async def replay_page(self, request: Request) -> Response:
        if not CALL_ID_RE.fullmatch(_call_id(request)):
            return error(404, "call_not_found", "no such call")
        return HTMLResponse(self._page_html, headers={"cache-control": "no-cache"})

    async def replay_asset(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in ASSETS:
            return error(404, "not_found", f"no asset {name!r}")
        return FileResponse(WEB_DIR / name, media_type=ASSETS[name])

    async def replay_socket(self, websocket: WebSocket) -> None:
        await ReplaySocket(self.store, self.check, websocket).run()


class ReplaySocket:
    """One ``/v1/replay/{id}`` connection: checks, then a pump (stored events out) and a
    listener (pause/resume/speed in) until the replay ends or either side goes."""

    def __init__(self, store: StoreReader, check: SupervisorCheck, websocket: WebSocket) -> None:
        self.store = store
        self.check = check
        self.ws = websocket
        self.call_id = _call_id(websocket)

    async def _refuse(self, code: int, err: str, detail: str) -> None:
        await self.ws.send_json({"type": "error", "v": 1, "code": err, "message": detail})
        await self.ws.close(code=code, reason=err)

    async def _open(self) -> tuple[ReplayControl, int] | None:
        """The replay's control and start time, or None once the socket has been refused."""
        denied = await _authorize(self.check, self.ws)
        if denied is not None:
            body = json.loads(bytes(denied.body))
            await self._refuse(4000 + denied.status_code, body["error"], body["detail"])
            return None
        q = self.ws.query_params
        try:
            raw_speed = q.get("speed", "1")
            control = ReplayControl(math.inf if raw_speed == "max" else float(raw_speed))
            start_ms = int(q.get("start_ms", "0"))
        except ValueError as exc:
            await self._refuse(4400, "bad_request", str(exc))
            return None
        try:
            await asyncio.to_thread(self.store.get_call, self.call_id)
        except StoreError as exc:
            if isinstance(exc, CallNotFoundError):
                await self._refuse(4404, "call_not_found", str(exc))
            else:
                await self._refuse(4500, "store_error", str(exc))
            return None
        return control, start_ms

    async def _pump(self, control: ReplayControl, start_ms: int) -> None:
        seq, t_ms = 0, start_ms
        feed = replay_feed(self.store, self.call_id, start_ms=start_ms, control=control)
        async for message in feed:
            seq, t_ms = message["seq"], message["t_ms"]
            await self.ws.send_json(message)
        await self.ws.send_json(replay_end_message(self.call_id, seq=seq + 1, t_ms=t_ms))

    async def _listen(self, control: ReplayControl) -> None:
        while True:
            raw = await self.ws.receive_text()
            try:
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "pause":
                    control.pause()
                elif kind == "resume":
                    control.resume()
                elif kind == "speed":
                    control.set_speed(float(msg["speed"]))
                elif kind == "ping":
                    await self.ws.send_json({"type": "pong", "v": 1})
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                await self.ws.send_json(
                    {"type": "error", "v": 1, "code": "bad_request", "message": str(exc)}
                )

    async def run(self) -> None:
        await self.ws.accept()
        opened = await self._open()
        if opened is None:
            return
        control, start_ms = opened
        sender = asyncio.create_task(self._pump(control, start_ms))
        receiver = asyncio.create_task(self._listen(control))
        try:
            done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)
        failure = sender.exception() if sender in done else None
        finished = sender in done and failure is None
        if failure is not None and not isinstance(failure, WebSocketDisconnect):
            log.error("replay of %s failed: %s", self.call_id, failure)
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                if finished:
                    await self.ws.close(code=1000, reason="replay_end")
                else:
                    await self.ws.close(code=1011, reason="replay_failed")


def make_routes(store: StoreReader, require_supervisor: SupervisorCheck) -> list[BaseRoute]:
    """The call-store routes, bound to ``store`` and guarded by ``require_supervisor``."""
    api = CallEndpoints(store, require_supervisor)
    return [
        Route("/api/calls", api.list_calls, methods=["GET"]),
        Route("/api/calls/{call_id}", api.call_detail, methods=["GET"]),
        Route("/api/calls/{call_id}/audio", api.call_audio, methods=["GET", "HEAD"]),
        Route("/api/calls/{call_id}/replay-data", api.call_replay_data, methods=["GET"]),
        Route("/replay/assets/{name}", api.replay_asset, methods=["GET"]),
        Route("/replay/{call_id}", api.replay_page, methods=["GET"]),
        WebSocketRoute("/v1/replay/{call_id}", api.replay_socket),
    ]


__all__ = ["CallEndpoints", "ReplaySocket", "SupervisorCheck", "make_routes", "parse_time_ms"]
