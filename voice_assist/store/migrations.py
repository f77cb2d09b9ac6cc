"""Schema versions: a small migration table of our own.

Why not alembic: the schema is one module of SQLAlchemy Core tables, the store must
migrate itself at start-up with no ini file or script directory shipped beside the
package, and every migration so far is additive.  A table ``schema_version`` records
each applied version; :data:`MIGRATIONS` maps a version to a function that brings the
previous version up to it.  A fresh database is created from the current
:data:`~voice_assist.store.schema.metadata` and stamped with :data:`LATEST`
(what alembic's documentation recommends too), so a migration function only ever runs
against a database made by an older release.  The transcript search index is the one
object outside the metadata (FTS5 on SQLite, a GIN expression index on PostgreSQL):
:func:`voice_assist.store.search.install` creates it beside ``create_all``.

To change the schema: edit :mod:`~voice_assist.store.schema`, add ``N+1`` to
:data:`MIGRATIONS` with the ``ALTER``/``CREATE`` that turns version ``N`` into it
(SQLAlchemy Core constructs, so it runs on SQLite and PostgreSQL), and add a test that
upgrades a version-``N`` database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy as sa

from voice_assist.errors import StoreError
from voice_assist.store import schema, search
from voice_assist.store.summary import summary_update

log = logging.getLogger(__name__)

Migration = Callable[[sa.Connection], None]


def _v2_call_figures(conn: sa.Connection) -> None:
    """Per-call figures on ``calls`` (indexed), filled for every stored call; transcript search."""
    existing = {col["name"] for col in sa.inspect(conn).get_columns(schema.calls.name)}
    for name in schema.SUMMARY_COLUMNS:
        if name in existing:
            continue
        col = schema.calls.c[name]
        kind = col.type.compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE {schema.calls.name} ADD COLUMN {name} {kind}"))
    have = {ix["name"] for ix in sa.inspect(conn).get_indexes(schema.calls.name)}
    for index in schema.calls.indexes:
        if index.name not in have:
            index.create(conn)
    conn.execute(summary_update(None))
    search.install(conn)


def _v3_access_audit(conn: sa.Connection) -> None:
    """The access audit log and the token revocation list (new tables, nothing to fill)."""
    for table in schema.AUDIT_TABLES:
        table.create(conn, checkfirst=True)


MIGRATIONS: dict[int, tuple[str, Migration | None]] = {
    1: ("initial schema: calls, utterances, timeline, waveform, episodes, prompts, events", None),
    2: ("per-call figures on calls (episodes, prompts, script, talk); transcript search",
        _v2_call_figures),
    3: ("access audit log and token revocation list", _v3_access_audit),
}  # fmt: skip
"""version -> (description, upgrade from version-1).  Version 1 has no upgrade step."""

LATEST = max(MIGRATIONS)


def current_version(conn: sa.Connection) -> int | None:
    """The schema version of the database, or None when it has no voice_assist tables."""
    names = set(sa.inspect(conn).get_table_names())
    if schema.schema_version.name not in names:
        if schema.calls.name in names:
            raise StoreError(
                "the database has a 'calls' table but no 'schema_version' table: "
                "it was not made by voice_assist; point store.database_url elsewhere"
            )
        return None
    version = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
    return int(version) if version is not None else None


def migrate(engine: sa.Engine) -> int:
    """Create or upgrade the schema to :data:`LATEST`; return the version found before.

    Runs in one transaction (DDL is transactional on both SQLite and PostgreSQL).

    Raises
    ------
    StoreError
        The database is newer than this program, or is not a voice_assist database.
    """
    with engine.begin() as conn:
        found = current_version(conn)
        now_ms = int(time.time() * 1000)
        if found is None:
            schema.metadata.create_all(conn)
            search.install(conn)  # dialect-specific: not in the metadata
            conn.execute(
                schema.schema_version.insert(),
                [{"version": LATEST, "description": "created", "applied_at_ms": now_ms}],
            )
            log.info("created call store schema version %d", LATEST)
            return 0
        if found > LATEST:
            raise StoreError(
                f"the call database has schema version {found}, newer than this voice_assist "
                f"(version {LATEST}); upgrade voice_assist or use another database"
            )
        for version in range(found + 1, LATEST + 1):
            description, step = MIGRATIONS[version]
            if step is not None:
                step(conn)
            conn.execute(
                schema.schema_version.insert(),
                [{"version": version, "description": description, "applied_at_ms": now_ms}],
            )
            log.info("migrated call store schema to version %d: %s", version, description)
        return found
