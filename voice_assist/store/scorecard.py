"""Agent scorecards: the empathy test, prompts, script nudges and turn-taking over a period.

Everything adds up the per-call figures on the ``calls`` rows
(:mod:`voice_assist.store.summary`) with ``GROUP BY`` in the database: by agent for
:func:`agents`, by week for one agent's trend in :func:`agent`.  Only the times to
acknowledge need a call's own list (``empathy.ack_latency_ms``), read for the calls
that acknowledged something.  Calls still live have no figures yet and are left out.

The figures of a set of calls (:class:`Figures`):

* ``calls``, ``talk_ms``: how many, and their summed length (call time, "talk time" in
  contact-centre terms);
* the empathy test: ``episodes`` (distress episodes), ``acknowledged`` and
  ``unacknowledged`` (as the test scored them), ``share_acknowledged``, and the median
  and 90th percentile of the time from an episode's start to its acknowledgement
  (``ack_median_ms``, ``ack_p90_ms``; linear interpolation between ranks);
* prompts: ``prompts`` and their outcome ``followed`` / ``dismissed`` / ``expired``;
* ``script_nudges`` and ``script_per_hour`` (per hour of call time);
* ``talk_ratio``: the agent's share of talk time, weighted by call length;
  ``overtalk_ms`` (both legs at once, summed) and ``overtalk_share`` of call time.

Weeks start on Monday, 00:00 UTC.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from voice_assist.store import schema

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
MONDAY_MS = 4 * DAY_MS
"""1970-01-05, the first Monday of the epoch: weeks are counted from it."""
MAX_WEEKS = 260

BEHIND: dict[str, dict[str, Any]] = {
    "calls": {},
    "episodes": {"min_episodes": 1, "sort": "episodes"},
    "share_acknowledged": {"min_episodes": 1, "sort": "unacknowledged"},
    "unacknowledged": {"min_unacknowledged": 1, "sort": "unacknowledged"},
    "ack_time": {"min_acknowledged": 1, "sort": "acknowledged"},
    "followed": {"min_followed": 1, "sort": "followed"},
    "dismissed": {"min_dismissed": 1, "sort": "dismissed"},
    "expired": {"min_expired": 1, "sort": "expired"},
    "script": {"min_script": 1, "sort": "script"},
    "talk_ratio": {"sort": "talk_ratio"},
    "overtalk": {"sort": "overtalk"},
}
"""For each figure, the ``/api/calls`` parameters (besides agent and period) of the calls
behind it: those that add to it, the largest first."""


def week_of(ms: int) -> int:
    """The number of the week (since 1970-01-05) that ``ms`` falls in."""
    return (ms - MONDAY_MS) // WEEK_MS


def week_start_ms(week: int) -> int:
    return week * WEEK_MS + MONDAY_MS


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` (sorted), interpolating linearly between ranks."""
    if not values:
        return None
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Figures:
    calls: int = 0
    talk_ms: int = 0
    episodes: int = 0
    acknowledged: int = 0
    unacknowledged: int = 0
    share_acknowledged: float | None = None
    ack_median_ms: float | None = None
    ack_p90_ms: float | None = None
    prompts: int = 0
    followed: int = 0
    dismissed: int = 0
    expired: int = 0
    script_nudges: int = 0
    script_per_hour: float | None = None
    talk_ratio: float | None = None
    overtalk_ms: int = 0
    overtalk_share: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 4)
        return out


@dataclass(frozen=True, slots=True)
class AgentFigures:
    agent_id: str
    figures: Figures
    first_call_at_ms: int
    last_call_at_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "first_call_at_ms": self.first_call_at_ms,
            "last_call_at_ms": self.last_call_at_ms,
            **self.figures.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Week:
    start_ms: int
    figures: Figures

    def to_json(self) -> dict[str, Any]:
        day = datetime.fromtimestamp(self.start_ms / 1000, UTC).date().isoformat()
        return {"week_start": day, "start_ms": self.start_ms, **self.figures.to_json()}


@dataclass(frozen=True, slots=True)
class Scorecard:
    agent_id: str
    since_ms: int | None
    until_ms: int | None
    figures: Figures
    weeks: list[Week] = field(default_factory=list)

    def behind(self) -> dict[str, dict[str, Any]]:
        """Per figure, the ``/api/calls`` query parameters of the calls behind it."""
        scope: dict[str, Any] = {"agent": self.agent_id}
        if self.since_ms is not None:
            scope["since"] = self.since_ms
        if self.until_ms is not None:
            scope["until"] = self.until_ms
        return {name: {**scope, **extra} for name, extra in BEHIND.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "figures": self.figures.to_json(),
            "weeks": [w.to_json() for w in self.weeks],
            "behind": self.behind(),
        }


# -- queries -------------------------------------------------------------------------------------


def _scope(
    agent_id: str | None, since_ms: int | None, until_ms: int | None
) -> list[sa.ColumnElement[bool]]:
    c = schema.calls.c
    conds: list[sa.ColumnElement[bool]] = [c.status != "live"]
    if agent_id is not None:
        conds.append(c.agent_id == agent_id)
    if since_ms is not None:
        conds.append(c.started_at_ms >= since_ms)
    if until_ms is not None:
        conds.append(c.started_at_ms < until_ms)
    return conds


def _sum(col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(col), 0)


def _sums() -> list[sa.ColumnElement[Any]]:
    c = schema.calls.c
    if_ratio = sa.case((c.agent_talk_ratio.is_not(None), c.duration_ms), else_=0)
    if_overtalk = sa.case((c.overtalk_ms.is_not(None), c.duration_ms), else_=0)
    return [
        sa.func.count().label("calls"),
        _sum(c.duration_ms).label("talk_ms"),
        _sum(c.n_episodes).label("episodes"),
        _sum(c.n_acknowledged).label("acknowledged"),
        _sum(c.n_unacknowledged).label("unacknowledged"),
        _sum(c.n_prompts).label("prompts"),
        _sum(c.n_followed).label("followed"),
        _sum(c.n_dismissed).label("dismissed"),
        _sum(c.n_expired).label("expired"),
        _sum(c.n_script).label("script_nudges"),
        _sum(c.agent_talk_ratio * c.duration_ms).label("ratio_ms"),
        _sum(if_ratio).label("ratio_base_ms"),
        _sum(c.overtalk_ms).label("overtalk_ms"),
        _sum(if_overtalk).label("overtalk_base_ms"),
        sa.func.min(c.started_at_ms).label("first_ms"),
        sa.func.max(c.started_at_ms).label("last_ms"),
    ]


def _figures(row: Any, latencies: list[float]) -> Figures:
    talk_ms = int(row.talk_ms)
    ack, unack = int(row.acknowledged), int(row.unacknowledged)
    ratio_base, over_base = float(row.ratio_base_ms), float(row.overtalk_base_ms)
    lat = sorted(latencies)
    return Figures(
        calls=int(row.calls),
        talk_ms=talk_ms,
        episodes=int(row.episodes),
        acknowledged=ack,
        unacknowledged=unack,
        share_acknowledged=ack / (ack + unack) if ack + unack else None,
        ack_median_ms=quantile(lat, 0.5),
        ack_p90_ms=quantile(lat, 0.9),
        prompts=int(row.prompts),
        followed=int(row.followed),
        dismissed=int(row.dismissed),
        expired=int(row.expired),
        script_nudges=int(row.script_nudges),
        script_per_hour=int(row.script_nudges) / (talk_ms / 3_600_000) if talk_ms else None,
        talk_ratio=float(row.ratio_ms) / ratio_base if ratio_base else None,
        overtalk_ms=int(row.overtalk_ms),
        overtalk_share=int(row.overtalk_ms) / over_base if over_base else None,
    )


def _latencies(
    conn: sa.Connection, conds: list[sa.ColumnElement[bool]]
) -> Iterable[tuple[str, int, list[float]]]:
    """(agent, started_at_ms, ack latencies) of the calls in scope that acknowledged any."""
    c, e = schema.calls, schema.empathy
    rows = conn.execute(
        sa.select(c.c.agent_id, c.c.started_at_ms, e.c.ack_latency_ms)
        .select_from(c.join(e, e.c.call_id == c.c.id))
        .where(*conds, c.c.n_acknowledged > 0)
    )
    for r in rows:
        try:
            values = json.loads(r.ack_latency_ms)
        except (TypeError, ValueError):
            continue  # a damaged row: its call's times are left out, the others count
        if isinstance(values, list):
            good = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
            yield str(r.agent_id), int(r.started_at_ms), good


def agents(
    engine: sa.Engine, *, since_ms: int | None = None, until_ms: int | None = None
) -> list[AgentFigures]:
    """Each agent with stored calls in ``[since_ms, until_ms)``, by agent id."""
    c = schema.calls.c
    conds = _scope(None, since_ms, until_ms)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(c.agent_id, *_sums()).where(*conds).group_by(c.agent_id).order_by(c.agent_id)
        ).all()
        latencies: dict[str, list[float]] = defaultdict(list)
        for agent, _, values in _latencies(conn, conds):
            latencies[agent] += values
    return [
        AgentFigures(
            agent_id=str(r.agent_id),
            figures=_figures(r, latencies.get(str(r.agent_id), [])),
            first_call_at_ms=int(r.first_ms),
            last_call_at_ms=int(r.last_ms),
        )
        for r in rows
    ]


def agent(
    engine: sa.Engine,
    agent_id: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    now_ms: int | None = None,
) -> Scorecard:
    """One agent's figures over the period and week by week (empty weeks included, at most
    the last :data:`MAX_WEEKS`)."""
    c = schema.calls.c
    conds = _scope(agent_id, since_ms, until_ms)
    # constants as SQL text, not bound parameters: PostgreSQL must see the GROUP BY
    # expression as the very one selected
    monday, week_ms = (sa.literal_column(str(v), sa.BigInteger) for v in (MONDAY_MS, WEEK_MS))
    week = ((c.started_at_ms - monday) // week_ms).label("week")
    with engine.connect() as conn:
        total = conn.execute(sa.select(*_sums()).where(*conds)).one()
        by_week = conn.execute(
            sa.select(week, *_sums()).where(*conds).group_by(week).order_by(week)
        ).all()
        all_lat: list[float] = []
        week_lat: dict[int, list[float]] = defaultdict(list)
        for _, started, values in _latencies(conn, conds):
            all_lat += values
            week_lat[week_of(started)] += values
    weeks: list[Week] = []
    if by_week:
        rows = {int(r.week): r for r in by_week}
        now = int(time.time() * 1000) if now_ms is None else now_ms
        first = week_of(since_ms) if since_ms is not None else min(rows)
        last = week_of(min(until_ms - 1, now)) if until_ms is not None else max(rows)
        last = max(last, max(rows))
        first = min(first, min(rows))
        first = max(first, last - MAX_WEEKS + 1)
        for w in range(first, last + 1):
            r = rows.get(w)
            figures = _figures(r, week_lat.get(w, [])) if r is not None else Figures()
            weeks.append(Week(week_start_ms(w), figures))
    return Scorecard(
        agent_id=agent_id,
        since_ms=since_ms,
        until_ms=until_ms,
        figures=_figures(total, all_lat),
        weeks=weeks,
    )
