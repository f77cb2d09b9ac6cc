"""A call's figures on its own ``calls`` row, counted in SQL from its rows when it ends.

The calls page filters and sorts on them and the agent scorecards add them up, over
thousands of calls, so they must be columns (indexed where the page sorts), not counts
over ``prompts``/``episodes``/``events`` at read time.  :func:`summary_update` is one
``UPDATE calls SET n_episodes = (SELECT count(*) ...), ...`` with correlated subqueries:
the writer runs it in the transaction that closes a call (its last rows are in the same
batch, ahead of it), :func:`~voice_assist.store.writer.mark_stale_calls` for calls a dead
process left behind, and the version-2 migration for every call stored before.  Being
one SQL statement, it gives the same figures on SQLite and PostgreSQL and whichever of
them runs it.

The figures (``calls`` columns of :data:`~voice_assist.store.schema.SUMMARY_COLUMNS`):

``n_episodes``
    distress episodes raised (rows of ``episodes``).
``n_acknowledged`` / ``n_unacknowledged``
    the empathy test's result: episodes acknowledged, and episodes it scored that were
    not (0 when the call has no empathy record, e.g. a mixed-leg recording).
``n_prompts``, ``n_followed``, ``n_dismissed``, ``n_expired``
    prompts of every kind and their outcome; ``followed`` wins over ``dismissed`` (the
    agent pressed "Done" or the coach saw the acknowledgement), ``dismissed`` over
    ``expired``; a prompt superseded or open at the end counts in none of the three.
``n_script``
    script nudges (prompts of kind ``script``).
``agent_talk_ratio``, ``overtalk_ms``
    from the call's last ``metrics`` event: the agent's share of talk time and the total
    time both legs spoke at once, as the coach measured them live (NULL without one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from voice_assist.store import schema


class json_number(FunctionElement[float]):  # noqa: N801 - reads like the SQL function it is
    """``json_number(text_column, key)``: the number at ``key`` of a JSON object stored as text."""

    type = sa.Float()
    name = "json_number"
    inherit_cache = True


@compiles(json_number)
def _json_number_sqlite(element: json_number, compiler: Any, **kw: Any) -> str:
    column, key = list(element.clauses)
    return f"json_extract({compiler.process(column, **kw)}, '$.' || {compiler.process(key, **kw)})"


@compiles(json_number, "postgresql")
def _json_number_postgres(element: json_number, compiler: Any, **kw: Any) -> str:
    column, key = list(element.clauses)
    return (
        f"CAST(CAST({compiler.process(column, **kw)} AS JSONB) "
        f"->> CAST({compiler.process(key, **kw)} AS TEXT) AS DOUBLE PRECISION)"
    )


def _count(table: sa.Table, *where: sa.ColumnElement[bool]) -> sa.ScalarSelect[Any]:
    c = schema.calls
    return (
        sa.select(sa.func.count())
        .select_from(table)
        .where(table.c.call_id == c.c.id, *where)
        .scalar_subquery()
    )


def _last_metric(key: str) -> sa.ScalarSelect[Any]:
    c, ev = schema.calls, schema.events
    return (
        sa.select(json_number(ev.c.body, key))
        .where(ev.c.call_id == c.c.id, ev.c.type == "metrics")
        .order_by(ev.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )


def summary_values() -> dict[str, sa.ColumnElement[Any]]:
    """The SET clause of :func:`summary_update`: one correlated subquery per column."""
    c, p, emp = schema.calls, schema.prompts, schema.empathy
    ack = sa.func.coalesce(p.c.ack_action, "")
    clear = sa.func.coalesce(p.c.clear_reason, "")
    followed = sa.or_(ack == "followed", clear == "followed")
    dismissed = sa.and_(sa.not_(followed), sa.or_(ack == "dismissed", clear == "dismissed"))
    expired = sa.and_(sa.not_(followed), sa.not_(dismissed), clear == "expired")

    def empathy(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        sub = sa.select(expr).where(emp.c.call_id == c.c.id).scalar_subquery()
        return sa.func.coalesce(sub, 0)

    return {
        "n_episodes": _count(schema.episodes),
        "n_acknowledged": empathy(emp.c.acknowledged),
        "n_unacknowledged": empathy(emp.c.episodes - emp.c.acknowledged),
        "n_prompts": _count(p),
        "n_followed": _count(p, followed),
        "n_dismissed": _count(p, dismissed),
        "n_expired": _count(p, expired),
        "n_script": _count(p, p.c.kind == "script"),
        "agent_talk_ratio": _last_metric("agent_talk_ratio"),
        "overtalk_ms": sa.cast(sa.func.round(_last_metric("overtalk_ms")), sa.BigInteger),
    }


def summary_update(call_ids: str | Sequence[str] | None = None) -> sa.Update:
    """``UPDATE calls SET <figures>`` for one call, some calls, or (None) every call that is
    not live."""
    c = schema.calls
    stmt = sa.update(c).values(**summary_values())
    if call_ids is None:
        return stmt.where(c.c.status != "live")
    if isinstance(call_ids, str):
        return stmt.where(c.c.id == call_ids)
    return stmt.where(c.c.id.in_(list(call_ids)))
