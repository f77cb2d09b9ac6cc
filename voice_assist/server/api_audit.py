"""``GET /api/audit``: the access audit log, newest first (supervisor tokens only).

Parameters (:func:`voice_assist.server.call_params.audit_query`): ``call`` (one call's
reads), ``since`` (epoch ms, a date or an ISO time), ``limit`` 1..10000 (100); anything
else is 400 ``bad_request``.  Answers ``{"records": [...]}``, each record as
:meth:`voice_assist.store.audit.AccessRecord.to_json`.  Reading the log is not itself
audited.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from voice_assist.server import call_params
from voice_assist.server.guarded import Guarded, ReaderCheck
from voice_assist.store import Store
from voice_assist.store.audit import AccessRecord


class AuditEndpoints(Guarded):
    def __init__(self, store: Store, check: ReaderCheck) -> None:
        super().__init__(store, check)
        self.writable = store

    async def list_audit(self, request: Request) -> Response:
        def work() -> list[AccessRecord]:
            return self.writable.list_access(call_params.audit_query(request.query_params))

        def render(records: list[AccessRecord]) -> Response:
            return JSONResponse({"records": [r.to_json() for r in records]})

        return await self._guarded(request, work, render, audit=None)

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/audit", self.list_audit, methods=["GET"])]
