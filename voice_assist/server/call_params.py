"""Query parameters of the stored-call and scorecard endpoints, checked and typed.

Every parameter is validated before any query runs; anything wrong is a
:class:`BadRequest` whose message names the parameter and says what it must be (the
endpoints answer it as HTTP 400 ``bad_request``).  Unknown parameter names are refused
too, so a misspelt filter (``min_distres``) is an error, not a silently larger listing.

``GET /api/calls`` (and ``/api/calls.csv``):

=====================  ===================================================================
``agent``              one agent's calls
``since``, ``until``   start time from / before: epoch ms, ``2024-04-05`` (``until``: the
                       end of that day) or an ISO date-time (UTC if no offset); also
                       ``from``, ``to``
``status``             ``ended``, ``interrupted`` or ``live``
``q``                  transcript search (words, ``"phrases"``, ``prefix*``)
``min_X``, ``max_X``   bounds on a figure X: ``duration_s``, ``distress``, ``episodes``,
                       ``acknowledged``, ``unacknowledged``, ``prompts``, ``followed``,
                       ``dismissed``, ``expired``, ``script``, ``talk_ratio``,
                       ``overtalk_s``
``sort``, ``order``    a key of :data:`~voice_assist.store.listing.SORTS`; ``desc``
                       (default) or ``asc``
``limit``, ``offset``  the page: 1..500 (50), >= 0; CSV: ``limit`` 1..100000 (10000)
=====================  ===================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime

from voice_assist.store import listing
from voice_assist.store.audit import MAX_AUDIT_LIMIT, AuditQuery
from voice_assist.store.ids import CALL_ID_RE
from voice_assist.store.search import SearchQueryError, parse_query

MAX_OFFSET = 10**9
CSV_MAX_ROWS = 100_000
CSV_DEFAULT_ROWS = 10_000
MAX_AGENT_ID_CHARS = 128

_PERIOD = {"token", "since", "until", "from", "to"}
_LISTING = _PERIOD | {"agent", "status", "q", "sort", "order", "limit", "offset"}
_BOUNDS = {f"{side}_{name}" for name in listing.RANGES for side in ("min", "max")}
LISTING_PARAMS = frozenset(_LISTING | _BOUNDS)
PERIOD_PARAMS = frozenset(_PERIOD)


class BadRequest(ValueError):
    """A query parameter that cannot be used; the message says which and why."""


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


def _check_names(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise BadRequest(f"unknown parameter {name!r}")


def _float(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a number, not {raw!r}") from exc
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be finite")
    if value < 0:
        raise BadRequest(f"{name} must not be negative")
    return value


def int_param(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer, not {raw!r}") from exc
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return value


def period(params: Mapping[str, str]) -> tuple[int | None, int | None]:
    """``(since_ms, until_ms)`` from ``since``/``from`` and ``until``/``to``."""
    since = params.get("since") or params.get("from")
    until = params.get("until") or params.get("to")
    since_ms = parse_time_ms(since) if since else None
    until_ms = parse_time_ms(until, end=True) if until else None
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise BadRequest("since must be before until")
    return since_ms, until_ms


def period_query(params: Mapping[str, str]) -> tuple[int | None, int | None]:
    """The period of a scorecard request (no other parameter allowed)."""
    _check_names(params, PERIOD_PARAMS)
    return period(params)


AUDIT_PARAMS = frozenset({"token", "call", "since", "limit"})


def audit_query(params: Mapping[str, str]) -> AuditQuery:
    """``GET /api/audit``: ``call`` (one call id), ``since`` (a time), ``limit`` 1..10000 (100)."""
    _check_names(params, AUDIT_PARAMS)
    call_id = params.get("call") or None
    if call_id is not None and not CALL_ID_RE.fullmatch(call_id):
        raise BadRequest("call must be a call id (1-64 of A-Z a-z 0-9 _ -)")
    since = params.get("since")
    return AuditQuery(
        call_id=call_id,
        since_ms=parse_time_ms(since) if since else None,
        limit=int_param(params, "limit", 100, 1, MAX_AUDIT_LIMIT),
    )


def agent_id(value: str) -> str:
    if not value or len(value) > MAX_AGENT_ID_CHARS:
        raise BadRequest(f"an agent id is 1-{MAX_AGENT_ID_CHARS} characters")
    return value


def call_query(params: Mapping[str, str], *, csv: bool = False) -> listing.CallQuery:
    """The :class:`~voice_assist.store.listing.CallQuery` of a ``/api/calls`` request."""
    _check_names(params, LISTING_PARAMS)
    since_ms, until_ms = period(params)
    status = params.get("status") or None
    if status is not None and status not in listing.STATUSES:
        raise BadRequest(f"status must be one of {', '.join(listing.STATUSES)}, not {status!r}")
    sort = params.get("sort") or "started"
    if sort not in listing.SORTS:
        raise BadRequest(f"sort must be one of {', '.join(listing.SORTS)}, not {sort!r}")
    order = params.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise BadRequest(f"order must be asc or desc, not {order!r}")
    bounds: dict[str, tuple[float | None, float | None]] = {}
    for name in listing.RANGES:
        lo, hi = _float(params, f"min_{name}"), _float(params, f"max_{name}")
        if lo is not None and hi is not None and lo > hi:
            raise BadRequest(f"min_{name} is above max_{name}")
        if lo is not None or hi is not None:
            bounds[name] = (lo, hi)
    search = (params.get("q") or "").strip() or None
    if search is not None:
        try:
            parse_query(search)
        except SearchQueryError as exc:
            raise BadRequest(f"q: {exc}") from exc
    agent = params.get("agent") or None
    if csv:
        limit = int_param(params, "limit", CSV_DEFAULT_ROWS, 1, CSV_MAX_ROWS)
    else:
        limit = int_param(params, "limit", 50, 1, listing.MAX_PAGE)
    return listing.CallQuery(
        agent_id=agent_id(agent) if agent else None,
        since_ms=since_ms,
        until_ms=until_ms,
        status=status,
        bounds=bounds,
        search=search,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=int_param(params, "offset", 0, 0, MAX_OFFSET),
    )
