"""What every stored-call and scorecard endpoint does around its query, in one place.

:class:`Guarded` endpoints authorize with the server's reader check, run their store
query on a worker thread (the store is synchronous), render the result, and map every
failure to a JSON error ``{"error": code, "detail": message}``: 400 ``bad_request``
(with the reason), 401 ``unauthorized``, 403 ``forbidden``, 404 ``call_not_found`` /
``audio_missing`` / ``audio_deleted``, 409 ``audio_live`` / ``call_live``, 500
``call_damaged`` / ``audio_damaged`` / ``store_error``.  Responses carry
``Server-Timing: app;dur=<ms>``, the time from the authorized request to the rendered
response (what ``bench calls-page`` reports).  Every authorized read adds one row to the
store's access audit log (:mod:`voice_assist.store.audit`), in the same worker thread,
before the query.

The pages (calls, scorecards, replay) are static files with no data in them: public,
with a strict content security policy; everything they load goes through the check.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from voice_assist.errors import AuthError, CallLiveError, CallNotFoundError, StoreError
from voice_assist.server.auth import TokenClaims
from voice_assist.server.call_params import BadRequest
from voice_assist.store.archive import AudioArchiveError
from voice_assist.store.audit import AccessRecord
from voice_assist.store.reader import CorruptCallError, StoreReader

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)
ASSETS = {
    "replay.js": "text/javascript",
    "replay.css": "text/css",
    "pages.css": "text/css",
    "calls.js": "text/javascript",
    "agents.js": "text/javascript",
    "common.js": "text/javascript",
}
"""Page assets served by ``/assets/{name}`` (and the replay's by ``/replay/assets/``)."""

ReaderCheck = Callable[[HTTPConnection], object]
"""The server's check for reading stored calls: raises AuthError (401) or an
HTTPException (403) to refuse; may be async; returns the token's
:class:`~voice_assist.server.auth.TokenClaims` (anything else: audited as ``unknown``)."""
T = TypeVar("T")
MAX_AUDIT_QUERY_CHARS = 500


def error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def store_error_response(exc: StoreError) -> JSONResponse:
    if isinstance(exc, CallNotFoundError):
        return error(404, "call_not_found", str(exc))
    if isinstance(exc, AudioArchiveError):
        status = {"audio_missing": 404, "audio_deleted": 404, "audio_live": 409}.get(exc.code, 500)
        return error(status, exc.code, str(exc))
    if isinstance(exc, CorruptCallError):
        return error(500, exc.code, str(exc))
    if isinstance(exc, CallLiveError):
        return error(409, "call_live", str(exc))
    log.error("store error: %s", exc)
    return error(500, "store_error", str(exc))


async def check_access(
    check: ReaderCheck, conn: HTTPConnection
) -> tuple[object, JSONResponse | None]:
    """What ``check`` returned (the token's claims) and None, or None and the JSON refusal."""
    try:
        result = check(conn)
        if inspect.isawaitable(result):
            result = await result
    except AuthError as exc:
        return None, error(401, "unauthorized", str(exc) or "a supervisor or QA token is required")
    except HTTPException as exc:
        code = "forbidden" if exc.status_code == 403 else "unauthorized"
        return None, error(exc.status_code, code, str(exc.detail))
    return result, None


async def authorize(check: ReaderCheck, conn: HTTPConnection) -> JSONResponse | None:
    """None when ``check`` lets ``conn`` through, else the JSON refusal (401 or 403)."""
    return (await check_access(check, conn))[1]


def access_record(
    claims: object, conn: HTTPConnection, resource: str, call_id: str | None = None
) -> AccessRecord:
    """The audit row of one read: the subject from ``claims`` (a check that returns no
    :class:`TokenClaims` gives role ``unknown``), the client address, and for reads of
    many calls the query parameters (the token left out)."""
    query = None
    if call_id is None:
        params = [(k, v) for k, v in conn.query_params.multi_items() if k != "token"]
        query = urlencode(params)[:MAX_AUDIT_QUERY_CHARS] or None
    return AccessRecord(
        role=claims.role if isinstance(claims, TokenClaims) else "unknown",
        agent_id=claims.agent_id if isinstance(claims, TokenClaims) else None,
        token_id=(claims.token_id or None) if isinstance(claims, TokenClaims) else None,
        resource=resource,
        call_id=call_id,
        client=conn.client.host if conn.client else None,
        query=query,
    )


def audited(store: StoreReader, record: AccessRecord, work: Callable[[], T]) -> Callable[[], T]:
    """``work`` preceded by writing ``record`` (when ``store`` can write): for a worker thread.
    A failed audit write refuses the read (a store error), so no read goes unrecorded."""

    def run() -> T:
        writer = getattr(store, "record_access", None)
        if writer is not None:
            writer(record)
        return work()

    return run


def page(filename: str) -> Response:
    """A static page: no data in it, no caching, the strict content security policy."""
    html = (WEB_DIR / filename).read_text(encoding="utf-8")
    return HTMLResponse(
        html, headers={"cache-control": "no-cache", "content-security-policy": PAGE_CSP}
    )


def asset(name: str) -> Response:
    if name not in ASSETS:
        return error(404, "not_found", f"no asset {name!r}")
    return FileResponse(WEB_DIR / name, media_type=ASSETS[name])


class Guarded:
    """Base of endpoint classes bound to one store and one reader check."""

    def __init__(self, store: StoreReader, check: ReaderCheck) -> None:
        self.store = store
        self.check = check

    async def _guarded(
        self,
        request: Request,
        work: Callable[[], Any],
        render: Callable[[Any], Response],
        *,
        audit: str | None,
        call_id: str | None = None,
    ) -> Response:
        """Authorize, then (with ``audit``, the resource read) write one audit row and run
        ``work`` on a worker thread, and render."""
        claims, denied = await check_access(self.check, request)
        if denied is not None:
            return denied
        if audit is not None:
            work = audited(self.store, access_record(claims, request, audit, call_id), work)
        t0 = time.perf_counter()
        try:
            result = await run_in_threadpool(work)
            response = render(result)
        except BadRequest as exc:
            return error(400, "bad_request", str(exc))
        except StoreError as exc:
            return store_error_response(exc)
        response.headers["server-timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.1f}"
        return response
