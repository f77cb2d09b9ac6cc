"""Reading stored calls: listings, one call's rows, its waveform and its events.

Rows are checked as they are turned into Python values: a damaged row (JSON that does not
parse, text where a number belongs) raises :class:`CorruptCallError` naming the call, and
in a listing it becomes an entry with ``error`` set, so the other calls are still served.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from voice_assist.errors import CallNotFoundError, StoreError
from voice_assist.store import schema, scorecard, search
from voice_assist.store.archive import WAVE_CHUNK_HOPS, WAVE_HOP_MS, AudioArchiveError, audio_info
from voice_assist.store.ids import validate_call_id
from voice_assist.store.listing import MAX_PAGE, CallQuery, conditions, order_by

log = logging.getLogger(__name__)


class CorruptCallError(StoreError):
    """A stored call's rows cannot be read back (damaged database row)."""

    code = "call_damaged"


@dataclass(frozen=True, slots=True)
class CallSummary:
    """One row of the call listing (times: ``*_at_ms`` wall clock, others media time)."""

    call_id: str
    agent_id: str
    source: str
    started_at_ms: int
    ended_at_ms: int | None
    duration_ms: int
    status: str
    end_reason: str | None
    max_distress: float | None
    meta: dict[str, Any]
    audio_state: str
    audio_frames: int
    episodes: int | None
    acknowledged: int | None
    dropped_items: int
    dropped_audio_ms: int
    error: str | None = None
    # the call's figures (store/summary.py): None while it is live
    n_episodes: int | None = None
    n_acknowledged: int | None = None
    n_unacknowledged: int | None = None
    n_prompts: int | None = None
    n_followed: int | None = None
    n_dismissed: int | None = None
    n_expired: int | None = None
    n_script: int | None = None
    agent_talk_ratio: float | None = None
    overtalk_ms: int | None = None
    match: dict[str, Any] | None = None
    """With a search: the first utterance that matched (``channel``, ``start_ms``, ``text``)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CallPage:
    calls: list[CallSummary]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + len(self.calls)
        return nxt if nxt < self.total else None

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": [c.to_json() for c in self.calls],
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": self.next_offset,
        }


@dataclass(frozen=True, slots=True)
class EventsPage:
    """One page of stored wire messages; ask for ``after_seq=last_seq`` next while ``more``."""

    messages: list[dict[str, Any]]
    last_seq: int
    more: bool


@dataclass(frozen=True, slots=True)
class Waveform:
    """Per-leg peaks (max |x| over ``hop_ms``), as floats in [0, 1]."""

    hop_ms: int
    customer: np.ndarray
    agent: np.ndarray


def _json(text: Any, what: str, call_id: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CorruptCallError(f"stored call {call_id}: {what} is not valid JSON") from exc


def _int(value: Any, what: str, call_id: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CorruptCallError(f"stored call {call_id}: {what} is not a number ({value!r})")
    return int(value)


def _opt_int(value: Any, what: str, call_id: str) -> int | None:
    return None if value is None else _int(value, what, call_id)


def _opt_float(value: Any, what: str, call_id: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CorruptCallError(f"stored call {call_id}: {what} is not a number ({value!r})")
    value = float(value)
    return value if math.isfinite(value) else None


_SUMMARY_COLUMNS = (
    *schema.calls.c,
    schema.empathy.c.episodes,
    schema.empathy.c.acknowledged,
)


def _summary(row: sa.Row[Any]) -> CallSummary:
    cid = str(row.id)
    meta = _json(row.meta, "meta", cid)
    if not isinstance(meta, dict):
        raise CorruptCallError(f"stored call {cid}: meta is not a JSON object")
    if row.status not in schema.CALL_STATUSES:
        raise CorruptCallError(f"stored call {cid}: unknown status {row.status!r}")
    return CallSummary(
        call_id=cid,
        agent_id=str(row.agent_id),
        source=str(row.source),
        started_at_ms=_int(row.started_at_ms, "started_at_ms", cid),
        ended_at_ms=_opt_int(row.ended_at_ms, "ended_at_ms", cid),
        duration_ms=_int(row.duration_ms, "duration_ms", cid),
        status=str(row.status),
        end_reason=row.end_reason,
        max_distress=_opt_float(row.max_distress, "max_distress", cid),
        meta=meta,
        audio_state=str(row.audio_state),
        audio_frames=_int(row.audio_frames, "audio_frames", cid),
        episodes=_opt_int(row.episodes, "empathy episodes", cid),
        acknowledged=_opt_int(row.acknowledged, "empathy acknowledged", cid),
        dropped_items=_int(row.dropped_items, "dropped_items", cid),
        dropped_audio_ms=_int(row.dropped_audio_ms, "dropped_audio_ms", cid),
        n_episodes=_opt_int(row.n_episodes, "n_episodes", cid),
        n_acknowledged=_opt_int(row.n_acknowledged, "n_acknowledged", cid),
        n_unacknowledged=_opt_int(row.n_unacknowledged, "n_unacknowledged", cid),
        n_prompts=_opt_int(row.n_prompts, "n_prompts", cid),
        n_followed=_opt_int(row.n_followed, "n_followed", cid),
        n_dismissed=_opt_int(row.n_dismissed, "n_dismissed", cid),
        n_expired=_opt_int(row.n_expired, "n_expired", cid),
        n_script=_opt_int(row.n_script, "n_script", cid),
        agent_talk_ratio=_opt_float(row.agent_talk_ratio, "agent_talk_ratio", cid),
        overtalk_ms=_opt_int(row.overtalk_ms, "overtalk_ms", cid),
    )


def _damaged_summary(row: sa.Row[Any], exc: Exception) -> CallSummary:
    def num(v: Any) -> int:
        return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0

    return CallSummary(
        call_id=str(row.id), agent_id=str(row.agent_id), source=str(row.source),
        started_at_ms=num(row.started_at_ms), ended_at_ms=None, duration_ms=num(row.duration_ms),
        status=str(row.status), end_reason=None, max_distress=None, meta={},
        audio_state=str(row.audio_state), audio_frames=0, episodes=None, acknowledged=None,
        dropped_items=0, dropped_audio_ms=0, error=str(exc),
    )  # fmt: skip


class StoreReader:
    """Read-side queries; safe to use from any thread (each call takes its own connection)."""

    def __init__(self, engine: sa.Engine, *, audio_dir: Path) -> None:
        self.engine = engine
        self.audio_dir = audio_dir
        self._search_method: str | None = None

    # -- listing ------------------------------------------------------------------------------

    def list_calls(
        self,
        query: CallQuery | None = None,
        *,
        agent_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        min_distress: float | None = None,
        max_distress: float | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> CallPage:
        """One page of calls matching ``query`` (newest first by default) and their total.

        The keyword arguments are a short form of a :class:`CallQuery` for the common
        filters; ``since_ms``/``until_ms`` bound the wall-clock start time (``until``
        exclusive), ``min_distress``/``max_distress`` the call's peak distress.  ``limit``
        is clamped to 1..:data:`~voice_assist.store.listing.MAX_PAGE`.

        Raises
        ------
        ValueError
            An unknown sort, figure or status, or a search with no word in it.
        """
        if query is None:
            bounds = {}
            if min_distress is not None or max_distress is not None:
                bounds["distress"] = (min_distress, max_distress)
            query = CallQuery(
                agent_id=agent_id, since_ms=since_ms, until_ms=until_ms, status=status,
                bounds=bounds, limit=limit, offset=offset,
            )  # fmt: skip
        return self._page(query, with_total=True)

    def iter_calls(
        self, query: CallQuery, *, max_rows: int, page: int = MAX_PAGE
    ) -> Iterator[CallSummary]:
        """Every call matching ``query`` from ``query.offset`` on, at most ``max_rows``,
        fetched ``page`` at a time (the CSV export)."""
        offset, left = query.offset, max_rows
        while left > 0:
            got = self._page(
                replace(query, limit=min(page, left), offset=offset), with_total=False
            ).calls
            yield from got
            if len(got) < min(page, left):
                return
            offset += len(got)
            left -= len(got)

    def search_method(self) -> str:
        """How this database searches transcripts: ``fts5``, ``tsvector`` or ``like``."""
        if self._search_method is None:
            with self.engine.connect() as conn:
                self._search_method = search.method(conn)
        return self._search_method

    def _page(self, q: CallQuery, *, with_total: bool) -> CallPage:
        limit = max(1, min(int(q.limit), MAX_PAGE))
        offset = max(0, int(q.offset))
        c, e = schema.calls, schema.empathy
        conds = conditions(q, self.search_method())
        query = (
            sa.select(*_SUMMARY_COLUMNS)
            .select_from(c.outerjoin(e, e.c.call_id == c.c.id))
            .where(*conds)
            .order_by(*order_by(q))
            .limit(limit)
            .offset(offset)
        )
        count = sa.select(sa.func.count()).select_from(c).where(*conds)
        with self.engine.connect() as conn:
            total = int(conn.execute(count).scalar_one()) if with_total else -1
            rows = conn.execute(query).all()
            matches = self._matches(conn, q, [str(r.id) for r in rows]) if q.search else {}
        out = []
        for row in rows:
            try:
                summary = _summary(row)
            except CorruptCallError as exc:
                log.error("%s", exc)
                summary = _damaged_summary(row, exc)
            match = matches.get(summary.call_id)
            out.append(replace(summary, match=match) if match else summary)
        return CallPage(out, total, limit, offset)

    def _matches(
        self, conn: sa.Connection, q: CallQuery, call_ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """The first utterance of each call that matches the search's first term."""
        if not call_ids or not q.search:
            return {}
        term = search.parse_query(q.search)[0]
        hits = search.utterances_matching(term, self.search_method()).subquery()
        u = schema.utterances
        rows = conn.execute(
            sa.select(u.c.call_id, u.c.channel, u.c.start_ms, u.c.text)
            .where(u.c.id.in_(sa.select(hits.c.id)), u.c.call_id.in_(call_ids))
            .order_by(u.c.call_id, u.c.start_ms)
        ).all()
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r.call_id not in out:
                out[str(r.call_id)] = {
                    "channel": r.channel, "start_ms": _int(r.start_ms, "start_ms", r.call_id),
                    "text": r.text,
                }  # fmt: skip
        return out

    # -- scorecards ---------------------------------------------------------------------------

    def agents(
        self, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[scorecard.AgentFigures]:
        """Every agent's figures over the calls started in ``[since_ms, until_ms)``."""
        return scorecard.agents(self.engine, since_ms=since_ms, until_ms=until_ms)

    def agent_scorecard(
        self, agent_id: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> scorecard.Scorecard:
        """One agent's figures over the period, with a trend by week."""
        return scorecard.agent(self.engine, agent_id, since_ms=since_ms, until_ms=until_ms)

    # -- one call -----------------------------------------------------------------------------

    def get_call(self, call_id: str) -> CallSummary:
        """The call's summary row.

        Raises
        ------
        CallNotFoundError
            No such call (or an id that could not be one).
        CorruptCallError
            The row is damaged.
        """
        self._check_id(call_id)
        c, e = schema.calls, schema.empathy
        query = (
            sa.select(*_SUMMARY_COLUMNS)
            .select_from(c.outerjoin(e, e.c.call_id == c.c.id))
            .where(c.c.id == call_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise CallNotFoundError(f"no stored call {call_id!r}")
        return _summary(row)

    def _check_id(self, call_id: str) -> None:
        try:
            validate_call_id(call_id)
        except StoreError as exc:
            raise CallNotFoundError(f"no stored call {call_id!r}") from exc

    def transcript(self, call_id: str, *, words: bool = True) -> list[dict[str, Any]]:
        """Final utterances of both legs ordered by start time."""
        u = schema.utterances
        cols = [u.c.utterance_id, u.c.channel, u.c.start_ms, u.c.end_ms, u.c.text]
        if words:
            cols.append(u.c.words)
        query = sa.select(*cols).where(u.c.call_id == call_id).order_by(u.c.start_ms, u.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for r in rows:
            item: dict[str, Any] = {
                "utterance_id": r.utterance_id,
                "channel": r.channel,
                "start_ms": _int(r.start_ms, "utterance start_ms", call_id),
                "end_ms": _int(r.end_ms, "utterance end_ms", call_id),
                "text": r.text,
            }
            if words:
                item["words"] = _json(r.words, "utterance words", call_id)
            out.append(item)
        return out

    def timeline(self, call_id: str) -> dict[str, list[Any]]:
        """The downsampled timeline as columns (``t_ms``, distress, level, pitch, loudness)."""
        t = schema.timeline
        names = ["t_ms", "distress", "level", "customer_pitch_st", "customer_loudness_db",
                 "agent_pitch_st", "agent_loudness_db"]  # fmt: skip
        query = sa.select(*(t.c[n] for n in names)).where(t.c.call_id == call_id).order_by(t.c.t_ms)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        cols: dict[str, list[Any]] = {n: [] for n in names}
        for r in rows:
            cols["t_ms"].append(_int(r.t_ms, "timeline t_ms", call_id))
            cols["level"].append(r.level)
            for n in names[1:]:
                if n != "level":
                    cols[n].append(_opt_float(getattr(r, n), f"timeline {n}", call_id))
        return cols

    def episodes(self, call_id: str) -> list[dict[str, Any]]:
        e = schema.episodes
        query = sa.select(e).where(e.c.call_id == call_id).order_by(e.c.start_ms)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "episode_id": r.episode_id,
                "start_ms": _int(r.start_ms, "episode start_ms", call_id),
                "end_ms": _opt_int(r.end_ms, "episode end_ms", call_id),
                "peak": _opt_float(r.peak, "episode peak", call_id),
                "cause": _json(r.cause, "episode cause", call_id),
            }
            for r in rows
        ]

    def prompts(self, call_id: str) -> list[dict[str, Any]]:
        """Prompts with their outcome: ``followed`` and ``response_ms`` (prompt -> followed)."""
        p = schema.prompts
        query = sa.select(p).where(p.c.call_id == call_id).order_by(p.c.t_ms)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for r in rows:
            t_ms = _int(r.t_ms, "prompt t_ms", call_id)
            ack_ms = _opt_int(r.ack_ms, "prompt ack_ms", call_id)
            cleared_ms = _opt_int(r.cleared_ms, "prompt cleared_ms", call_id)
            followed_at = [
                ms
                for ms, ok in (
                    (ack_ms, r.ack_action == "followed"),
                    (cleared_ms, r.clear_reason == "followed"),
                )
                if ok and ms is not None
            ]
            out.append({
                "prompt_id": r.prompt_id, "t_ms": t_ms, "kind": r.kind, "severity": r.severity,
                "text": r.text, "suggested_phrase": r.suggested_phrase,
                "evidence": _json(r.evidence, "prompt evidence", call_id),
                "ttl_ms": _int(r.ttl_ms, "prompt ttl_ms", call_id), "episode_id": r.episode_id,
                "shown_ms": _opt_int(r.shown_ms, "prompt shown_ms", call_id),
                "ack_action": r.ack_action, "ack_ms": ack_ms,
                "cleared_ms": cleared_ms, "clear_reason": r.clear_reason,
                "followed": bool(followed_at),
                "response_ms": (min(followed_at) - t_ms) if followed_at else None,
            })  # fmt: skip
        return out

    def empathy(self, call_id: str) -> dict[str, Any] | None:
        e = schema.empathy
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(e).where(e.c.call_id == call_id)).first()
        if r is None:
            return None
        latencies = _json(r.ack_latency_ms, "empathy ack_latency_ms", call_id)
        if not isinstance(latencies, list):
            raise CorruptCallError(f"stored call {call_id}: empathy ack_latency_ms is not a list")
        return {
            "t_ms": _int(r.t_ms, "empathy t_ms", call_id),
            "episodes": _int(r.episodes, "empathy episodes", call_id),
            "acknowledged": _int(r.acknowledged, "empathy acknowledged", call_id),
            "ack_latency_ms": [_int(v, "empathy ack latency", call_id) for v in latencies],
        }

    def waveform(self, call_id: str) -> Waveform:
        """Both legs' peaks, gaps (chunks lost to a crash) filled with zeros."""
        w = schema.waveform
        query = sa.select(w).where(w.c.call_id == call_id).order_by(w.c.chunk_no)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return Waveform(WAVE_HOP_MS, np.zeros(0, np.float32), np.zeros(0, np.float32))
        hop_ms = _int(rows[0].hop_ms, "waveform hop_ms", call_id)
        last = rows[-1]
        n = _int(last.chunk_no, "waveform chunk_no", call_id) * WAVE_CHUNK_HOPS + len(last.customer)
        legs = {"customer": np.zeros(n, np.uint8), "agent": np.zeros(n, np.uint8)}
        for r in rows:
            start = _int(r.chunk_no, "waveform chunk_no", call_id) * WAVE_CHUNK_HOPS
            for leg in legs:
                data = getattr(r, leg)
                if not isinstance(data, bytes | memoryview):
                    raise CorruptCallError(f"stored call {call_id}: waveform row is not binary")
                arr = np.frombuffer(bytes(data), np.uint8)[: n - start]
                legs[leg][start : start + len(arr)] = arr
        return Waveform(
            hop_ms,
            legs["customer"].astype(np.float32) / 255.0,
            legs["agent"].astype(np.float32) / 255.0,
        )

    def events_page(
        self,
        call_id: str,
        *,
        after_seq: int = 0,
        start_ms: int = 0,
        types: Sequence[str] | None = None,
        limit: int = 2000,
    ) -> EventsPage:
        """Stored wire messages with ``seq > after_seq`` in ``seq`` order, ``limit`` rows a page.

        Damaged rows are skipped (and logged); each message carries its stored ``seq``.
        """
        ev_t = schema.events
        query = (
            sa.select(ev_t.c.seq, ev_t.c.body)
            .where(ev_t.c.call_id == call_id, ev_t.c.seq > after_seq, ev_t.c.t_ms >= start_ms)
            .order_by(ev_t.c.seq)
            .limit(limit)
        )
        if types:
            query = query.where(ev_t.c.type.in_(list(types)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for r in rows:
            try:
                body = json.loads(r.body)
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except (TypeError, ValueError):
                log.warning("stored call %s: event seq %s is damaged; skipped", call_id, r.seq)
                continue
            body["seq"] = int(r.seq)
            out.append(body)
        last = int(rows[-1].seq) if rows else after_seq
        return EventsPage(out, last, more=len(rows) == limit)

    def iter_events(
        self,
        call_id: str,
        *,
        start_ms: int = 0,
        types: Sequence[str] | None = None,
        page: int = 2000,
    ) -> Iterator[dict[str, Any]]:
        """All stored wire messages of the call in ``seq`` order (damaged rows skipped)."""
        after = 0
        while True:
            got = self.events_page(
                call_id, after_seq=after, start_ms=start_ms, types=types, limit=page
            )
            yield from got.messages
            after = got.last_seq
            if not got.more:
                return

    def audio_path(self, call_id: str) -> Path:
        """The finished FLAC of the call.

        Raises
        ------
        CallNotFoundError
            No such call.
        AudioArchiveError
            No audio was archived (``audio_missing``), it was deleted by retention
            (``audio_deleted``), the call is still being recorded
            (``audio_live``) or the file is damaged (``audio_damaged``).
        """
        summary = self.get_call(call_id)
        path = self.audio_dir / f"{call_id}.flac"
        if summary.audio_state == "deleted":
            raise AudioArchiveError(
                f"the audio of call {call_id} was deleted (store.audio_retention_days)",
                code="audio_deleted",
            )
        if summary.audio_state == "none" or (summary.audio_state != "recording"
                                             and not path.exists()):  # fmt: skip
            raise AudioArchiveError(
                f"no audio is archived for call {call_id}", code="audio_missing"
            )
        if summary.audio_state == "recording":
            if summary.status == "live":
                raise AudioArchiveError(
                    f"call {call_id} is still being recorded; its audio is available when it ends",
                    code="audio_live",
                )
            raise AudioArchiveError(
                f"the audio of interrupted call {call_id} has not been recovered yet",
                code="audio_live",
            )
        if summary.audio_state == "damaged":
            raise AudioArchiveError(f"the audio archive of call {call_id} is damaged")
        audio_info(path)
        return path
