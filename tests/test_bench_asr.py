"""The ASR benchmark's corpora and scoring, without the model, ../shared or downloads."""

from __future__ import annotations

import argparse
import importlib.util
import io
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

from benchmarks import asr

ROOT = Path(__file__).resolve().parent.parent
FETCH_SCRIPT = ROOT / "scripts" / "fetch_real_speech.py"
EMODB_RATE_HZ = 22050


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16) + 1  # never exactly 0


def _write_emodb_clip(path: Path, speech_s: float, tail: np.ndarray | None = None) -> None:
    """A 2.0 s clip as in the dev set: speech, then ``tail`` (or speech cut at 2.0 s)."""
    x = _tone(2.0, EMODB_RATE_HZ)
    if tail is not None:
        n = int(speech_s * EMODB_RATE_HZ)
        x[n:] = tail[: x.size - n] if tail.size else 0
    sf.write(path, x, EMODB_RATE_HZ, subtype="PCM_16")


def test_complete_clips_keep_only_zero_padded_emodb_clips(tmp_path: Path) -> None:
    padded = tmp_path / "03a01Fa.wav"  # speech ends at 1.5 s, exact zeros to 2.0 s
    _write_emodb_clip(padded, 1.5, np.zeros(0, np.int16))
    cut = tmp_path / "03a02Nc.wav"  # speech runs to the last sample
    _write_emodb_clip(cut, 2.0)
    quiet = tmp_path / "03a04Wa.wav"  # near-silent noise at the end is not padding
    _write_emodb_clip(quiet, 1.5, np.ones(EMODB_RATE_HZ, np.int16))
    short = tmp_path / "03a05Wa.wav"  # 5 ms of zeros: shorter than the 10 ms minimum
    x = _tone(2.0, EMODB_RATE_HZ)
    x[-int(0.005 * EMODB_RATE_HZ) :] = 0
    sf.write(short, x, EMODB_RATE_HZ, subtype="PCM_16")

    assert asr.complete_clips([padded, cut, quiet, short]) == [padded]

    corpus = asr.emodb_corpus(tmp_path)
    assert corpus is not None
    assert corpus.name == "emodb_de_real_complete" and corpus.language == "de"
    assert corpus.clips == 1
    assert corpus.references == [asr.EMODB_TEXT["a01"]]
    gap = int(asr.CLIP_GAP_S * 16000)
    assert corpus.legs["customer"].size == 2 * gap + 32000
    assert [f.size for f in corpus.files] == [32000]


def test_emodb_corpus_absent_without_folder(tmp_path: Path) -> None:
    assert asr.emodb_corpus(tmp_path / "missing") is None


def test_manifest_clips_join_in_order_as_the_customer_leg(tmp_path: Path) -> None:
    rate = 16000
    sf.write(tmp_path / "b.wav", _tone(0.5, rate), rate, subtype="PCM_16")
    sf.write(tmp_path / "a.wav", _tone(0.25, rate), rate, subtype="PCM_16")
    (tmp_path / "manifest.tsv").write_text(
        "file\tsource\tlicence\ttranscript\n"
        "b.wav\tpkg==1 sdist: b.wav\tMIT\tgo forward ten meters\n"
        'a.wav\tpkg==1 sdist: a.wav\tMIT\t"ask not," he said\n',
        encoding="utf-8",
    )

    clips = asr.read_manifest(tmp_path)
    assert clips == [
        asr.ManifestClip(tmp_path / "b.wav", "go forward ten meters"),
        asr.ManifestClip(tmp_path / "a.wav", '"ask not," he said'),
    ]
    corpus = asr.real_en_corpus(tmp_path)
    assert corpus is not None
    assert corpus.name == "real_en_read" and corpus.language == "en"
    assert list(corpus.legs) == ["customer"]
    assert corpus.references == ["go forward ten meters", '"ask not," he said']
    gap = int(asr.CLIP_GAP_S * rate)
    leg = corpus.legs["customer"]
    assert leg.size == 3 * gap + 8000 + 4000
    assert not leg[:gap].any() and leg[gap : gap + 8000].any()
    assert [f.size for f in corpus.files] == [8000, 4000]  # the recordings, one by one


def test_real_en_corpus_absent_without_manifest(tmp_path: Path) -> None:
    assert asr.read_manifest(tmp_path) is None
    assert asr.real_en_corpus(tmp_path) is None


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        ("Yes, it is four five two seven nine one.", "Yes, it's 452791."),
        ("four five two", "452"),
        ("go forward ten meters", "Go forward 10 metres."),
        ("he was not an ill disposed young man", "He wasn't an ill-disposed young man."),
    ],
)
def test_english_normaliser_forgives_format(reference: str, hypothesis: str) -> None:
    assert asr.wer([reference], [hypothesis], language="en") == 0.0


def test_wrong_words_still_count() -> None:
    assert asr.wer(["go forward ten meters"], ["go backward ten meters"], language="en") == 0.25
    assert asr.wer(["four five two"], ["four five three"], language="en") == 1.0  # one number
    assert asr.wer(["he was not"], ["he was not"], language="en") == 0.0
    assert asr.wer(["he was not"], [], language="en") == 1.0


def test_pieces_are_normalised_one_by_one() -> None:
    # joined, the number rules would read "five five eight" of two clips as "558"
    refs = ["five five", "eight of spades"]
    assert asr.ref_words(refs, "en") == 4
    assert asr.wer(refs, ["55.", "8 of spades"], language="en") == 0.0
    assert asr.ref_words(["Yes, it is four five two seven nine one."], "en") == 4


def test_basic_normaliser_for_other_languages() -> None:
    ref = [asr.EMODB_TEXT["b01"]]
    hyp = "was sind denn das für tüten die da unter dem tisch stehen"
    assert asr.wer(ref, [hyp], language="de") == 0.0
    hyp = "Was sind denn das für Tüten, die da unter dem Tisch sehen?"
    assert asr.wer(ref, [hyp], language="de") == pytest.approx(1 / 12)
    assert asr.ref_words(ref, "de") == 12


def _load_fetch_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_real_speech", FETCH_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fetch_script_help_runs_without_network() -> None:
    out = subprocess.run(
        [sys.executable, str(FETCH_SCRIPT), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "--dest" in out and "real_en" in out


def test_fetch_script_reads_sphinx_transcriptions() -> None:
    fetch = _load_fetch_script()
    text = "<s> ten of clubs  </s> (001)\n<s> five five  </s> (004)\n"
    assert fetch.parse_sphinx_transcription(text) == {"001": "ten of clubs", "004": "five five"}
    assert all(len(s.sha256) == 64 for s in fetch.SOURCES)


def test_fetch_script_picks_text_lines_and_cuts_spans() -> None:
    fetch = _load_fetch_script()
    text = "1\nFrom fairest creatures we desire increase,\n  That thereby  beauty's rose\n"
    assert fetch.pick_lines(text, 2, 3) == (
        "From fairest creatures we desire increase, That thereby beauty's rose"
    )
    with pytest.raises(fetch.FetchError):
        fetch.pick_lines(text, 3, 4)
    flac = io.BytesIO()
    sf.write(flac, np.arange(16000, dtype=np.int16), 16000, format="FLAC")
    wav = fetch.to_wav("clip.flac", flac.getvalue(), (0.25, 0.75))
    data, rate = sf.read(io.BytesIO(wav), dtype="int16")
    assert sf.info(io.BytesIO(wav)).format == "WAV" and rate == 16000
    assert data.tolist() == list(range(4000, 12000))


def test_fetch_script_reads_table_rows_and_json_fields() -> None:
    fetch = _load_fetch_script()
    metadata = "LJ001-0001|Raw 1455 text|Raw fourteen fifty-five  text\nLJ001-0002|b|c\n"
    assert fetch.pick_field(metadata, "LJ001-0001", 2, "|") == "Raw fourteen fifty-five text"
    with pytest.raises(fetch.FetchError, match="no row"):
        fetch.pick_field(metadata, "LJ001-0003", 2, "|")
    with pytest.raises(fetch.FetchError, match="columns"):
        fetch.pick_field(metadata, "LJ001-0002", 5, "|")
    annotation = '{"example1": {"transcription": "The birch  canoe", "duration": 3.2}}'
    assert fetch.pick_json(annotation, "example1", "transcription") == "The birch canoe"
    for key, name in [("example2", "transcription"), ("example1", "label")]:
        with pytest.raises(fetch.FetchError, match="no "):
            fetch.pick_json(annotation, key, name)
    with pytest.raises(fetch.FetchError, match="not text"):
        fetch.pick_json(annotation, "example1", "duration")
    with pytest.raises(fetch.FetchError, match="JSON"):
        fetch.pick_json("{not json", "example1", "transcription")
    outs = [clip.out for source in fetch.SOURCES for clip in source.clips]
    assert len(outs) == len(set(outs))  # no clip overwrites another


def test_gap_interval_is_centred_on_the_corpus_gap() -> None:
    refs = ["the cat sat on the mat", "ten of clubs", "go forward ten meters"]
    stream = ["the cat sat on a mat", "ten of", "clubs go forward ten meters please"]
    offline = ["the cat sat on the mat", "10 of clubs", "go forward 10 meters"]
    gap = 100 * (asr.wer(refs, stream, language="en") - asr.wer(refs, offline, language="en"))
    figures = asr.gap_by_clip(refs, stream, offline, language="en")
    low, high = figures["gap_ci95_points"]
    # "a" for "the", and "please" inserted; a final cut mid-clip costs nothing
    assert gap == pytest.approx(100 * 2 / 13)
    assert low <= round(gap, 1) <= high
    same = asr.gap_by_clip(refs, offline, offline, language="en")
    assert same["gap_ci95_points"] == [0.0, 0.0]


def test_capacity_steps_default_and_explicit() -> None:
    assert asr.default_capacity_steps(8) == [1, 2, 3, 4, 6, 8]
    assert asr.default_capacity_steps(3) == [1, 2, 3]
    parser = argparse.ArgumentParser()
    asr.add_arguments(parser)
    assert parser.parse_args(["--capacity-steps", "1,8,16,32"]).capacity_steps == [1, 8, 16, 32]
    assert parser.parse_args([]).capacity_steps is None
    for bad in ["8,4", "0,2", "1,x", "", "2,2"]:
        with pytest.raises(SystemExit):
            parser.parse_args(["--capacity-steps", bad])
