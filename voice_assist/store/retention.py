"""Retention and deletion: a call's rows in every table and its FLAC, gone together.

Two ages (``store.retention_days`` and ``store.audio_retention_days``, 0 = keep for
ever), counted from the call's start (``started_at_ms``, indexed):

* a call older than ``retention_days`` is deleted whole: its rows in every per-call
  table (:data:`~voice_assist.store.schema.CALL_TABLES`), the ``calls`` row and the audio
  file.  Deleting ``utterances`` rows fires the FTS5 delete trigger on SQLite; on
  PostgreSQL the search vector is a column of the row itself, so the index follows.
* a call older than ``audio_retention_days`` keeps its rows but loses its FLAC and the
  waveform peaks made from it; its ``audio_state`` becomes ``deleted``, so the audio
  endpoint answers 404 ``audio_deleted``.

A ``live`` call is never touched (its rows are still being written); nor is one this
process is recording.  The sweep runs at start-up and in the writer thread every
``store.retention_sweep_interval_s``; :func:`delete_call` deletes one call on request.
Nothing is cached in memory by the readers, so a deleted call is gone for every reader
at the next query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from voice_assist.errors import CallLiveError, CallNotFoundError
from voice_assist.store import schema
from voice_assist.store.ids import InvalidCallIdError, validate_call_id

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
SWEEP_BATCH_CALLS = 200
"""Calls deleted per transaction, so a first sweep over years of calls keeps the writer
lock for short spells."""


@dataclass(frozen=True, slots=True)
class DeletedCall:
    """What deleting one call removed: rows per table, and the audio file."""

    call_id: str
    rows: dict[str, int]
    audio_file: str | None = None
    """The FLAC that was removed, relative to the data directory; None when there was none."""
    audio_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "deleted": True,
            "rows": dict(self.rows),
            "rows_total": sum(self.rows.values()),
            "audio_file": self.audio_file,
            "audio_bytes": self.audio_bytes,
        }


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """One sweep: the calls deleted whole, and those that lost only their audio."""

    deleted: tuple[DeletedCall, ...] = ()
    audio_deleted: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.deleted or self.audio_deleted)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long calls and their audio are kept; ``clock`` (epoch seconds) is injectable."""

    retention_days: float = 0.0
    audio_retention_days: float = 0.0
    clock: Callable[[], float] = field(default=time.time)

    @property
    def enabled(self) -> bool:
        return self.retention_days > 0 or self.audio_retention_days > 0

    def cutoffs_ms(self) -> tuple[int | None, int | None]:
        """Calls started before these epoch ms expire (whole, audio); None: kept for ever."""
        now_ms = int(self.clock() * 1000)
        calls = now_ms - int(self.retention_days * DAY_MS) if self.retention_days > 0 else None
        audio = (
            now_ms - int(self.audio_retention_days * DAY_MS)
            if self.audio_retention_days > 0
            else None
        )
        return calls, audio


def _audio_files(audio_dir: Path, call_id: str) -> list[Path]:
    """The call's FLAC and a repair's leftover temporary file, where they exist."""
    flac = audio_dir / f"{call_id}.flac"
    return [p for p in (flac, flac.with_name(flac.name + ".repair")) if p.exists()]


def _remove_audio(audio_dir: Path, call_id: str) -> tuple[str | None, int]:
    """Unlink the call's audio files; (the FLAC's path relative to the data dir, bytes)."""
    name: str | None = None
    total = 0
    for path in _audio_files(audio_dir, call_id):
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        total += size
        if path.suffix == ".flac":
            name = f"{audio_dir.name}/{path.name}"
    return name, total


def _delete_rows(conn: sa.Connection, call_id: str) -> dict[str, int]:
    rows: dict[str, int] = {}
    for table in schema.CALL_TABLES:  # the children first: no reliance on ON DELETE CASCADE
        result = conn.execute(sa.delete(table).where(table.c.call_id == call_id))
        rows[table.name] = max(0, result.rowcount)
    result = conn.execute(sa.delete(schema.calls).where(schema.calls.c.id == call_id))
    rows[schema.calls.name] = max(0, result.rowcount)
    return rows


def delete_call(
    engine: sa.Engine, audio_dir: Path, call_id: str, *, recording: Collection[str] = ()
) -> DeletedCall:
    """Delete one call everywhere: its rows in every table, then its audio file.

    ``recording`` holds the ids this process is recording now (refused like a live row).

    Raises
    ------
    CallNotFoundError
        No such call, or an id that could not be one.
    CallLiveError
        The call is live: being recorded here or, by its row, by another process.
    """
    try:
        validate_call_id(call_id)
    except InvalidCallIdError as exc:
        raise CallNotFoundError(f"no stored call {call_id!r}") from exc
    c = schema.calls
    with engine.begin() as conn:
        query = sa.select(c.c.status).where(c.c.id == call_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        status = conn.execute(query).scalar()
        if status is None:
            raise CallNotFoundError(f"no stored call {call_id!r}")
        if status == "live" or call_id in recording:
            raise CallLiveError(
                f"call {call_id} is live; it can be deleted once it has ended (a call whose "
                "process died is marked interrupted within store.live_stale_s)"
            )
        rows = _delete_rows(conn, call_id)
    audio_file, audio_bytes = _remove_audio(audio_dir, call_id)
    log.info(
        "store: deleted call %s (%d rows, %d audio bytes)",
        call_id, sum(rows.values()), audio_bytes,
    )  # fmt: skip
    return DeletedCall(call_id, rows, audio_file, audio_bytes)


def sweep(
    engine: sa.Engine,
    audio_dir: Path,
    policy: RetentionPolicy,
    *,
    exclude: Collection[str] = (),
) -> RetentionResult:
    """Delete the calls and the audio that ``policy`` says have expired (never live ones)."""
    calls_cutoff, audio_cutoff = policy.cutoffs_ms()
    deleted: list[DeletedCall] = []
    audio_deleted: list[str] = []
    c = schema.calls
    if calls_cutoff is not None:
        while True:
            with engine.begin() as conn:
                ids = [
                    r.id
                    for r in conn.execute(
                        sa.select(c.c.id)
                        .where(c.c.started_at_ms < calls_cutoff, c.c.status != "live")
                        .order_by(c.c.started_at_ms)
                        .limit(SWEEP_BATCH_CALLS + len(exclude))
                    )
                    if r.id not in exclude
                ][:SWEEP_BATCH_CALLS]
                batch = [(cid, _delete_rows(conn, cid)) for cid in ids]
            for cid, rows in batch:
                audio_file, audio_bytes = _remove_audio(audio_dir, cid)
                deleted.append(DeletedCall(cid, rows, audio_file, audio_bytes))
            if len(ids) < SWEEP_BATCH_CALLS:
                break
    if audio_cutoff is not None:
        w = schema.waveform
        with engine.begin() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    sa.select(c.c.id).where(
                        c.c.started_at_ms < audio_cutoff,
                        c.c.status != "live",
                        c.c.audio_state.in_(("final", "damaged", "recording")),
                    )
                )
                if r.id not in exclude
            ]
            if ids:
                conn.execute(sa.update(c).where(c.c.id.in_(ids)).values(audio_state="deleted"))
                conn.execute(sa.delete(w).where(w.c.call_id.in_(ids)))
        for cid in ids:
            _remove_audio(audio_dir, cid)
        audio_deleted = ids
    if deleted or audio_deleted:
        log.info(
            "store: retention deleted %d call(s) and the audio of %d more",
            len(deleted), len(audio_deleted),
        )  # fmt: skip
    return RetentionResult(tuple(deleted), tuple(audio_deleted))
