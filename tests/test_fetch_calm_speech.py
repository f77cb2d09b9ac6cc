"""scripts/fetch_calm_speech.py without the network: Debian packages, globs, pinned counts."""

from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

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
    assert len(debs) == 6 and len({a.sha256 for a in debs}) == 6
    for a in debs:
        assert len(a.sha256) == 64 and a.deb_pool.endswith("_all.deb")
        # the pool file names the package and its version (a Debian epoch is not in it)
        assert a.deb_pool.rsplit("/", 1)[-1].startswith(f"{a.package}_{a.version.split(':')[-1]}")
    speakers = {(p.speaker, p.language) for a in debs for p in a.picks}
    assert len(speakers) == 6  # one voice per package, each with its language


def _float_wav(x: np.ndarray, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), rate, subtype="FLOAT", format="WAV")
    return buf.getvalue()


def test_quiet_floating_point_speech_keeps_its_samples_when_cut() -> None:
    # libsndfile truncates floats read as int16, so quiet float audio (the AMI excerpts,
    # peak 0.08) once came out as digital silence
    t = np.arange(16000) / 16000
    x = 0.05 * np.sin(2 * np.pi * 220 * t)
    cut = fcs.pcm16(fcs.frs.to_wav("a.wav", _float_wav(x), (0.25, 0.75)))
    pcm, rate = sf.read(io.BytesIO(cut), dtype="int16")
    assert rate == 16000 and pcm.size == 8000
    assert np.abs(pcm).max() == pytest.approx(0.05 * 32767, rel=0.01)
    whole = fcs.pcm16(_float_wav(x))
    assert sf.info(io.BytesIO(whole)).subtype == "PCM_16"
    assert np.abs(sf.read(io.BytesIO(whole), dtype="int16")[0]).max() > 1000


def test_floats_beyond_full_scale_clip_rather_than_wrap() -> None:
    pcm, _ = fcs.frs.read_int16(_float_wav(np.array([1.5, -1.5, 0.5])))
    assert pcm.tolist() == [32767, -32768, 16384]


def test_a_fetch_of_an_older_format_is_not_current(tmp_path: Path) -> None:
    assert not fcs.is_current(tmp_path)
    (tmp_path / fcs.MANIFEST).write_text("file\n", encoding="utf-8")
    assert not fcs.is_current(tmp_path)  # format 1 wrote no stamp
    (tmp_path / fcs.STAMP).write_text("1\n", encoding="utf-8")
    assert not fcs.is_current(tmp_path)
    (tmp_path / fcs.STAMP).write_text(fcs.FETCH_FORMAT + "\n", encoding="utf-8")
    assert fcs.is_current(tmp_path)
