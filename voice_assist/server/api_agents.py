"""Agent scorecards over HTTP: ``/api/agents``, ``/api/agents/{agent_id}`` and their pages.

``GET /api/agents?since=&until=`` answers ``{"since_ms", "until_ms", "agents": [...]}``,
each agent with the figures of :mod:`voice_assist.store.scorecard`;
``GET /api/agents/{agent_id}?since=&until=`` one agent's figures, a trend by week and,
per figure, the ``/api/calls`` parameters of the calls behind it (``behind``).  The
period defaults to all stored calls.  ``GET /agents`` and ``GET /agents/{agent_id}`` are
the pages (static; what they load needs a supervisor or QA token).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from voice_assist.server import call_params
from voice_assist.server.guarded import Guarded, page


class ScorecardEndpoints(Guarded):
    async def list_agents(self, request: Request) -> Response:
        def work() -> dict[str, Any]:
            since_ms, until_ms = call_params.period_query(request.query_params)
            agents = self.store.agents(since_ms=since_ms, until_ms=until_ms)
            return {
                "since_ms": since_ms,
                "until_ms": until_ms,
                "agents": [a.to_json() for a in agents],
            }

        return await self._guarded(request, work, JSONResponse, audit="scorecards")

    async def agent_detail(self, request: Request) -> Response:
        def work() -> dict[str, Any]:
            agent_id = call_params.agent_id(str(request.path_params["agent_id"]))
            since_ms, until_ms = call_params.period_query(request.query_params)
            card = self.store.agent_scorecard(agent_id, since_ms=since_ms, until_ms=until_ms)
            return card.to_json()

        return await self._guarded(request, work, JSONResponse, audit="scorecard")

    async def agents_page(self, request: Request) -> Response:
        return page("agents.html")

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/agents", self.list_agents, methods=["GET"]),
            Route("/api/agents/{agent_id}", self.agent_detail, methods=["GET"]),
            Route("/agents", self.agents_page, methods=["GET"]),
            Route("/agents/{agent_id}", self.agents_page, methods=["GET"]),
        ]
