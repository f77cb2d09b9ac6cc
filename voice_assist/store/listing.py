"""What a call listing asks for: filters, ranges, sort order, search, page; and its CSV form.

:class:`CallQuery` is the one description of "which calls, in which order" shared by
the calls page (``GET /api/calls``), its CSV export, ``voice-assist calls`` and the
scorecards' "calls behind this figure" links.  :func:`conditions` and :func:`order_by`
turn it into SQL on ``calls``; every filter and sort runs in the database, on columns of
``calls`` (the per-call figures of :mod:`voice_assist.store.summary` among them), so
the listing never reads a call's own rows except to search its transcript.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from voice_assist.store import schema, search

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Range:
    """A numeric figure of a call that takes ``min_<name>`` / ``max_<name>`` bounds."""

    column: str
    scale: float = 1.0
    """Column units per unit of the bound (``duration_s`` bounds a column in ms: 1000)."""
    null_under_max: bool = False
    """A NULL passes a ``max_`` bound (a call with no distress score at all is not distressed)."""


RANGES: dict[str, Range] = {
    "duration_s": Range("duration_ms", 1000.0),
    "distress": Range("max_distress", null_under_max=True),
    "episodes": Range("n_episodes"),
    "acknowledged": Range("n_acknowledged"),
    "unacknowledged": Range("n_unacknowledged"),
    "prompts": Range("n_prompts"),
    "followed": Range("n_followed"),
    "dismissed": Range("n_dismissed"),
    "expired": Range("n_expired"),
    "script": Range("n_script"),
    "talk_ratio": Range("agent_talk_ratio"),
    "overtalk_s": Range("overtalk_ms", 1000.0),
}
"""Bounds by name.  A call still live has no figures yet (NULL): it passes no bound on
them, except ``max_distress`` as above."""

SORTS: dict[str, str] = {
    "started": "started_at_ms",
    "agent": "agent_id",
    "duration": "duration_ms",
    "distress": "max_distress",
    "episodes": "n_episodes",
    "acknowledged": "n_acknowledged",
    "unacknowledged": "n_unacknowledged",
    "prompts": "n_prompts",
    "followed": "n_followed",
    "dismissed": "n_dismissed",
    "expired": "n_expired",
    "script": "n_script",
    "talk_ratio": "agent_talk_ratio",
    "overtalk": "overtalk_ms",
    "status": "status",
}
"""Sort keys by name; ties (and NULLs, always last) fall back to newest first."""

STATUSES = schema.CALL_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class CallQuery:
    """Which stored calls, in which order, which page.

    ``since_ms``/``until_ms`` bound the wall-clock start (``until`` exclusive);
    ``bounds`` maps a :data:`RANGES` name to ``(min, max)`` (either None), in the bound's
    units; ``search`` is a query for :func:`voice_assist.store.search.parse_query`.
    """

    agent_id: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    status: str | None = None
    bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    search: str | None = None
    sort: str = "started"
    descending: bool = True
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"unknown sort {self.sort!r}; one of {', '.join(SORTS)}")
        unknown = set(self.bounds) - set(RANGES)
        if unknown:
            raise ValueError(f"unknown figure {sorted(unknown)[0]!r}; one of {', '.join(RANGES)}")
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; one of {', '.join(STATUSES)}")
        if self.search is not None:
            search.parse_query(self.search)  # raises SearchQueryError (a ValueError)


def conditions(q: CallQuery, search_method: str) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions on ``calls`` for ``q`` (search by ``search_method``, see
    :func:`voice_assist.store.search.method`)."""
    c = schema.calls.c
    out: list[sa.ColumnElement[bool]] = []
    if q.agent_id:
        out.append(c.agent_id == q.agent_id)
    if q.since_ms is not None:
        out.append(c.started_at_ms >= q.since_ms)
    if q.until_ms is not None:
        out.append(c.started_at_ms < q.until_ms)
    if q.status:
        out.append(c.status == q.status)
    for name, (lo, hi) in q.bounds.items():
        spec = RANGES[name]
        col = c[spec.column]
        if lo is not None:
            out.append(col >= lo * spec.scale)
        if hi is not None:
            below = col <= hi * spec.scale
            out.append(sa.or_(below, col.is_(None)) if spec.null_under_max else below)
    if q.search:
        out += search.calls_matching(search.parse_query(q.search), search_method)
    return out


def order_by(q: CallQuery) -> list[sa.ColumnElement[Any]]:
    """ORDER BY for ``q``: the key (NULLs last), then newest first, then id."""
    c = schema.calls.c
    tie = [c.started_at_ms.desc(), c.id.desc()]
    if q.sort == "started":
        return [c.started_at_ms.desc(), c.id.desc()] if q.descending else [
            c.started_at_ms.asc(), c.id.asc()
        ]  # fmt: skip
    col = c[SORTS[q.sort]]
    key = col.desc() if q.descending else col.asc()
    if col.nullable:
        return [sa.case((col.is_(None), 1), else_=0), key, *tie]
    return [key, *tie]


# -- CSV -----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "call_id", "agent_id", "started_at", "duration_s", "status", "end_reason", "source",
    "max_distress", "episodes", "acknowledged", "unacknowledged", "prompts", "followed",
    "dismissed", "expired", "script_nudges", "agent_talk_ratio", "overtalk_s", "replay",
)  # fmt: skip


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _text(value: str | None) -> str:
    """Text a spreadsheet will not run: a leading ``= + - @`` (a formula) gets a quote."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_row(call: Any) -> list[str]:
    """One CSV row (:data:`CSV_COLUMNS`) of a :class:`~voice_assist.store.reader.CallSummary`."""
    over = None if call.overtalk_ms is None else call.overtalk_ms / 1000
    return [
        call.call_id, _text(call.agent_id), _iso(call.started_at_ms),
        _num(call.duration_ms / 1000, 1), call.status if call.error is None else "damaged",
        _text(call.end_reason), _text(call.source),
        _num(call.max_distress), _num(call.n_episodes), _num(call.n_acknowledged),
        _num(call.n_unacknowledged), _num(call.n_prompts), _num(call.n_followed),
        _num(call.n_dismissed), _num(call.n_expired), _num(call.n_script),
        _num(call.agent_talk_ratio), _num(over, 1), f"/replay/{call.call_id}",
    ]  # fmt: skip


def csv_lines(calls: Iterable[Any], *, header: bool = True) -> Iterable[str]:
    """CSV text, a line at a time (RFC 4180 quoting, ``\\r\\n`` line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    if header:
        writer.writerow(CSV_COLUMNS)
    for call in calls:
        writer.writerow(csv_row(call))
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    if buf.getvalue():  # the header of an empty listing
        yield buf.getvalue()
