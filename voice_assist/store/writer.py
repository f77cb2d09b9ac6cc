"""The store's single writer thread: queue items in, rows and audio frames out.

Each loop takes a batch from the :class:`~voice_assist.store.queue.WriteQueue`, turns
it into pending statements (and audio frames, written at once), and commits the
statements in one transaction, so a committed batch is at most a few milliseconds
behind the call.  If a batch fails (a locked or full disk), its statements are retried
one by one and the failing ones are logged and counted, never retried forever.

Per call the writer keeps a small state: the timeline buckets still open, which
utterances/prompts/episodes already have rows, the audio archive, and the figures that
go on the ``calls`` row (duration, max distress, heartbeat), which is updated every
``HEARTBEAT_S``.  A ``live`` row whose heartbeat is older than ``store.live_stale_s``
belongs to a process that died: see :func:`mark_stale_calls`.

Several processes may share one database (workers of one site), so nothing here checks
first and writes after: a call's row is claimed by one conflict-ignoring insert, stale
calls by one ``UPDATE ... RETURNING``, and heartbeats carry the database's clock
(:func:`db_now_ms`), which every worker reads the same however skewed its own.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from voice_assist import events as ev
from voice_assist.store import schema
from voice_assist.store.archive import (
    SAMPLE_RATE_HZ,
    WAVE_HOP_MS,
    ArchiveWriter,
    AudioArchiveError,
    WaveChunk,
    repair_flac,
    wave_chunks_from_file,
)
from voice_assist.store.queue import (
    AudioItem,
    Barrier,
    CloseCall,
    EventItem,
    Item,
    OpenCall,
    RepairAudio,
    WriteQueue,
)
from voice_assist.store.retention import RetentionPolicy
from voice_assist.store.retention import sweep as retention_sweep
from voice_assist.store.summary import summary_update
from voice_assist.wire import to_wire

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
SWEEP_INTERVAL_S = 30.0
"""Longest interval between sweeps for calls left live by a dead process."""
BATCH_MAX_ITEMS = 1000
TIMELINE_WINDOW_MS = 2000
"""Timeline buckets stay open this long (media time) for a lagging leg's frames."""

PITCH_KEYS = ("f0_st", "pitch_st", "f0_semitones", "pitch_semitones", "f0")
LOUDNESS_KEYS = ("loudness_db", "loudness", "rms_db", "energy_db")


def now_ms() -> int:
    return int(time.time() * 1000)


_DB_NOW_MS = {
    "postgresql": "((extract(epoch from clock_timestamp()) * 1000)::bigint)",
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
}


def db_now_ms(dialect: sa.Dialect) -> sa.ColumnElement[int]:
    """The database server's wall clock in epoch ms, as a SQL expression.

    Heartbeats and the staleness cutoff compare times written by different workers; on
    one clock (the database's) a worker whose own clock is skewed neither looks dead
    to the others nor declares their calls dead.  Other dialects get this process's
    time as a bound value.
    """
    sql = _DB_NOW_MS.get(dialect.name)
    if sql is None:
        return sa.literal(now_ms(), sa.BigInteger)
    return sa.literal_column(sql, sa.BigInteger)


def dumps(value: Any) -> str:
    """JSON text for a column (events go through :func:`voice_assist.wire.to_wire` first)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def feature(features: Mapping[str, float], keys: Iterable[str]) -> float | None:
    for key in keys:
        value = features.get(key)
        if value is not None:
            value = float(value)
            return value if math.isfinite(value) else None
    return None


# -- pending statements ------------------------------------------------------------------------


@dataclass(slots=True)
class _Insert:
    table: sa.Table
    row: dict[str, Any]


@dataclass(slots=True)
class _Exec:
    stmt: sa.Executable


_Op = _Insert | _Exec


class _Ops:
    """Statements a batch will run, in order."""

    def __init__(self) -> None:
        self.items: list[_Op] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def insert(self, table: sa.Table, row: dict[str, Any]) -> None:
        self.items.append(_Insert(table, row))

    def execute(self, stmt: sa.Executable) -> None:
        self.items.append(_Exec(stmt))


def _run_ops(conn: sa.Connection, ops: list[_Op]) -> None:
    """Execute ``ops`` in order; consecutive inserts into one table go as one executemany."""
    i = 0
    while i < len(ops):
        op = ops[i]
        if isinstance(op, _Insert):
            rows = [op.row]
            j = i + 1
            while j < len(ops):
                nxt = ops[j]
                if not (isinstance(nxt, _Insert) and nxt.table is op.table):
                    break
                rows.append(nxt.row)
                j += 1
            conn.execute(op.table.insert(), rows)
            i = j
        else:
            conn.execute(op.stmt)
            i += 1


# -- per-call state ------------------------------------------------------------------------------

_MEAN_FIELDS = {
    ("customer", "pitch"): "customer_pitch_st",
    ("customer", "loudness"): "customer_loudness_db",
    ("agent", "pitch"): "agent_pitch_st",
    ("agent", "loudness"): "agent_loudness_db",
}


@dataclass(slots=True)
class _Bucket:
    sums: dict[str, list[float]] = field(default_factory=dict)
    distress: float | None = None
    level: str | None = None

    def add_mean(self, name: str, value: float) -> None:
        acc = self.sums.setdefault(name, [0.0, 0.0])
        acc[0] += value
        acc[1] += 1.0

    def add_distress(self, score: float, level: str) -> None:
        if self.distress is None or score >= self.distress:
            self.distress, self.level = score, level

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(_MEAN_FIELDS.values())
        for name, (total, count) in self.sums.items():
            out[name] = total / count
        out["distress"] = self.distress
        out["level"] = self.level
        return out


class _Timeline:
    """Downsamples prosody frames and distress updates into ``hop_ms`` buckets."""

    def __init__(self, call_id: str, hop_ms: int) -> None:
        self.call_id = call_id
        self.hop_ms = max(1, hop_ms)
        self.window = max(1, TIMELINE_WINDOW_MS // self.hop_ms)
        self.open: dict[int, _Bucket] = {}
        self.flushed: dict[int, float | None] = {}  # bucket -> distress written
        self.newest = -1

    def _bucket(self, t_ms: int) -> tuple[int, _Bucket]:
        b = max(0, t_ms) // self.hop_ms
        self.newest = max(self.newest, b)
        return b, self.open.setdefault(b, _Bucket())

    def add_prosody(self, frame: ev.ProsodyFrame, ops: _Ops) -> None:
        values = {
            "pitch": feature(frame.features, PITCH_KEYS) if frame.voiced else None,
            "loudness": feature(frame.features, LOUDNESS_KEYS),
        }
        b = max(0, frame.t_ms) // self.hop_ms
        if b in self.flushed:  # late frame of a lagging leg: patch the row
            cols = {_MEAN_FIELDS[(frame.channel, k)]: v for k, v in values.items() if v is not None}
            if cols:
                ops.execute(self._update(b).values(**cols))
            return
        _, bucket = self._bucket(frame.t_ms)
        for kind, value in values.items():
            if value is not None:
                bucket.add_mean(_MEAN_FIELDS[(frame.channel, kind)], value)

    def add_distress(self, update: ev.DistressUpdate, ops: _Ops) -> None:
        b = max(0, update.t_ms) // self.hop_ms
        if b in self.flushed:
            old = self.flushed[b]
            if old is None or update.score > old:
                self.flushed[b] = update.score
                ops.execute(self._update(b).values(distress=update.score, level=update.level))
            return
        _, bucket = self._bucket(update.t_ms)
        bucket.add_distress(update.score, update.level)

    def _update(self, b: int) -> sa.Update:
        t = schema.timeline
        return sa.update(t).where(t.c.call_id == self.call_id, t.c.t_ms == b * self.hop_ms)

    def take(self, ops: _Ops, *, final: bool = False) -> None:
        """Write the buckets older than the open window (all of them when ``final``)."""
        limit = self.newest + 1 if final else self.newest - self.window
        for b in sorted(k for k in self.open if k < limit):
            bucket = self.open.pop(b)
            ops.insert(
                schema.timeline, {"call_id": self.call_id, "t_ms": b * self.hop_ms, **bucket.row()}
            )
            self.flushed[b] = bucket.distress


@dataclass(slots=True)
class _CallState:
    call_id: str
    timeline: _Timeline
    archive: ArchiveWriter
    utterances: set[tuple[str, str]] = field(default_factory=set)
    prompts: set[str] = field(default_factory=set)
    episodes: set[str] = field(default_factory=set)
    has_empathy: bool = False
    max_distress: float | None = None
    last_t_ms: int = 0
    ended_duration_ms: int | None = None
    last_row_update: float = 0.0
    audio_failed: bool = False
    failed: bool = False

    def duration_ms(self) -> int:
        audio_ms = self.archive.frames_written * 1000 // SAMPLE_RATE_HZ
        return max(self.last_t_ms, audio_ms, self.ended_duration_ms or 0)

    def audio_state(self) -> str:
        if self.audio_failed:
            return "damaged"
        if self.archive.frames_written == 0:
            return "none"
        return "final" if self.archive.closed else "recording"


# -- the writer --------------------------------------------------------------------------------


class StoreWriter:
    """Owns the write connection and the audio files; runs in one daemon thread."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        audio_dir: Path,
        queue_max_items: int,
        timeline_hz: float,
        live_stale_s: float,
        retention: RetentionPolicy | None = None,
        retention_interval_s: float = 3600.0,
    ) -> None:
        self.engine = engine
        self.audio_dir = audio_dir
        self.queue = WriteQueue(queue_max_items)
        self.timeline_hop_ms = max(1, round(1000.0 / timeline_hz)) if timeline_hz > 0 else 250
        self.live_stale_s = live_stale_s
        self.sweep_interval_s = max(1.0, min(SWEEP_INTERVAL_S, live_stale_s))
        self.failed_statements = 0
        self._calls: dict[str, _CallState] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()
        self.retention = retention if retention is not None and retention.enabled else None
        self.retention_interval_s = retention_interval_s
        self._last_retention = time.monotonic()  # the start-up sweep is Store.recover's

    # -- thread control ---------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="voice-assist-store-writer", daemon=True
                )
                self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def put(self, item: Item, *, essential: bool, block: bool = False) -> bool:
        """Queue an item for the writer thread (see :class:`WriteQueue` for the policy)."""
        return self.queue.put(item, essential=essential, block=block)

    def flush(self, timeout_s: float | None = 30.0) -> bool:
        """Wait until everything queued before this call is committed."""
        if not self.running:
            return True
        barrier = Barrier()
        if not self.queue.put(barrier, essential=True, block=True, timeout_s=timeout_s):
            return False
        return barrier.done.wait(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Drain the queue, mark calls still open as interrupted, end the thread."""
        thread = self._thread
        if thread is None:
            return
        self.queue.close()
        thread.join(timeout_s)
        if thread.is_alive():
            log.error(
                "store writer did not finish within %.0f s; some rows may be missing", timeout_s
            )

    # -- loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self.queue.get_batch(BATCH_MAX_ITEMS, timeout_s=0.5)
            if batch is None:  # closed and drained: what is still open was interrupted
                batch = [
                    CloseCall(cid, "the store was closed during the call", "interrupted", 0, 0)
                    for cid in self._calls
                ]
                if batch:
                    try:
                        self._process(batch)
                    except Exception:
                        log.exception("store writer: closing open calls failed")
                break
            try:
                self._process(batch)
            except Exception:  # the writer must outlive any one bad batch
                log.exception("store writer: a batch of %d items failed", len(batch))
                for item in batch:
                    if isinstance(item, Barrier):
                        item.done.set()

    def _process(self, batch: list[Item]) -> None:
        ops = _Ops()
        barriers: list[Barrier] = []
        repairs: list[str] = []
        for item in batch:
            if isinstance(item, Barrier):
                barriers.append(item)
            elif isinstance(item, RepairAudio):
                repairs.append(item.call_id)
            elif isinstance(item, OpenCall):
                self._open(item, ops)
            else:
                st = self._calls.get(item.call_id)
                if st is None:
                    continue
                if st.failed:
                    if isinstance(item, CloseCall):
                        del self._calls[item.call_id]
                    continue
                if isinstance(item, AudioItem):
                    self._audio(st, item)
                elif isinstance(item, EventItem):
                    self._event(st, item, ops)
                elif isinstance(item, CloseCall):
                    self._close(st, item, ops)
        self._periodic(ops, force=bool(barriers))
        self._commit(ops)
        for call_id in repairs:
            self._repair(call_id)
        if time.monotonic() - self._last_sweep > self.sweep_interval_s:
            self._last_sweep = time.monotonic()
            self._sweep()
        if (
            self.retention is not None
            and time.monotonic() - self._last_retention >= self.retention_interval_s
        ):
            self._last_retention = time.monotonic()
            self._retention_sweep()
        for b in barriers:
            b.done.set()

    def _commit(self, ops: _Ops) -> None:
        if not ops:
            return
        try:
            with self.engine.begin() as conn:
                _run_ops(conn, ops.items)
            return
        except sa.exc.SQLAlchemyError as exc:
            log.warning(
                "store: batch of %d statements failed (%s); retrying one by one",
                len(ops),
                exc.__class__.__name__,
            )
        failed = 0
        for op in ops.items:
            try:
                with self.engine.begin() as conn:
                    _run_ops(conn, [op])
            except sa.exc.SQLAlchemyError as exc:
                failed += 1
                if failed <= 3:
                    log.error("store: statement failed and was dropped: %s", exc)
        self.failed_statements += failed
        if failed:
            log.error("store: %d of %d statements dropped", failed, len(ops))

    # -- items -----------------------------------------------------------------------------

    def _open(self, item: OpenCall, ops: _Ops) -> None:
        self._commit(ops)  # rows for earlier calls first, so ops stay in order
        ops.items.clear()
        st = _CallState(
            call_id=item.call_id,
            timeline=_Timeline(item.call_id, self.timeline_hop_ms),
            archive=ArchiveWriter(self.audio_dir / f"{item.call_id}.flac"),
            last_row_update=time.monotonic(),
        )
        row = {
            "id": item.call_id,
            "agent_id": item.agent_id,
            "source": item.source,
            "started_at_ms": item.started_at_ms,
            "duration_ms": 0,
            "status": "live",
            "meta": dumps(item.meta),
            "audio_state": "none",
            "audio_frames": 0,
            "heartbeat_at_ms": db_now_ms(self.engine.dialect),
            "dropped_items": 0,
            "dropped_audio_ms": 0,
        }
        try:
            inserted = insert_call(self.engine, row)
        except sa.exc.SQLAlchemyError as exc:
            log.error("store: cannot record call %s: %s", item.call_id, exc)
            st.failed = True
        else:
            if not inserted:
                log.error(
                    "store: call id %s is already stored (another process or an earlier "
                    "call); this call is not recorded",
                    item.call_id,
                )
                st.failed = True
        # a failed call's items are dropped in _process before they reach st.archive, so
        # the FLAC of the call stored under this id is never opened (or truncated) here
        self._calls[item.call_id] = st

    def _audio(self, st: _CallState, item: AudioItem) -> None:
        if st.audio_failed:
            return
        try:
            st.archive.add(item.channel, item.samples, gap_samples=item.gap_samples)
        except (OSError, RuntimeError, AudioArchiveError) as exc:
            st.audio_failed = True
            log.error("store: audio archive of call %s failed: %s", st.call_id, exc)

    def _event(self, st: _CallState, item: EventItem, ops: _Ops) -> None:
        e = item.event
        st.last_t_ms = max(st.last_t_ms, e.t_ms)
        if isinstance(e, ev.ProsodyFrame):
            st.timeline.add_prosody(e, ops)
            return
        body = to_wire(e, seq=item.seq)
        ops.insert(
            schema.events,
            {
                "call_id": st.call_id,
                "seq": item.seq,
                "t_ms": e.t_ms,
                "type": body["type"],
                "body": dumps(body),
            },
        )
        handler = _ROW_HANDLERS.get(type(e))
        if handler is not None:
            handler(self, st, e, body, ops)

    # -- one handler per event type with rows of its own beyond ``events`` ----------------

    def _on_transcript(
        self, st: _CallState, e: ev.TranscriptEvent, body: dict[str, Any], ops: _Ops
    ) -> None:
        if e.is_final:
            self._utterance(st, e, body, ops)

    def _on_distress(
        self, st: _CallState, e: ev.DistressUpdate, body: dict[str, Any], ops: _Ops
    ) -> None:
        st.timeline.add_distress(e, ops)
        if math.isfinite(e.score) and (st.max_distress is None or e.score > st.max_distress):
            st.max_distress = e.score

    def _on_episode(
        self, st: _CallState, e: ev.DistressEpisode, body: dict[str, Any], ops: _Ops
    ) -> None:
        t = schema.episodes
        cid = st.call_id
        cause = dumps(list(e.cause))
        if e.episode_id not in st.episodes:
            st.episodes.add(e.episode_id)
            ops.insert(t, {
                "call_id": cid, "episode_id": e.episode_id, "start_ms": e.t_ms,
                "end_ms": e.t_ms if e.state == "end" else None, "peak": e.peak,
                "cause": cause,
            })  # fmt: skip
            return
        values: dict[str, Any] = {"peak": e.peak, "cause": cause}
        if e.state == "end":
            values["end_ms"] = e.t_ms
        ops.execute(
            sa.update(t).where(t.c.call_id == cid, t.c.episode_id == e.episode_id).values(**values)
        )

    def _on_prompt(self, st: _CallState, e: ev.Prompt, body: dict[str, Any], ops: _Ops) -> None:
        if e.prompt_id in st.prompts:
            return
        st.prompts.add(e.prompt_id)
        ops.insert(schema.prompts, {
            "call_id": st.call_id, "prompt_id": e.prompt_id, "t_ms": e.t_ms, "kind": e.kind,
            "severity": e.severity, "text": e.text, "suggested_phrase": e.suggested_phrase,
            "evidence": dumps(body.get("evidence", {})), "ttl_ms": e.ttl_ms,
            "episode_id": e.episode_id,
        })  # fmt: skip

    def _on_prompt_ack(
        self, st: _CallState, e: ev.PromptAck, body: dict[str, Any], ops: _Ops
    ) -> None:
        t = schema.prompts
        where = sa.update(t).where(t.c.call_id == st.call_id, t.c.prompt_id == e.prompt_id)
        if e.action == "shown":
            ops.execute(where.where(t.c.shown_ms.is_(None)).values(shown_ms=e.t_ms))
        else:
            ops.execute(
                where.where(t.c.ack_ms.is_(None)).values(ack_action=e.action, ack_ms=e.t_ms)
            )

    def _on_prompt_clear(
        self, st: _CallState, e: ev.PromptClear, body: dict[str, Any], ops: _Ops
    ) -> None:
        t = schema.prompts
        ops.execute(
            sa.update(t)
            .where(
                t.c.call_id == st.call_id, t.c.prompt_id == e.prompt_id, t.c.cleared_ms.is_(None)
            )
            .values(cleared_ms=e.t_ms, clear_reason=e.reason)
        )

    def _on_empathy(
        self, st: _CallState, e: ev.EmpathyScore, body: dict[str, Any], ops: _Ops
    ) -> None:
        t = schema.empathy
        values = {
            "t_ms": e.t_ms,
            "episodes": e.episodes,
            "acknowledged": e.acknowledged,
            "ack_latency_ms": dumps(list(e.ack_latency_ms)),
        }
        if st.has_empathy:
            ops.execute(sa.update(t).where(t.c.call_id == st.call_id).values(**values))
        else:
            st.has_empathy = True
            ops.insert(t, {"call_id": st.call_id, **values})

    def _on_call_ended(
        self, st: _CallState, e: ev.CallEnded, body: dict[str, Any], ops: _Ops
    ) -> None:
        st.ended_duration_ms = e.duration_ms

    def _utterance(
        self, st: _CallState, e: ev.TranscriptEvent, body: dict[str, Any], ops: _Ops
    ) -> None:
        key = (e.channel, e.utterance_id)
        values = {
            "start_ms": e.start_ms,
            "end_ms": e.end_ms,
            "text": e.text,
            "words": dumps(body.get("words", [])),
        }
        t = schema.utterances
        if key in st.utterances:  # a corrected final replaces the earlier one
            ops.execute(
                sa.update(t)
                .where(t.c.call_id == st.call_id, t.c.channel == e.channel,
                       t.c.utterance_id == e.utterance_id)
                .values(**values)
            )  # fmt: skip
        else:
            st.utterances.add(key)
            ops.insert(
                t, {"call_id": st.call_id, "utterance_id": e.utterance_id, "channel": e.channel,
                    **values}
            )  # fmt: skip

    def _close(self, st: _CallState, item: CloseCall, ops: _Ops) -> None:
        if not st.audio_failed:
            try:
                st.archive.finish()
            except (OSError, RuntimeError) as exc:
                st.audio_failed = True
                log.error("store: closing the audio archive of %s failed: %s", st.call_id, exc)
        self._wave_chunks(st, ops, final=True)
        st.timeline.take(ops, final=True)
        c = schema.calls
        dropped_audio_ms = item.dropped_audio_samples * 1000 // SAMPLE_RATE_HZ
        ops.execute(
            sa.update(c)
            .where(c.c.id == st.call_id)
            .values(
                status=item.status,
                end_reason=item.reason,
                ended_at_ms=now_ms(),
                duration_ms=st.duration_ms(),
                max_distress=st.max_distress,
                audio_state=st.audio_state(),
                audio_frames=st.archive.frames_written,
                heartbeat_at_ms=db_now_ms(self.engine.dialect),
                dropped_items=item.dropped_items,
                dropped_audio_ms=dropped_audio_ms,
            )
        )
        ops.execute(summary_update(st.call_id))  # after this call's last rows, same batch
        if item.dropped_items or item.dropped_audio_samples:
            log.warning(
                "store: call %s lost %d events and %d ms of audio to a full write queue",
                st.call_id, item.dropped_items, dropped_audio_ms,
            )  # fmt: skip
        del self._calls[st.call_id]

    def _wave_chunks(self, st: _CallState, ops: _Ops, *, final: bool = False) -> None:
        if st.audio_failed:
            return
        for chunk in st.archive.take_wave_chunks(final=final):
            ops.insert(schema.waveform, {
                "call_id": st.call_id, "chunk_no": chunk.chunk_no, "hop_ms": WAVE_HOP_MS,
                "customer": chunk.customer, "agent": chunk.agent,
            })  # fmt: skip

    def _periodic(self, ops: _Ops, *, force: bool) -> None:
        """Timeline buckets past the window; every HEARTBEAT_S the call row and audio flush."""
        now = time.monotonic()
        c = schema.calls
        for st in self._calls.values():
            if st.failed:
                continue
            st.timeline.take(ops)
            if not force and now - st.last_row_update < HEARTBEAT_S:
                continue
            st.last_row_update = now
            if not st.audio_failed:
                try:
                    st.archive.flush()
                except (OSError, RuntimeError) as exc:
                    st.audio_failed = True
                    log.error("store: audio archive of call %s failed: %s", st.call_id, exc)
            self._wave_chunks(st, ops)
            ops.execute(
                sa.update(c)
                .where(c.c.id == st.call_id)
                .values(
                    duration_ms=st.duration_ms(),
                    max_distress=st.max_distress,
                    heartbeat_at_ms=db_now_ms(self.engine.dialect),
                    audio_state=st.audio_state(),
                    audio_frames=st.archive.frames_written,
                )
            )

    # -- recovery ---------------------------------------------------------------------------

    def _sweep(self) -> None:
        # a call refused here (failed) belongs to whoever stored its id: not excluded
        recording = {cid for cid, st in self._calls.items() if not st.failed}
        try:
            stale = mark_stale_calls(self.engine, stale_s=self.live_stale_s, exclude=recording)
        except sa.exc.SQLAlchemyError as exc:
            log.error("store: sweep for interrupted calls failed: %s", exc)
            return
        for call_id in stale:
            self._repair(call_id)

    def _retention_sweep(self) -> None:
        if self.retention is None:
            return
        try:
            retention_sweep(self.engine, self.audio_dir, self.retention, exclude=set(self._calls))
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            log.error("store: retention sweep failed: %s", exc)

    def _repair(self, call_id: str) -> None:
        path = self.audio_dir / f"{call_id}.flac"
        c = schema.calls
        if not path.exists():
            return
        chunks: list[WaveChunk] | None = None
        try:
            frames = repair_flac(path)
            chunks = wave_chunks_from_file(path)
            values: dict[str, Any] = {"audio_state": "final", "audio_frames": frames}
        except AudioArchiveError as exc:
            log.error("store: audio of interrupted call %s is lost: %s", call_id, exc)
            values = {"audio_state": "damaged"}
        w = schema.waveform
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.update(c).where(c.c.id == call_id).values(**values))
                if chunks:  # the last waveform chunk died with the process: rebuild them
                    conn.execute(sa.delete(w).where(w.c.call_id == call_id))
                    conn.execute(w.insert(), [
                        {"call_id": call_id, "chunk_no": ch.chunk_no, "hop_ms": WAVE_HOP_MS,
                         "customer": ch.customer, "agent": ch.agent}
                        for ch in chunks
                    ])  # fmt: skip
        except sa.exc.SQLAlchemyError as exc:
            log.error("store: cannot record the audio repair of %s: %s", call_id, exc)


RowHandler = Callable[[StoreWriter, _CallState, Any, dict[str, Any], _Ops], None]
_ROW_HANDLERS: dict[type, RowHandler] = {
    ev.TranscriptEvent: StoreWriter._on_transcript,
    ev.DistressUpdate: StoreWriter._on_distress,
    ev.DistressEpisode: StoreWriter._on_episode,
    ev.Prompt: StoreWriter._on_prompt,
    ev.PromptAck: StoreWriter._on_prompt_ack,
    ev.PromptClear: StoreWriter._on_prompt_clear,
    ev.EmpathyScore: StoreWriter._on_empathy,
    ev.CallEnded: StoreWriter._on_call_ended,
}
"""Event types that write rows of their own besides the ``events`` row every event gets."""


def insert_call(engine: sa.Engine, row: dict[str, Any]) -> bool:
    """Insert a ``calls`` row unless its id is taken; True when this insert made it.

    One statement that ignores an id conflict, so two processes opening the same id at
    once cannot both pass a check and then collide: the database picks one, and the
    other learns it from the row count (a checked SELECT then INSERT would hand the loser
    an IntegrityError instead).  Dialects without ``ON CONFLICT`` insert plainly and
    read an IntegrityError on a taken id as the same answer.
    """
    c = schema.calls
    name = engine.dialect.name
    if name in ("postgresql", "sqlite"):
        insert = postgresql.insert if name == "postgresql" else sqlite.insert
        stmt = (
            insert(c)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["id"])
            .execution_options(preserve_rowcount=True)  # else -1 for an INSERT (psycopg)
        )
        with engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1
    try:
        with engine.begin() as conn:
            conn.execute(c.insert().values(**row))
    except sa.exc.IntegrityError:
        with engine.connect() as conn:
            if conn.execute(sa.select(c.c.id).where(c.c.id == row["id"])).first() is None:
                raise  # some other constraint: not a collision
        return False
    return True


def mark_stale_calls(engine: sa.Engine, *, stale_s: float, exclude: set[str]) -> list[str]:
    """Mark ``live`` calls with a heartbeat older than ``stale_s`` as ``interrupted``.

    Returns their ids (their audio archives, if any, need :func:`repair_flac`).  The
    rows are claimed by the one UPDATE that changes them, so of two sweepers running at
    once (two workers starting) each id goes to exactly one, which alone repairs it.
    Staleness is judged on the database's clock, the one the heartbeats carry.
    """
    c = schema.calls
    where = [
        c.c.status == "live",
        c.c.heartbeat_at_ms <= db_now_ms(engine.dialect) - int(stale_s * 1000),
    ]
    if exclude:
        where.append(c.c.id.not_in(sorted(exclude)))
    with engine.begin() as conn:
        ids = _claim_stale(conn, where)
        if ids:
            conn.execute(summary_update(ids))
    if ids:
        log.warning("store: marked %d call(s) interrupted: %s", len(ids), ", ".join(ids))
    return ids


def _claim_stale(conn: sa.Connection, where: list[sa.ColumnElement[bool]]) -> list[str]:
    """Set the matching ``live`` calls ``interrupted``; return the ids this changed.

    Without ``UPDATE ... RETURNING`` (SQLite before 3.35) the rows are selected first,
    locked (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` writer already holds the
    database), and updated in the same transaction.
    """
    c = schema.calls
    values = {
        "status": "interrupted",
        "end_reason": "the process recording this call stopped before it ended",
        "ended_at_ms": c.c.heartbeat_at_ms,
    }
    if conn.dialect.update_returning:
        rows = conn.execute(sa.update(c).where(*where).values(**values).returning(c.c.id))
        return sorted(r.id for r in rows)
    ids = sorted(conn.execute(sa.select(c.c.id).where(*where).with_for_update()).scalars())
    if ids:
        conn.execute(sa.update(c).where(c.c.id.in_(ids), c.c.status == "live").values(**values))
    return ids
