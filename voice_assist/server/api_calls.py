"""HTTP and websocket routes for stored calls: listing, CSV, detail, audio, pages, replay feed.

Mount the result of :func:`make_routes` in the server's Starlette app::

    routes = [..., *make_routes(store, require_call_reader)]

``require_call_reader(conn)`` is the server's token check (a supervisor or QA token):
it gets the :class:`~starlette.requests.HTTPConnection` (a Request, or the WebSocket
for the replay feed), may be sync or async, and raises
:class:`~voice_assist.errors.AuthError` (or a Starlette ``HTTPException``) to refuse.
The pages themselves are static and public; everything they load goes through the
check (their token comes as ``?token=``, which a page passes on as a Bearer header,
and as ``?token=`` on the audio URL).

Routes: ``GET /api/calls`` (filters, sort, search and page of
:mod:`voice_assist.server.call_params`), ``GET /api/calls.csv`` (the same calls as CSV),
``GET /api/calls/{id}`` (call, transcript with words, 4 Hz timeline, episodes, prompts,
empathy), ``GET /api/calls/{id}/audio`` (stereo FLAC, Range requests),
``GET /api/calls/{id}/replay-data`` (reduced for display, ``points`` 100..20000),
``DELETE /api/calls/{id}`` (supervisor only, when ``make_routes`` gets that check: the
call's rows in every table and its FLAC, answered with what went; 409 ``call_live``) and
``GET /api/audit`` (supervisor only: :mod:`voice_assist.server.api_audit`), the
pages ``GET /calls`` and ``GET /replay/{id}`` with ``/assets/{name}`` (and
``/replay/assets/``), the scorecards of :mod:`voice_assist.server.api_agents`, and the
websocket ``/v1/replay/{id}?speed=1..64|max&start_ms=0``: the stored events as
overlay-protocol messages paced at ``speed``, then ``{"type": "replay_end"}`` and close
1000; the client may send ``{"type": "pause"}``, ``{"type": "resume"}``,
``{"type": "speed", "speed": x}``.

Every read (listing, CSV, detail, audio, replay data, replay feed, scorecards) adds one
row to the access audit log first.  Errors are JSON (:mod:`voice_assist.server.guarded`).
On the websocket: an ``{"type": "error", "code": ...}`` message, then close
4400/4401/4403/4404/4500.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voice_assist.errors import CallNotFoundError, StoreError
from voice_assist.replay.feed import (
    ReplayControl,
    replay_end_message,
    replay_feed,
)
from voice_assist.replay.query import DEFAULT_MAX_POINTS, replay_data
from voice_assist.server import call_params
from voice_assist.server.api_agents import ScorecardEndpoints
from voice_assist.server.api_audit import AuditEndpoints
from voice_assist.server.call_params import BadRequest, parse_time_ms
from voice_assist.server.guarded import (
    WEB_DIR,
    Guarded,
    ReaderCheck,
    access_record,
    asset,
    audited,
    check_access,
    error,
    page,
    store_error_response,
)
from voice_assist.store import Store, listing
from voice_assist.store.ids import CALL_ID_RE
from voice_assist.store.reader import StoreReader

log = logging.getLogger(__name__)

SupervisorCheck = ReaderCheck
"""The name this check had before QA tokens could read stored calls too."""


def _call_id(conn: HTTPConnection) -> str:
    return str(conn.path_params["call_id"])


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


class CallEndpoints(Guarded):
    """The stored-call HTTP endpoints, bound to one store and one reader check."""

    def __init__(self, store: StoreReader, check: ReaderCheck) -> None:
        super().__init__(store, check)
        self._page_html = (WEB_DIR / "replay.html").read_text(encoding="utf-8")

    async def list_calls(self, request: Request) -> Response:
        return await self._guarded(
            request,
            lambda: self.store.list_calls(call_params.call_query(request.query_params)),
            lambda result: JSONResponse(result.to_json()),
            audit="list",
        )

    async def calls_csv(self, request: Request) -> Response:
        def work() -> Iterator[str]:
            query = call_params.call_query(request.query_params, csv=True)
            rows = self.store.iter_calls(query, max_rows=query.limit)
            first = next(rows, None)  # the first page runs here: its errors are still HTTP
            calls = rows if first is None else _chain(first, rows)
            return iter(listing.csv_lines(calls))

        def render(lines: Iterator[str]) -> Response:
            return StreamingResponse(
                lines,
                media_type="text/csv; charset=utf-8",
                headers={"content-disposition": 'attachment; filename="calls.csv"'},
            )

        return await self._guarded(request, work, render, audit="csv")

    async def calls_page(self, request: Request) -> Response:
        return page("calls.html")

    async def page_asset(self, request: Request) -> Response:
        return asset(str(request.path_params["name"]))

    async def call_detail(self, request: Request) -> Response:
        call_id = _call_id(request)
        return await self._guarded(
            request,
            lambda: _call_detail(self.store, call_id),
            JSONResponse,
            audit="detail",
            call_id=call_id,
        )

    async def call_audio(self, request: Request) -> Response:
        call_id = _call_id(request)

        def render(path: Path) -> Response:
            return FileResponse(
                path,
                media_type="audio/flac",
                filename=f"{call_id}.flac",
                content_disposition_type="inline",
            )

        return await self._guarded(
            request, lambda: self.store.audio_path(call_id), render, audit="audio", call_id=call_id
        )

    async def call_replay_data(self, request: Request) -> Response:
        call_id = _call_id(request)

        def work() -> dict[str, Any]:
            points = call_params.int_param(
                request.query_params, "points", DEFAULT_MAX_POINTS, 100, 20000
            )
            data = replay_data(self.store, call_id, max_points=points)
            data["audio_url"] = f"/api/calls/{call_id}/audio"
            return data

        return await self._guarded(
            request, work, _compact_json, audit="replay-data", call_id=call_id
        )

    async def replay_page(self, request: Request) -> Response:
        """The page holds no data and is served to anyone (without a reader token it says
        so); opened with a reader token, the opening is an audited read of the call."""
        call_id = _call_id(request)
        if not CALL_ID_RE.fullmatch(call_id):
            return error(404, "call_not_found", "no such call")
        claims, denied = await check_access(self.check, request)
        if denied is None:
            record = access_record(claims, request, "replay-page", call_id)
            try:
                await asyncio.to_thread(audited(self.store, record, lambda: None))
            except StoreError as exc:
                return store_error_response(exc)
        return HTMLResponse(self._page_html, headers={"cache-control": "no-cache"})

    async def replay_asset(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        if not name.startswith("replay."):
            return error(404, "not_found", f"no asset {name!r}")
        return asset(name)

    async def replay_socket(self, websocket: WebSocket) -> None:
        await ReplaySocket(self.store, self.check, websocket).run()


class CallDeleteEndpoint(Guarded):
    """``DELETE /api/calls/{id}``, behind its own check (the supervisor role)."""

    def __init__(self, store: Store, check: ReaderCheck) -> None:
        super().__init__(store, check)
        self.writable = store

    async def delete(self, request: Request) -> Response:
        call_id = _call_id(request)
        return await self._guarded(
            request,
            lambda: self.writable.delete_call(call_id),
            lambda deleted: JSONResponse(deleted.to_json()),
            audit=None,
        )


class ReplaySocket:
    """One ``/v1/replay/{id}`` connection: checks, then a pump (stored events out) and a
    listener (pause/resume/speed in) until the replay ends or either side goes."""

    def __init__(self, store: StoreReader, check: ReaderCheck, websocket: WebSocket) -> None:
        self.store = store
        self.check = check
        self.ws = websocket
        self.call_id = _call_id(websocket)

    async def _refuse(self, code: int, err: str, detail: str) -> None:
        await self.ws.send_json({"type": "error", "v": 1, "code": err, "message": detail})
        await self.ws.close(code=code, reason=err)

    async def _open(self) -> tuple[ReplayControl, int] | None:
        """The replay's control and start time, or None once the socket has been refused."""
        claims, denied = await check_access(self.check, self.ws)
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
            record = access_record(claims, self.ws, "replay-feed", self.call_id)
            await asyncio.to_thread(
                audited(self.store, record, lambda: self.store.get_call(self.call_id))
            )
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


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def make_routes(
    store: StoreReader,
    require_call_reader: ReaderCheck,
    require_supervisor: ReaderCheck | None = None,
) -> list[BaseRoute]:
    """The call-store routes and pages, bound to ``store``, guarded by ``require_call_reader``.

    With ``require_supervisor`` (and a :class:`Store`, not just a reader) the routes include
    ``DELETE /api/calls/{id}``, guarded by that check.
    """
    api = CallEndpoints(store, require_call_reader)
    agents = ScorecardEndpoints(store, require_call_reader)
    deletion: list[BaseRoute] = []
    if require_supervisor is not None and isinstance(store, Store):
        remover = CallDeleteEndpoint(store, require_supervisor)
        deletion.append(Route("/api/calls/{call_id}", remover.delete, methods=["DELETE"]))
        deletion += AuditEndpoints(store, require_supervisor).routes()
    return [
        Route("/api/calls", api.list_calls, methods=["GET"]),
        Route("/api/calls.csv", api.calls_csv, methods=["GET"]),
        Route("/api/calls/{call_id}", api.call_detail, methods=["GET"]),
        *deletion,
        Route("/api/calls/{call_id}/audio", api.call_audio, methods=["GET", "HEAD"]),
        Route("/api/calls/{call_id}/replay-data", api.call_replay_data, methods=["GET"]),
        *agents.routes(),
        Route("/calls", api.calls_page, methods=["GET"]),
        Route("/assets/{name}", api.page_asset, methods=["GET"]),
        Route("/replay/assets/{name}", api.replay_asset, methods=["GET"]),
        Route("/replay/{call_id}", api.replay_page, methods=["GET"]),
        WebSocketRoute("/v1/replay/{call_id}", api.replay_socket),
    ]


__all__ = [
    "BadRequest",
    "CallDeleteEndpoint",
    "CallEndpoints",
    "ReaderCheck",
    "ReplaySocket",
    "SupervisorCheck",
    "make_routes",
    "parse_time_ms",
]
