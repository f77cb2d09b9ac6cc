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
    assert migrations.migrate(engine) == 0  # created at the current version
    base = migrations.LATEST

    def add_note(conn: sa.Connection) -> None:
        conn.execute(sa.text("ALTER TABLE calls ADD COLUMN note TEXT"))

    def add_index(conn: sa.Connection) -> None:
        conn.execute(sa.text("CREATE INDEX ix_calls_note ON calls (note)"))

    steps = {**migrations.MIGRATIONS, base + 1: ("calls.note", add_note),
             base + 2: ("index", add_index)}  # fmt: skip
    monkeypatch.setattr(migrations, "MIGRATIONS", steps)
    monkeypatch.setattr(migrations, "LATEST", base + 2)
    assert migrations.migrate(engine) == base
    assert _versions(engine) == [base, base + 1, base + 2]
    cols = {c["name"] for c in sa.inspect(engine).get_columns("calls")}
    assert "note" in cols
    assert migrations.migrate(engine) == base + 2  # nothing left to do
    engine.dispose()


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'calls.db'}", immediate=True)
    migrations.migrate(engine)

    def broken(conn: sa.Connection) -> None:
        conn.execute(sa.text("ALTER TABLE calls ADD COLUMN half TEXT"))
        raise RuntimeError("boom")

    base = migrations.LATEST
    monkeypatch.setattr(
        migrations, "MIGRATIONS", {**migrations.MIGRATIONS, base + 1: ("x", broken)}
    )
    monkeypatch.setattr(migrations, "LATEST", base + 1)
    with pytest.raises(RuntimeError):
        migrations.migrate(engine)
    assert _versions(engine) == [base]
    assert "half" not in {c["name"] for c in sa.inspect(engine).get_columns("calls")}
    engine.dispose()
