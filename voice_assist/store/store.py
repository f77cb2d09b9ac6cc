"""Store: the call store's front door (open, record, read, close)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from voice_assist.config import Settings, StoreOptions, load_settings
from voice_assist.errors import StoreError
from voice_assist.store import audit, schema
from voice_assist.store.database import (
    check_data_dir,
    describe_url,
    make_engine,
)
from voice_assist.store.database import (
    database_url as default_database_url,
)
from voice_assist.store.ids import new_call_id, validate_call_id
from voice_assist.store.migrations import migrate
from voice_assist.store.queue import OpenCall, RepairAudio
from voice_assist.store.reader import StoreReader
from voice_assist.store.recorder import CallRecorder
from voice_assist.store.retention import DeletedCall, RetentionPolicy, RetentionResult
from voice_assist.store.retention import delete_call as delete_call_everywhere
from voice_assist.store.retention import sweep as retention_sweep
from voice_assist.store.summary import summary_update
from voice_assist.store.writer import StoreWriter, mark_stale_calls

log = logging.getLogger(__name__)


class Store(StoreReader):
    """Calls, their events and timelines in a SQL database; their audio as FLAC files.

    Open with :meth:`open`.  Recording goes through :meth:`recorder` (non-blocking, one
    writer thread started on first use); reads (:meth:`list_calls`, :meth:`get_call`, ...)
    run on the caller's thread.  :meth:`close` flushes and stops the writer; calls still
    open at that point are marked ``interrupted``.  Usable from sync code and, through the
    non-blocking recorder, from the event loop; run the reads in a thread from async code.
    """

    def __init__(
        self,
        *,
        engine: sa.Engine,
        write_engine: sa.Engine,
        data_dir: Path,
        options: StoreOptions,
        url: str,
    ) -> None:
        super().__init__(engine, audio_dir=data_dir / "audio")
        self.data_dir = data_dir
        self.options = options
        self.url = url
        self._write_engine = write_engine
        self.retention = RetentionPolicy(
            retention_days=options.retention_days,
            audio_retention_days=options.audio_retention_days,
        )
        self._writer = StoreWriter(
            write_engine,
            audio_dir=self.audio_dir,
            queue_max_items=options.queue_max_items,
            timeline_hz=options.timeline_hz,
            live_stale_s=options.live_stale_s,
            retention=self.retention,
            retention_interval_s=options.retention_sweep_interval_s,
        )
        self._open_ids: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(
        cls,
        settings: Settings | StoreOptions | None = None,
        *,
        data_dir: str | Path | None = None,
        database_url: str | None = None,
        recover: bool = True,
    ) -> Store:
        """Open (and create or migrate) the store described by ``settings``.

        ``settings`` may be the whole :class:`Settings`, just its :class:`StoreOptions`, or
        None (``load_settings()``).  ``data_dir``/``database_url`` replace the
        configured values.  With ``recover``, calls left ``live`` by a process that died are
        marked ``interrupted`` and their audio archives repaired (in the writer thread).

        Raises
        ------
        StoreError
            The data directory cannot be created or written, is full, or the database
            cannot be opened or is newer than this program.  The message says which.
        """
        if settings is None:
            settings = load_settings()
        if isinstance(settings, Settings):
            options = settings.store
            resolve = settings.project_path
        else:
            options = settings
            resolve = Settings().project_path
        root = Path(data_dir) if data_dir is not None else resolve(options.data_dir)
        check_data_dir(root, min_free_mb=options.min_free_mb)
        url = default_database_url(database_url or options.database_url, root)
        engine = make_engine(url)
        write_engine = make_engine(url, immediate=True)
        try:
            migrate(write_engine)
        except sa.exc.SQLAlchemyError as exc:
            engine.dispose()
            write_engine.dispose()
            raise StoreError(f"cannot open the call database {describe_url(url)}: {exc}") from exc
        except StoreError:
            engine.dispose()
            write_engine.dispose()
            raise
        store = cls(
            engine=engine, write_engine=write_engine, data_dir=root, options=options, url=url
        )
        log.info("call store: %s, audio in %s", describe_url(url), store.audio_dir)
        if recover:
            store.recover()
        return store

    # -- recording ------------------------------------------------------------------------------

    def recorder(
        self,
        call_id: str | None = None,
        *,
        agent_id: str,
        source: str,
        meta: dict[str, Any] | None = None,
        started_at_ms: int | None = None,
        backpressure: bool = False,
    ) -> CallRecorder:
        """Start recording a call; returns its :class:`CallRecorder` (``.call_id``).

        ``call_id`` must match ``^[A-Za-z0-9_-]{1,64}$`` (a random one when None).
        ``backpressure=True`` makes the recorder wait for room in the write queue instead
        of dropping (for file analysis, never for live calls).

        Raises
        ------
        StoreError
            Invalid id, an id already being recorded, or a closed store.  An id that is
            already stored from an earlier run is refused by the writer (logged; the
            recorder then stores nothing).
        """
        call_id = validate_call_id(call_id) if call_id is not None else new_call_id()
        with self._lock:
            if self._closed:
                raise StoreError("the call store is closed")
            if call_id in self._open_ids:
                raise StoreError(f"call {call_id} is already being recorded")
            self._open_ids.add(call_id)
        self._writer.start()
        item = OpenCall(
            call_id=call_id,
            agent_id=agent_id,
            source=source,
            meta=dict(meta or {}),
            started_at_ms=started_at_ms if started_at_ms is not None else int(time.time() * 1000),
        )
        self._writer.put(item, essential=True, block=backpressure)
        return CallRecorder(
            self._writer,
            call_id,
            backpressure=backpressure,
            archive_audio=self.options.archive_audio,
            on_close=self._forget,
        )

    def _forget(self, call_id: str) -> None:
        with self._lock:
            self._open_ids.discard(call_id)

    def recover(self) -> list[str]:
        """Mark stale ``live`` calls ``interrupted``; queue their audio for repair."""
        with self._lock:
            exclude = set(self._open_ids)
        try:
            ids = mark_stale_calls(
                self._write_engine, stale_s=self.options.live_stale_s, exclude=exclude
            )
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot recover interrupted calls: {exc}") from exc
        to_repair = [cid for cid in ids if (self.audio_dir / f"{cid}.flac").exists()]
        if to_repair:
            self._writer.start()
            for cid in to_repair:
                self._writer.put(RepairAudio(cid), essential=True)
        c = schema.calls
        with self.engine.connect() as conn:
            others_live = conn.execute(
                sa.select(sa.func.count()).select_from(c).where(c.c.status == "live")
            ).scalar_one()
        if others_live:
            # live calls with a fresh heartbeat: another process, or one that died moments
            # ago; the writer's periodic sweep settles which once they go stale
            self._writer.start()
        if self.retention.enabled:
            self.sweep_retention()
            self._writer.start()  # it repeats the sweep every store.retention_sweep_interval_s
        return ids

    def mark_interrupted(self, call_ids: list[str], reason: str) -> list[str]:
        """Mark these ``live`` calls ``interrupted`` now (their process is known lost: a
        cluster gateway saw the worker's liveness key expire), without waiting for
        ``store.live_stale_s``; returns the ids this call changed.  Their audio is queued
        for repair.  A call not ``live`` (ended meanwhile, or claimed by another sweeper)
        is left alone."""
        if not call_ids:
            return []
        c = schema.calls
        try:
            with self._write_engine.begin() as conn:
                rows = conn.execute(
                    sa.update(c)
                    .where(c.c.id.in_(call_ids), c.c.status == "live")
                    .values(
                        status="interrupted", end_reason=reason, ended_at_ms=c.c.heartbeat_at_ms
                    )
                    .returning(c.c.id)
                ).all()
                ids = [r.id for r in rows]
                if ids:
                    conn.execute(summary_update(ids))
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot mark calls interrupted: {exc}") from exc
        if ids:
            log.warning(
                "store: marked %d call(s) interrupted (%s): %s", len(ids), reason, ", ".join(ids)
            )
            self._writer.start()
            for cid in ids:
                if (self.audio_dir / f"{cid}.flac").exists():
                    self._writer.put(RepairAudio(cid), essential=True)
        return ids

    # -- retention and deletion -----------------------------------------------------------------

    def sweep_retention(self, policy: RetentionPolicy | None = None) -> RetentionResult:
        """Delete expired calls and expired audio now (``policy``: the configured one).

        Raises
        ------
        StoreError
            The database refused the deletion.
        """
        with self._lock:
            exclude = set(self._open_ids)
        try:
            return retention_sweep(
                self._write_engine, self.audio_dir, policy or self.retention, exclude=exclude
            )
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"retention sweep failed: {exc}") from exc

    def delete_call(self, call_id: str) -> DeletedCall:
        """Delete one call everywhere (rows in every table, its FLAC); say what went.

        Raises
        ------
        CallNotFoundError
            No such call.
        CallLiveError
            The call is live (recorded by this process, or live by its row).
        StoreError
            The database refused the deletion.
        """
        with self._lock:
            recording = set(self._open_ids)
        try:
            return delete_call_everywhere(
                self._write_engine, self.audio_dir, call_id, recording=recording
            )
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot delete call {call_id}: {exc}") from exc

    # -- access audit and revoked tokens ---------------------------------------------------------

    def record_access(self, record: audit.AccessRecord) -> None:
        """Add one row to the access audit log (synchronous: call it from a worker thread)."""
        try:
            audit.record_access(self._write_engine, record)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot write the access audit log: {exc}") from exc

    def list_access(self, query: audit.AuditQuery) -> list[audit.AccessRecord]:
        """Audit rows, newest first."""
        try:
            return audit.list_access(self.engine, query)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read the access audit log: {exc}") from exc

    def revoke_token(self, token_id: str, *, reason: str = "") -> audit.RevokedToken:
        """Put a token id on the revocation list (servers refuse it within a few seconds)."""
        try:
            return audit.revoke_token(self._write_engine, token_id, reason=reason)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot revoke the token: {exc}") from exc

    def revoked_tokens(self) -> list[audit.RevokedToken]:
        try:
            return audit.revoked_tokens(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read the revocation list: {exc}") from exc

    def revoked_token_ids(self) -> frozenset[str]:
        try:
            return audit.revoked_token_ids(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read the revocation list: {exc}") from exc

    @property
    def failed_statements(self) -> int:
        """Statements the writer had to drop (each was logged)."""
        return self._writer.failed_statements

    def flush(self, timeout_s: float | None = 30.0) -> None:
        """Wait until everything recorded so far is committed (and audio flushed).

        Raises
        ------
        StoreError
            The writer did not catch up within ``timeout_s``.
        """
        if not self._writer.flush(timeout_s):
            raise StoreError(f"the store writer did not catch up within {timeout_s} s")

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush and stop the writer; calls still recording are marked ``interrupted``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._writer.stop(timeout_s)
        self.engine.dispose()
        self._write_engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
