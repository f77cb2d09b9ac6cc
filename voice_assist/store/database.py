"""Engines and the data directory: SQLite (WAL) by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from voice_assist.errors import StoreError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30000


def check_data_dir(path: Path, *, min_free_mb: int) -> None:
    """Create ``path`` (and ``path/audio``) and prove it can be written.

    Raises
    ------
    StoreError
        The directory cannot be created, is read-only, is not writable, or has less
        than ``min_free_mb`` MiB free.  The message names the directory and the cause.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / "audio").mkdir(exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data directory {path}: {_why(exc)}") from exc
    probe = path / f".write-probe-{os.getpid()}"
    try:
        with probe.open("wb") as fh:
            fh.write(b"\0" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StoreError(f"the data directory {path} cannot be written: {_why(exc)}") from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
    free_mb = shutil.disk_usage(path).free // (1 << 20)
    if free_mb < min_free_mb:
        raise StoreError(
            f"the data directory {path} has only {free_mb} MiB free, less than "
            f"store.min_free_mb = {min_free_mb}: free some space or point store.data_dir "
            "(VOICE_ASSIST_DATA_DIR) elsewhere"
        )


def _why(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOTDIR or exc.errno == errno.EEXIST:
        return "a path component is not a directory"
    return exc.strerror or str(exc)


def database_url(url: str, data_dir: Path) -> str:
    """The configured URL, or the default SQLite file ``<data_dir>/calls.db``."""
    return url or f"sqlite:///{data_dir / 'calls.db'}"


def make_engine(url: str, *, immediate: bool = False) -> sa.Engine:
    """A SQLAlchemy engine for ``url``; SQLite gets WAL and explicit transactions.

    ``immediate``: SQLite write transactions start with ``BEGIN IMMEDIATE`` so two
    processes sharing the file wait for each other (busy timeout) instead of failing.
    """
    try:
        sa_url = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"store.database_url is not a database URL: {exc}") from exc
    if sa_url.get_backend_name() != "sqlite":
        try:
            return sa.create_engine(sa_url, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot use store.database_url {sa_url!r}: {exc}") from exc

    engine = sa.create_engine(
        sa_url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite (it does not BEGIN before DDL).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")  # durable against a killed process
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA secure_delete = ON")  # a deleted call's pages are zeroed
        finally:
            cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def describe_url(url: str) -> str:
    """The URL with any password hidden, for logs and error messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid url>"
