"""Call store: clear errors for an unusable data directory or database, and damaged
rows or audio that spoil one call and leave the others readable."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from voice_assist.config import StoreOptions
from voice_assist.errors import StoreError
from voice_assist.replay.synthetic import synthetic_call
from voice_assist.store import AudioArchiveError, CorruptCallError, Store

CHILD = textwrap.dedent(
    """
    import sys
    from voice_assist.config import StoreOptions
    from voice_assist.errors import StoreError
    from voice_assist.store import Store
    try:
        Store.open(StoreOptions(min_free_mb=int(sys.argv[2])), data_dir=sys.argv[1]).close()
    except StoreError as exc:
        print("STORE_ERROR:", exc)
        sys.exit(3)
    print("OPENED")
    """
)


def _in_private_mount(tmp_path: Path, mount: str, data_dir: str, min_free_mb: int = 0):
    """Run the child in its own mount namespace with a small tmpfs at tmp_path/mnt."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed: cannot make a read-only or full file system")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = f'{mount.format(mnt=mnt)} && exec {sys.executable} -c "$0" {data_dir} {min_free_mb}'
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {mnt} && umount {mnt}"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private tmpfs here: {probe.stderr.strip()}")
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, CHILD],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_read_only_data_dir_is_a_clear_start_up_error(tmp_path: Path) -> None:
    mount = (
        "mount -t tmpfs -o size=1m tmpfs {mnt} && mkdir -p {mnt}/data/audio "
        "&& mount -o remount,ro {mnt}"
    )
    proc = _in_private_mount(tmp_path, mount, str(tmp_path / "mnt" / "data"))
    assert proc.returncode == 3, proc.stderr
    assert "cannot be written: the file system is read-only" in proc.stdout


def test_read_only_parent_is_a_clear_start_up_error(tmp_path: Path) -> None:
    mount = "mount -t tmpfs -o ro,size=1m tmpfs {mnt}"
    proc = _in_private_mount(tmp_path, mount, str(tmp_path / "mnt" / "data"))
    assert proc.returncode == 3, proc.stderr
    assert "cannot create the data directory" in proc.stdout
    assert "read-only" in proc.stdout


def test_full_disk_is_a_clear_start_up_error(tmp_path: Path) -> None:
    mount = "mount -t tmpfs -o size=32k tmpfs {mnt}"
    proc = _in_private_mount(tmp_path, mount, str(tmp_path / "mnt" / "data"))
    assert proc.returncode == 3, proc.stderr
    assert "the disk is full" in proc.stdout


def test_too_little_free_space_is_a_clear_start_up_error(tmp_path: Path) -> None:
    mount = "mount -t tmpfs -o size=1m tmpfs {mnt}"
    proc = _in_private_mount(tmp_path, mount, str(tmp_path / "mnt" / "data"), min_free_mb=64)
    assert proc.returncode == 3, proc.stderr
    assert "MiB free" in proc.stdout and "store.min_free_mb" in proc.stdout


def test_min_free_space_on_the_real_disk(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="MiB free"):
        Store.open(StoreOptions(min_free_mb=1 << 40), data_dir=tmp_path)


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="cannot create the data directory"):
        Store.open(StoreOptions(), data_dir=f)


def test_garbage_database_file(tmp_path: Path) -> None:
    (tmp_path / "calls.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the call database"):
        Store.open(StoreOptions(), data_dir=tmp_path)


def test_bad_and_unreachable_database_urls(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        Store.open(StoreOptions(database_url="::nope::"), data_dir=tmp_path)
    url = "postgresql+psycopg://u:secret@127.0.0.1:1/db"
    with pytest.raises(StoreError, match="cannot open the call database") as info:
        Store.open(StoreOptions(database_url=url), data_dir=tmp_path)
    assert "secret" not in str(info.value)


def _two_calls(store: Store) -> None:
    for cid in ("good", "bad"):
        rec = store.recorder(cid, agent_id="a", source="file", backpressure=True)
        synthetic_call(rec, call_id=cid, duration_s=12, seed=2, episode_every_s=10)
        rec.close()
    store.flush()


def test_damaged_row_spoils_only_its_call(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        _two_calls(store)
    con = sqlite3.connect(tmp_path / "calls.db")
    con.execute("UPDATE calls SET meta = '{broken' WHERE id = 'bad'")
    con.execute("UPDATE utterances SET words = 'nope' WHERE call_id = 'bad'")
    con.commit()
    con.close()
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        listing = {c.call_id: c for c in store.list_calls().calls}
        assert listing["good"].error is None
        assert listing["bad"].error is not None and "meta is not valid JSON" in listing["bad"].error
        with pytest.raises(CorruptCallError, match="stored call bad"):
            store.get_call("bad")
        with pytest.raises(CorruptCallError, match="words"):
            store.transcript("bad")
        assert store.get_call("good").status == "ended"
        assert store.transcript("good")


def test_damaged_number_column(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        _two_calls(store)
        with store._write_engine.begin() as conn:
            conn.execute(sa.text("UPDATE calls SET duration_ms = 'long' WHERE id = 'bad'"))
        with pytest.raises(CorruptCallError, match="duration_ms"):
            store.get_call("bad")
        assert store.get_call("good").duration_ms == 12000


def test_damaged_audio_spoils_only_its_call(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path) as store:
        _two_calls(store)
        path = store.audio_path("bad")
        path.write_bytes(b"fLaC" + bytes(np.random.default_rng(0).integers(0, 255, 4000)))
        with pytest.raises(AudioArchiveError) as info:
            store.audio_path("bad")
        assert info.value.code == "audio_damaged"
        assert store.audio_path("good").exists()
        (tmp_path / "audio" / "good.flac").unlink()
        with pytest.raises(AudioArchiveError) as info:
            store.audio_path("good")
        assert info.value.code == "audio_missing"


def test_newer_schema_and_foreign_database(tmp_path: Path) -> None:
    with Store.open(StoreOptions(), data_dir=tmp_path / "a"):
        pass
    con = sqlite3.connect(tmp_path / "a" / "calls.db")
    con.execute("INSERT INTO schema_version VALUES (99, 'future', 0)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 99, newer"):
        Store.open(StoreOptions(), data_dir=tmp_path / "a")

    (tmp_path / "b").mkdir()
    con = sqlite3.connect(tmp_path / "b" / "calls.db")
    con.execute("CREATE TABLE calls (id TEXT)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not made by voice_assist"):
        Store.open(StoreOptions(), data_dir=tmp_path / "b")
