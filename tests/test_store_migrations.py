"""Call store schema versions: created, stamped, upgraded step by step, never downgraded."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from voice_assist.config import StoreOptions
from voice_assist.store import Store, migrations
from voice_assist.store.database import make_engine


def _versions(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.text("select version from schema_version order by 1")).scalars()
        )


def test_fresh_database_is_created_and_stamped(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        names = set(sa.inspect(store.engine).get_table_names())
        assert {"calls", "utterances", "timeline", "waveform", "episodes", "prompts",
                "empathy", "events", "schema_version"} <= names  # fmt: skip
        assert _versions(store.engine) == [migrations.LATEST]
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:  # reopening changes nothing
        assert _versions(store.engine) == [migrations.LATEST]


def test_older_database_is_upgraded_in_order(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    engine = make_engine(url, immediate=True)
    assert migrations.migrate(engine) == 0  # created at version 1

    def add_note(conn: sa.Connection) -> None:
        conn.execute(sa.text("ALTER TABLE calls ADD COLUMN note TEXT"))

    def add_index(conn: sa.Connection) -> None:
        conn.execute(sa.text("CREATE INDEX ix_calls_note ON calls (note)"))

    steps = {**migrations.MIGRATIONS, 2: ("calls.note", add_note), 3: ("index", add_index)}
    monkeypatch.setattr(migrations, "MIGRATIONS", steps)
    monkeypatch.setattr(migrations, "LATEST", 3)
    assert migrations.migrate(engine) == 1
    assert _versions(engine) == [1, 2, 3]
    cols = {c["name"] for c in sa.inspect(engine).get_columns("calls")}
    assert "note" in cols
    assert migrations.migrate(engine) == 3  # nothing left to do
    engine.dispose()


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'calls.db'}", immediate=True)
    migrations.migrate(engine)

    def broken(conn: sa.Connection) -> None:
        conn.execute(sa.text("ALTER TABLE calls ADD COLUMN half TEXT"))
        raise RuntimeError("boom")

    monkeypatch.setattr(migrations, "MIGRATIONS", {**migrations.MIGRATIONS, 2: ("x", broken)})
    monkeypatch.setattr(migrations, "LATEST", 2)
    with pytest.raises(RuntimeError):
        migrations.migrate(engine)
    assert _versions(engine) == [1]
    assert "half" not in {c["name"] for c in sa.inspect(engine).get_columns("calls")}
    engine.dispose()
