"""scripts/fetch_calm_speech.py without the network: Debian packages, globs, pinned counts."""

from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def _load() -> ModuleType:
    sys.path.insert(0, str(SCRIPTS))  # it imports fetch_real_speech beside it
    spec = importlib.util.spec_from_file_location(
        "fetch_calm_speech", SCRIPTS / "fetch_calm_speech.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fcs = _load()


def ar_member(name: str, body: bytes) -> bytes:
    header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode()
    assert len(header) == 60
    return header + body + (b"\n" if len(body) % 2 else b"")


def data_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tf:
        for name, body in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def deb(files: dict[str, bytes]) -> bytes:
    return (
        b"!<arch>\n"
        + ar_member("debian-binary", b"2.0\n")
        + ar_member("control.tar.xz", data_tar({"control": b"Package: x\n"}))
        + ar_member("data.tar.xz", data_tar(files))
    )


def test_a_debian_package_opens_to_its_data_members(tmp_path: Path) -> None:
    path = tmp_path / "x.deb"
    path.write_bytes(deb({"usr/share/a/one.wav": b"RIFF1", "usr/share/a/sub/two.wav": b"RIFF2"}))
    with fcs.open_deb(path) as (names, read):
        assert names == ["usr/share/a/one.wav", "usr/share/a/sub/two.wav"]
        assert read("usr/share/a/sub/two.wav") == b"RIFF2"
        with pytest.raises(fcs.FetchError, match="no file"):
            read("usr/share/a/three.wav")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"PK\x03\x04 a zip, not a deb", "not a Debian package"),
        (b"!<arch>\n" + ar_member("debian-binary", b"2.0\n"), "no data.tar member"),
        (b"!<arch>\n" + ar_member("data.tar.xz", b"not xz at all"), "unreadable data.tar.xz"),
        (b"!<arch>\n" + ar_member("data.tar.xz", b"0123456789")[:-4], "truncated"),
        (b"!<arch>\n" + b"data.tar.xz/    " + b"x" * 32 + b"size?     `\n", "corrupt ar header"),
    ],
)
def test_a_malformed_debian_package_is_a_clear_error(blob: bytes, message: str) -> None:
    with pytest.raises(fcs.FetchError, match=message):
        fcs.deb_data(blob, "bad.deb")


def test_globs_match_folder_by_folder() -> None:
    assert fcs.glob_match("s/Allison/intro.wav", "s/Allison/*.wav")
    assert not fcs.glob_match("s/Allison/digits/1.wav", "s/Allison/*.wav")  # a subfolder
    assert fcs.glob_match("s/Allison/digits/1.wav", "s/Allison/*/*.wav")


def test_a_pick_counts_members_after_the_length_filter() -> None:
    names = ["a/long.wav", "a/short.wav", "a/effect.wav", "a/sub/long2.wav"]
    seconds = {"a/long.wav": 4.0, "a/short.wav": 0.8, "a/effect.wav": 6.0, "a/sub/long2.wav": 9.0}
    pick = fcs.Pick("a/*.wav", "k", "spk", "CC0", exclude=("effect",), min_s=2.5, count=1)
    archive = fcs.Archive("pkg", "1", "0" * 64, (pick,))
    takes = fcs.expand(archive, names, lambda m: "", seconds.__getitem__)
    assert [t.member for t in takes] == ["a/long.wav"]
    wrong = fcs.Archive("pkg", "1", "0" * 64, (fcs.Pick("a/*.wav", "k", "s", "CC0", count=3),))
    with pytest.raises(fcs.FetchError, match="matched 2 members, pinned 3"):
        fcs.expand(wrong, names[:2], lambda m: "", seconds.__getitem__)


def test_the_debian_source_is_pinned() -> None:
    debs = [a for a in fcs.ARCHIVES if a.deb_pool]
    assert [a.package for a in debs] == ["asterisk-core-sounds-en-wav"]
    assert all(len(a.sha256) == 64 and a.deb_pool.endswith(".deb") for a in debs)
